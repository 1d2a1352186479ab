"""The transport-agnostic processor: request bytes in, answer bytes out."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

from . import _core_py, _impl
from ._context import current_event
from ._router import EventRouter

__all__ = ["EventProcessor"]


class EventProcessor:
    """Answers events for one :class:`EventRouter`; never raises, whatever the input.

    Whatever a handler raises is answered: an :class:`EventException` with its own type,
    anything else with ``<name>:error`` (logged with its traceback). That includes
    ``BaseException``s -- ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit`` or your
    own -- on purpose: a handler's exception is the handler's failure, whatever its class,
    and the server must answer it instead of dying (a ``SystemExit`` from a library's
    ``sys.exit()`` would otherwise stop the service, and under ASGI became an HTTP 500).
    Servers do not deliver Ctrl+C into handlers (they stop on signals between requests);
    in a script, a Ctrl+C that lands inside a handler is answered and logged like any
    other failure, and the next one stops the script. Only the cancellation of the task
    awaiting :meth:`process_event_async` propagates, as it must.

    ``process_event`` is for synchronous code. It runs ``async def`` handlers to
    completion on a per-thread event loop; inside a running event loop that would block
    the loop, so there such a handler answers ``<name>:error`` (logged) and you should
    ``await process_event_async`` instead, which runs both kinds.

    Routes added to the router later are seen by the processor.
    """

    def __init__(self, router: EventRouter, *, core: ModuleType | None = None) -> None:
        self.router = router
        self._core = core or _impl.core
        self._dispatcher = self._core.Dispatcher(router.table_for(self._core))
        # The hot path: the bound method of the core, without a wrapper call around it.
        self.process_event = self._dispatcher.dispatch  # type: ignore[method-assign]

    def process_event(self, body: bytes | bytearray | memoryview | str) -> bytes:
        """Answer one request body (UTF-8 JSON) with one answer body."""
        return self._dispatcher.dispatch(body)  # type: ignore[no-any-return]  # pragma: no cover

    async def process_event_async(self, body: bytes | bytearray | memoryview | str) -> bytes:
        """Answer one request body; ``async def`` handlers are awaited."""
        dispatcher = self._dispatcher
        outcome: Any = dispatcher.dispatch_async(body)
        if type(outcome) is bytes:
            return outcome
        route, event, id_raw, flow_raw, awaitable = outcome
        token = current_event.set(event)
        try:
            result = await awaitable
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled: let it through
            # the handler's own doing (an inner task it awaited was cancelled): an error answer
            return dispatcher.fail(route, event, id_raw, flow_raw, exc)  # type: ignore[no-any-return]
        except BaseException as exc:  # KeyboardInterrupt, SystemExit... too: see the class docstring
            return dispatcher.fail(route, event, id_raw, flow_raw, exc)  # type: ignore[no-any-return]
        finally:
            current_event.reset(token)
        return dispatcher.finish(route, event, id_raw, flow_raw, result)  # type: ignore[no-any-return]

    @property
    def compiled(self) -> bool:
        """Whether this processor runs on the compiled core."""
        return self._core is not _core_py

    def __repr__(self) -> str:
        core = "compiled" if self.compiled else "pure-Python"
        return f"<EventProcessor {core} core, {len(self.router)} events>"
