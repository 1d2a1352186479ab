"""The package's layering, as the README's map of files draws it: each module imports only
from the layers below it (function-level imports included), so there is no import cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fastevents"

# Bottom up. A module may import from any earlier layer, never from its own or a later one
# (the two twins share a layer and must not import each other).
LAYERS: list[set[str]] = [
    {"_switch", "_version", "_wire", "_limits", "_uvicorn_contract", "_http"},
    {"_errors", "_context", "_sync"},
    {"_answers", "_logfilter", "_openapi", "_codegen"},
    {"_core_py", "_core"},
    {"_impl"},
    {"_model"},
    {"_catalogue", "_compose", "_observe"},
    {"_builder", "_router"},
    {"_processor"},
    {"_client_transport", "_nats"},
    {"_asgi", "_client", "_conformance", "_target", "_nats_serve"},
    {"_direct"},
    {"_server", "nats"},
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


def _package_imports(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".pyx":
        return _pyx_imports(text)
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "fastevents":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "fastevents":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


MODULES = sorted(p for p in PACKAGE.iterdir() if p.suffix in (".py", ".pyx"))


def test_every_module_has_a_layer() -> None:
    assert sorted(p.stem for p in MODULES if p.stem not in LAYER_OF) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_import_only_from_layers_below(path: Path) -> None:
    own = LAYER_OF[path.stem]
    wrong = {name for name in _package_imports(path) if LAYER_OF.get(name, len(LAYERS)) >= own}
    if path.stem == "__main__":
        wrong -= {"_cli"}  # python -m fastevents: the command line, by definition
    assert wrong == set(), f"{path.name} (layer {own}) imports {sorted(wrong)}"
