"""Dispatch through routers of 1, 100, 10,000 and 100,000 registered events.

events-protocol 0.2.4 needs pydantic v1, so it is timed in its own venv by
``python -m benchmarks``, not here. Run: ``pytest benchmarks/ --benchmark-only``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._bench_support import bench, cases


@pytest.mark.parametrize(("scenario", "impl"), cases("routes"))
def test_routes(benchmark: Any, scenario: Any, impl: str) -> None:
    bench(benchmark, scenario, impl)
