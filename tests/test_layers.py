"""The package's layering, as the README's map of files draws it: each module imports only
from the layers below it (function-level imports included), so there is no import cycle.
A subpackage's modules are named with a dot (``_client._base``), its ``__init__`` by the
subpackage's name (``_client``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastevents"

# Bottom up. A module may import from any earlier layer, never from its own or a later one
# (the two twins share a layer and must not import each other).
LAYERS: list[set[str]] = [
    {"_switch", "_version", "_wire", "_limits", "_http", "_server._uvicorn_contract"},
    {"_errors", "_context", "_sync"},
    {"_answers", "_logfilter", "_openapi", "_codegen"},
    {"_core_py", "_core"},
    {"_impl"},
    {"_model"},
    {"_catalogue", "_compose", "_observe"},
    {"_builder", "_router"},
    {"_processor"},
    {"_client._sync_transport", "_client._base", "_nats"},
    {"_asgi", "_client._httpx", "_client._aiohttp", "_conformance", "_target", "_nats_serve"},
    {"_server._direct", "_client._clients"},
    {"_server._protocol", "_server._config", "_client", "nats"},
    {"_server._manager"},
    {"_server._run"},
    {"_server"},
    {"_cli", "compat", "testing", "otel"},
    {"__init__", "__main__", "_pytest_plugin"},
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}


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


def test_every_module_has_a_layer() -> None:
    assert sorted(name for name in KNOWN if name not in LAYER_OF) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_import_only_from_layers_below(path: Path) -> None:
    name = _module_name(path)
    own = LAYER_OF[name]
    wrong = {found for found in _package_imports(path) if LAYER_OF.get(found, len(LAYERS)) >= own}
    if name == "__main__":
        wrong -= {"_cli"}  # python -m fastevents: the command line, by definition
    assert wrong == set(), f"{name} (layer {own}) imports {sorted(wrong)}"


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
