"""The transport-agnostic processor: request bytes in, answer bytes out."""

from __future__ import annotations

import asyncio
from typing import Any, final

from . import _impl, _observe
from ._context import current_event
from ._model import RequestEvent, wire_decoder
from ._router import EventRouter

__all__ = ["EventProcessor"]


@final
class EventProcessor:
    """Answers events for one :class:`EventRouter`; never raises, whatever the input.

    ``process_event`` is for synchronous code. It runs ``async def`` handlers to
    completion on a per-thread event loop; inside a running event loop that would block
    the loop, so there such a handler answers ``<name>:error`` (logged) and you should
    ``await process_event_async`` instead, which runs both kinds.

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

    Routes added to the router later are seen by the processor. The class is final:
    ``process_event`` is bound straight to the dispatch core's method, without a wrapper
    call, so an override in a subclass would be ignored; wrap a processor instead.
    ``core`` picks a dispatch core module by hand (tests and benchmarks compare them).
    """

    def __init__(self, router: EventRouter, *, core: Any = None) -> None:
        self.router = router
        dispatcher_type = _impl.Dispatcher if core is None else core.Dispatcher
        route_type = _impl.Route if core is None else core.Route
        self._dispatcher = dispatcher_type(router.table_for(route_type), wire_decoder(RequestEvent).decode)
        _observe.watch(self._dispatcher)  # observers (fastevents.add_observer) reach it, now or later
        # The hot path: the bound method of the core, without a wrapper call around it.
        self.process_event = self._dispatcher.dispatch  # type: ignore[method-assign]
        self._start_event = self._dispatcher.dispatch_async  # type: ignore[method-assign]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("EventProcessor is final: wrap one instead of subclassing it")

    def process_event(self, body: bytes | bytearray | memoryview | str) -> bytes:
        """Answer one request body (UTF-8 JSON) with one answer body."""
        return self._dispatcher.dispatch(body)  # pragma: no cover - bound per instance

    async def process_event_async(self, body: bytes | bytearray | memoryview | str) -> bytes:
        """Answer one request body; ``async def`` handlers are awaited."""
        outcome = self._dispatcher.dispatch_async(body)
        if isinstance(outcome, bytes):
            return outcome
        return await self._finish_async(outcome)

    def _start_event(self, body: bytes | bytearray | memoryview | str) -> Any:
        """Answer one request body if its handler answers at once (the answer's bytes); else
        the pending handler, for :meth:`_finish_async` to await in a task.

        For servers that answer synchronous handlers without a task; what
        :meth:`process_event_async` does in two steps.
        """
        return self._dispatcher.dispatch_async(body)  # pragma: no cover - bound per instance

    async def _finish_async(self, outcome: Any) -> bytes:
        """Await a pending handler (from :meth:`_start_event`); its answer's bytes."""
        dispatcher = self._dispatcher
        token = current_event.set(outcome.event)
        try:
            result = await outcome.awaitable
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                if outcome.token is not None:  # observers hear that it ended, unanswered
                    outcome.token.end(None, exc)
                raise  # we are being cancelled: let it through
            # the handler's own doing (an inner task it awaited was cancelled): an error answer
            return dispatcher.fail(outcome, exc)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit... too: see the class docstring
            return dispatcher.fail(outcome, exc)
        finally:
            current_event.reset(token)
        return dispatcher.finish(outcome, result)

    @property
    def compiled(self) -> bool:
        """Whether this processor runs on the compiled core."""
        return type(self._dispatcher).__module__.endswith("._core")

    def __repr__(self) -> str:
        core = "compiled" if self.compiled else "pure-Python"
        return f"<EventProcessor {core} core, {len(self.router)} events>"
