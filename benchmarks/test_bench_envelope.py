"""Envelope decode: fastevents.Event.from_json vs the msgspec floor and pydantic v2.

events-protocol 0.2.4 needs pydantic v1, so it is timed in its own venv by
``python -m benchmarks``, not here. Run: ``pytest benchmarks/ --benchmark-only``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._bench_support import bench, cases


@pytest.mark.parametrize(("scenario", "impl"), cases("envelope"))
def test_envelope(benchmark: Any, scenario: Any, impl: str) -> None:
    bench(benchmark, scenario, impl)
