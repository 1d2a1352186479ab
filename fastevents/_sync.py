"""The bridge from synchronous code to ``async def`` handlers, in one place.

``EventProcessor.process_event`` is synchronous; when a route's handler is ``async def``,
the dispatch cores hand its awaitable to :func:`run_awaitable`, which runs it to completion
on an event loop kept per thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

__all__ = ["run_awaitable"]


class _OwnedRunner:
    """The one reference to a thread's :class:`asyncio.Runner`; closes it when dropped.

    A thread's ``threading.local`` values are dropped, by reference counting, as the thread
    ends. A loop sits in reference cycles, so without this its selector and self-pipe (three
    file descriptors) would stay open until the next garbage collection; this object is in no
    cycle and closes them at once.
    """

    __slots__ = ("runner",)

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def __del__(self) -> None:
        self.runner.close()


class _ThreadLoop(threading.local):
    """One event loop per thread for async handlers under the sync processor.

    Kept between calls (creating a loop per event would cost far more than the handler)
    and closed when its thread ends.
    """

    owned: _OwnedRunner | None = None


_thread_loop = _ThreadLoop()


class _Raised:
    """An exception carried out of the loop as a value (see :func:`run_awaitable`)."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def run_awaitable(awaitable: Any) -> Any:
    """Run an async handler's awaitable to completion from synchronous code.

    It runs in a copy of the caller's context, so it sees the current event and the
    caller's other context variables, and what it sets stays with it. Inside a running
    event loop this would deadlock, so it raises instead: use ``process_event_async`` there.
    A handler cancelled from inside raises an ordinary error (an error answer), not
    ``CancelledError``: nothing outside asked for a cancellation. Whatever else the handler
    raises, ``BaseException``s included, leaves the loop as a value and is raised here:
    asyncio would otherwise re-raise ``KeyboardInterrupt`` and ``SystemExit`` through the
    loop itself.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        if hasattr(awaitable, "close"):
            awaitable.close()
        raise RuntimeError(
            "an async handler cannot run under process_event() inside a running event "
            "loop; await process_event_async() instead"
        )
    owned = _thread_loop.owned
    if owned is None:
        owned = _thread_loop.owned = _OwnedRunner()
    runner = owned.runner

    async def wait() -> Any:
        try:
            return await awaitable
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            return _Raised(exc)

    try:
        result = runner.run(wait(), context=contextvars.copy_context())
    except asyncio.CancelledError as exc:
        raise RuntimeError("the async handler was cancelled") from exc
    if type(result) is _Raised:
        raise result.exc
    return result
