"""The package's layering, as docs/architecture.md draws it: named layers anyone can draw.

core at the bottom, protocol on it, server and client side by side on protocol, kits on
both, and the package's face on top. A module imports only from the layers below its own
(function-level imports included); server and client never import each other. Inside a
layer the modules still stand in steps, bottom up, and a module imports only from the steps
below its own, so there is no import cycle (the twins ``_core``/``_core_py`` share a step:
neither imports the other). A subpackage's modules are named with a dot (``_client._base``),
its ``__init__`` by the subpackage's name (``_client``)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fastevents"

#: Each named layer's modules, in steps, bottom up.
LAYERS: dict[str, list[set[str]]] = {
    # The event's data and the hot path: the codec, errors, the current event, the twins.
    "core": [
        {"_switch", "_version", "_wire", "_context", "_sync"},
        {"_errors"},
        {"_answers"},
        {"_core_py", "_core"},
        {"_impl"},
        {"_model"},
    ],
    # An event service without a server: registration, the processor (bytes in, bytes out),
    # the catalogue and its OpenAPI document, and the HTTP and NATS plumbing both sides share.
    "protocol": [
        {"_http", "_nats", "_openapi", "_compose", "_observe", "_logfilter"},
        {"_catalogue", "_builder"},
        {"_router"},
        {"_processor", "_target"},
    ],
    # Serving: the ASGI app, `fastevents serve` (the `_server` subpackage), NATS serving.
    "server": [
        {"_limits", "_server._uvicorn_contract", "_asgi", "_nats_serve"},
        {"_server._direct", "_server._config"},
        {"_server._protocol", "_server._manager"},
        {"_server._run"},
        {"_server"},
    ],
    # Sending: the `_client` subpackage.
    "client": [
        {"_client._sync_transport", "_client._base"},
        {"_client._httpx", "_client._aiohttp"},
        {"_client._clients"},
        {"_client"},
    ],
    # What is built on both sides: the testing and conformance kits, the old package's API,
    # OpenTelemetry, NATS (client and server), the typed clients' generator, the command line.
    "kits": [
        {"_codegen", "_conformance", "testing", "compat", "otel", "nats"},
        {"_cli"},
    ],
    # The package's face: the public names, `python -m fastevents`, the pytest plugin.
    "face": [
        {"__init__", "__main__", "_pytest_plugin"},
    ],
}
#: How the layers stack, bottom up: the layers of one floor stand side by side.
FLOORS: list[set[str]] = [{"core"}, {"protocol"}, {"server", "client"}, {"kits"}, {"face"}]
FLOOR_OF = {layer: i for i, floor in enumerate(FLOORS) for layer in floor}
PLACE = {name: (layer, step) for layer, steps in LAYERS.items() for step, names in enumerate(steps) for name in names}


def _pyx_imports(text: str) -> set[str]:
    # Cython is no Python to ast: its imports are plain "from .x import" / "from . import x" lines.
    found = set(re.findall(r"^\s*from \.(\w+) c?import", text, re.MULTILINE))
    for names in re.findall(r"^\s*from \. c?import ([\w, ]+)", text, re.MULTILINE):
        found.update(n.strip() for n in names.split(","))
    found.update(re.findall(r"^\s*(?:from|import) fastevents\.(\w+)", text, re.MULTILINE))
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    # Every node but those under ``if TYPE_CHECKING:`` (annotations only, never run).
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()  # a subpackage's __init__ is the subpackage
    return ".".join(parts)


MODULES = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx") and "__pycache__" not in p.parts)
KNOWN = {_module_name(p) for p in MODULES}


def _known(parts: list[str]) -> str:
    """The module ``parts`` names: the longest known prefix (``_client._base.X`` is ``_client._base``)."""
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in KNOWN:
            return name
    return ".".join(parts) or "__init__"


def _package_imports(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".pyx":
        return _pyx_imports(text)
    package = list(path.relative_to(PACKAGE).parts[:-1])  # the subpackage a module sits in, if any
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    found.add(_known(base + node.module.split(".")))
                else:
                    found.update(_known([*base, alias.name]) for alias in node.names)
            elif node.module and node.module.split(".")[0] == "fastevents":
                found.add(_known(node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fastevents":
                    found.add(_known(parts[1:]))
    return found


def _file(name: str) -> str:
    """The module's file, as a reader finds it: ``fastevents/_client/_base.py``."""
    return str(next(p for p in MODULES if _module_name(p) == name).relative_to(ROOT))


def _dotted(name: str) -> str:
    return "fastevents" if name == "__init__" else f"fastevents.{name}"


