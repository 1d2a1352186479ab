"""Typed list echo with payloads of about 300 B, 10 KiB, 100 KiB and 1 MiB.

events-protocol 0.2.4 needs pydantic v1, so it is timed in its own venv by
``python -m benchmarks``, not here. Run: ``pytest benchmarks/ --benchmark-only``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._bench_support import bench, cases


@pytest.mark.parametrize(("scenario", "impl"), cases("payload"))
def test_payload(benchmark: Any, scenario: Any, impl: str) -> None:
    bench(benchmark, scenario, impl)
