"""pytest-benchmark suites of the in-process implementations.

pyproject.toml's ``addopts`` disables benchmarks for the test suite; asking for
``--benchmark-only`` here re-enables them (pytest-benchmark refuses the two together).
``tests/`` never collects this folder (``testpaths = ["tests"]``).
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("benchmark_only", False):
        config.option.benchmark_enable = True
