"""Full dispatch, bytes in to bytes out: success, not found, bad payload, unhandled error.

events-protocol 0.2.4 needs pydantic v1, so it is timed in its own venv by
``python -m benchmarks``, not here. Run: ``pytest benchmarks/ --benchmark-only``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._bench_support import bench, cases


@pytest.mark.parametrize(("scenario", "impl"), cases("dispatch"))
def test_dispatch(benchmark: Any, scenario: Any, impl: str) -> None:
    bench(benchmark, scenario, impl)
