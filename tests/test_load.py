"""A bounded load test: 64 connections against ``fastevents serve`` (full run:
``python -m benchmarks.http_load``), and the load generator it shares with the benchmarks.

The generator lives in ``tools.loadgen`` so that the tests need nothing from
``benchmarks/``; the package itself never imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers_http import ROOT, Server, load, serve_fastevents


@pytest.fixture
def server() -> Iterator[Server]:
    with serve_fastevents() as srv:
        yield srv


@pytest.mark.slow
def test_64_connections_are_all_answered_correctly(server: Server) -> None:
    # How many requests and how much memory: `python -m benchmarks.http_load` measures and
    # checks them (--min-requests, --max-rss-growth-kib); here, only that every answer is right.
    result = load(server.url, connections=64, seconds=1.0)
    assert result["requests"] > 0
    assert result["errors"] == 0, result["first_errors"]


@pytest.mark.slow
def test_an_answer_that_is_not_a_response_event_counts_as_an_error(server: Server) -> None:
    unknown = b'{"name": "no:such:event", "version": 1, "payload": {}}'
    result = load(server.url, connections=4, seconds=0.3, body=unknown)
    assert result["requests"] > 0
    assert result["errors"] == result["requests"]
    assert "eventNotFound" in result["first_errors"][0]


def test_the_package_never_imports_the_test_tooling() -> None:
    offenders = {
        path.name: sorted(name for name in _imported_modules(path) if name.split(".")[0] == "tools")
        for path in sorted((ROOT / "fastevents").glob("*.py"))
    }
    assert {name: names for name, names in offenders.items() if names} == {}
    assert not (ROOT / "fastevents" / "_loadgen.py").exists()
    assert not (ROOT / "fastevents" / "_seedenv.py").exists()


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_test_module_imports_the_benchmarks() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imported_modules(path) if name.split(".")[0] == "benchmarks"
        )
        for path in sorted((ROOT / "tests").rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}
