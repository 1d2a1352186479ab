"""Wait for a condition, with a deadline: what tests do instead of a fixed sleep.

A fixed sleep is either too short on a busy machine (a flaky test) or too long everywhere
(a slow one). ``wait_until`` returns as soon as the condition holds, and fails with a
message when the deadline passes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Call ``predicate`` until it returns something true, and return that; raise
    :class:`AssertionError` if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout:g} s: {what or getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.002, what: str = ""
) -> T:
    """:func:`wait_until` for a coroutine: other tasks run while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout:g} s: {what or getattr(predicate, '__name__', predicate)}")
        await asyncio.sleep(interval)
