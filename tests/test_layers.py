"""The package's layering, as the README's map of files draws it: each module imports only
from the layers below it (function-level imports included), so there is no import cycle.

A subpackage's modules are named by their dotted path under ``fastevents`` (``_server._protocol``;
its ``__init__.py`` is ``_server``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastevents"

# Bottom up. A module may import from any earlier layer, never from its own or a later one
# (the two twins share a layer and must not import each other).
LAYERS: list[set[str]] = [
    {"_switch", "_version", "_wire", "_limits", "_seedenv", "_server._uvicorn_contract"},
    {"_errors", "_context", "_sync"},
    {"_answers", "_logfilter", "_openapi", "_codegen"},
    {"_core_py", "_core"},
    {"_impl"},
    {"_model"},
    {"_catalogue", "_compose", "_observe"},
    {"_builder", "_router"},
    {"_processor"},
    {"_client_transport", "_nats"},
    {"_asgi", "_client", "_conformance", "_loadgen", "_target", "_nats_serve"},
    {"_server._direct"},
    {"_server._protocol", "_server._config", "nats"},
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


def _name(path: Path) -> str:
    """``_server._protocol`` for fastevents/_server/_protocol.py, ``_server`` for its __init__.py."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _known(dotted: str) -> str:
    """The module of LAYERS that ``dotted`` (a module, or a name in one) is, or is in."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYER_OF:
            return ".".join(parts[:end])
    return parts[0]


def _package_imports(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".pyx":
        return _pyx_imports(text)
    # The package a relative import starts from, as parts under fastevents.
    here = list(path.relative_to(PACKAGE).parent.parts)
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = [*base, *(node.module.split(".") if node.module else [])]
                for alias in node.names:
                    found.add(_known(".".join([*module, alias.name])) if module else _known(alias.name))
            elif node.module and node.module.split(".")[0] == "fastevents":
                parts = node.module.split(".")[1:]
                found.update(_known(".".join([*parts, a.name])) if parts else "__init__" for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fastevents":
                    found.add(_known(".".join(parts[1:])) if len(parts) > 1 else "__init__")
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx") and "__pycache__" not in p.parts)


def test_every_module_has_a_layer() -> None:
    assert sorted(_name(p) for p in MODULES if _name(p) not in LAYER_OF) == []


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_modules_import_only_from_layers_below(path: Path) -> None:
    own = LAYER_OF[_name(path)]
    wrong = {name for name in _package_imports(path) if LAYER_OF.get(name, len(LAYERS)) >= own}
    if _name(path) == "__main__":
        wrong -= {"_cli"}  # python -m fastevents: the command line, by definition
    assert wrong == set(), f"{_name(path)} (layer {own}) imports {sorted(wrong)}"


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
    outside = [p for p in MODULES if _name(p).split(".")[0] != "_server"]
    wrong = {_name(p): sorted(_third_party_imports(p) & {"uvicorn", "httptools"}) for p in outside}
    assert {name: found for name, found in wrong.items() if found} == {}
