"""Shared by the ``test_bench_*.py`` files: scenarios and implementations as pytest params."""

from __future__ import annotations

from typing import Any

import pytest

from . import implementations, scenarios


def cases(group: str) -> list[Any]:
    """``pytest.param(scenario, impl)`` for every in-process implementation of ``group``."""
    params = []
    for scenario in scenarios.all_scenarios():
        if scenario.group != group:
            continue
        impls = ["floor", "compiled", "python", "pydantic"]
        if group == "envelope":
            impls = ["floor", "compiled", "pydantic"]
        elif group == "dispatch" and scenario.name != "success":
            impls = ["compiled", "python", "pydantic"]
        params += [pytest.param(scenario, impl, id=f"{scenario.name}-{impl}") for impl in impls]
    return params


def bench(benchmark: Any, scenario: scenarios.Scenario, impl: str) -> None:
    """Benchmark ``impl`` on ``scenario``, after checking its answer."""
    function = implementations.implementations_for(scenario)[impl]
    if scenario.group != "envelope":
        assert scenarios.compare_answer(scenario, function(scenario.body)) == "ok"
    benchmark.group = scenario.label
    benchmark.extra_info["impl"] = implementations.LABELS[impl]
    benchmark(function, scenario.body)