def _problem(name: str, found: str) -> str | None:
    """Why ``name`` may not import ``found``, or None if it may."""
    layer, step = PLACE[name]
    if found not in PLACE:
        return f"{_file(name)} ({layer}) imports {_dotted(found)}, which has no layer"
    other, other_step = PLACE[found]
    if other == layer:
        if other_step < step:
            return None
        return (
            f"{_file(name)} ({layer}, step {step + 1}) imports {_dotted(found)} ({layer}, step {other_step + 1}): "
            "inside a layer, a module imports only from the steps below its own"
        )
    if FLOOR_OF[other] < FLOOR_OF[layer]:
        return None
    if FLOOR_OF[other] == FLOOR_OF[layer]:
        return (
            f"{_file(name)} ({layer}) imports {_dotted(found)} ({other}): "
            f"{layer} and {other} stand side by side and never import each other"
        )
    return f"{_file(name)} ({layer}) imports {_dotted(found)} ({other}): a layer imports only from the layers below it"


def test_every_module_is_placed_in_exactly_one_layer() -> None:
    placed = Counter(name for steps in LAYERS.values() for names in steps for name in names)
    assert sorted(KNOWN - placed.keys()) == [], "modules without a layer"
    assert sorted(placed.keys() - KNOWN) == [], "layers name modules that do not exist"
    assert sorted(name for name, count in placed.items() if count > 1) == [], "modules placed twice"
    assert set(LAYERS) == {layer for floor in FLOORS for layer in floor}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_import_only_from_layers_below(path: Path) -> None:
    name = _module_name(path)
    problems = sorted(filter(None, (_problem(name, found) for found in _package_imports(path))))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("name", "found", "expected"),
    [
        ("_client._base", "_asgi", "fastevents/_client/_base.py (client) imports fastevents._asgi (server): "),
        ("_asgi", "_client", "fastevents/_asgi.py (server) imports fastevents._client (client): "),
        ("_router", "testing", "fastevents/_router.py (protocol) imports fastevents.testing (kits): "),
        ("_wire", "__init__", "fastevents/_wire.py (core) imports fastevents (face): "),
        ("_core", "_core_py", "fastevents/_core.pyx (core, step 4) imports fastevents._core_py (core, step 4): "),
        (
            "_router",
            "_processor",
            "fastevents/_router.py (protocol, step 3) imports fastevents._processor (protocol, step 4)",
        ),
    ],
)
def test_a_forbidden_import_is_named_by_its_layers(name: str, found: str, expected: str) -> None:
    # The checker itself: each kind of wrong import is refused, in the layers' names.
    problem = _problem(name, found)
    assert problem is not None and problem.startswith(expected), problem


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("_client._base", "_wire"),
        ("_asgi", "_processor"),
        ("testing", "_client"),
        ("__main__", "_cli"),
        ("_impl", "_core"),
    ],
)
def test_an_import_from_below_is_allowed(name: str, found: str) -> None:
    assert _problem(name, found) is None


def _drawn_layers() -> dict[str, set[str]]:
    """docs/architecture.md's tables: each ``### <layer>`` heading's files, as module names."""
    drawn: dict[str, set[str]] = {}
    layer = None
    for line in (ROOT / "docs/architecture.md").read_text(encoding="utf-8").splitlines():
        heading = re.match(r"### (\w+)$", line)
        if heading:
            layer = heading.group(1)
            drawn[layer] = set()
        elif layer and line.startswith("|"):
            files = re.findall(r"`(fastevents/[\w/]+\.pyx?)`", line.split("|")[1])
            drawn[layer].update(_module_name(ROOT / f) for f in files)
        elif line.startswith("## "):
            layer = None
    return drawn


def test_the_architecture_page_draws_these_layers() -> None:
    # The reader's picture is this test's: every layer, every module in its own layer.
    drawn = _drawn_layers()
    assert {layer: sorted(names) for layer, names in drawn.items()} == {
        layer: sorted(set().union(*steps)) for layer, steps in LAYERS.items()
    }


def test_subpackage_imports_are_resolved_to_their_modules() -> None:
    # The checker itself: relative imports inside a subpackage name the right modules.
    imports = _package_imports(PACKAGE / "_client" / "__init__.py")
    assert "_client._base" in imports and "_client" not in imports
    assert "_errors" in _package_imports(PACKAGE / "_client" / "_base.py")


def _third_party_imports(path: Path) -> set[str]:
    if path.suffix == ".pyx":
        return set(re.findall(r"^\s*(?:from|import) (\w+)", path.read_text(encoding="utf-8"), re.MULTILINE))
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_uvicorn_and_httptools_are_imported_only_under_the_server_subpackage() -> None:
    """The ``server`` extra stays at its edge: the rest of the package imports without it."""
    outside = [p for p in MODULES if _module_name(p).split(".")[0] != "_server"]
    wrong = {_module_name(p): sorted(_third_party_imports(p) & {"uvicorn", "httptools"}) for p in outside}
    assert {name: found for name, found in wrong.items() if found} == {}
