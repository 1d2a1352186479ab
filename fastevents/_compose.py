"""Extending the server: a route's handler wrapped in interceptors, exception handlers and a
timeout, composed once per route when its routing table is built, never looked up per event.

A route with none of these gets its handler as registered: the dispatch cores call it
directly and nothing here runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from inspect import isawaitable, iscoroutinefunction
from time import perf_counter
from typing import Any

from ._errors import EventException

__all__ = ["TIMEOUT_CODE", "Layer", "compose", "is_async_callable"]

#: The code of the ``<name>:error`` answer to a handler that ran past its timeout.
TIMEOUT_CODE = "TIMEOUT"

Interceptor = Callable[[Any, Callable[[Any], Any]], Any]
ExceptionHandler = Callable[[Any, Exception], Any]
# A composed step: (event, base) -> result, where base(event) calls the handler.
Step = Callable[[Any, Callable[[Any], Any]], Any]


def is_async_callable(fn: Any) -> bool:
    """``async def`` functions, and objects whose ``__call__`` is one."""
    return iscoroutinefunction(fn) or iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class Layer:
    """One router's wrapping: its interceptors (outermost first) and exception handlers."""

    __slots__ = ("exception_handlers", "interceptors")

    def __init__(
        self,
        interceptors: Sequence[Interceptor] = (),
        exception_handlers: Mapping[type[BaseException], ExceptionHandler] | None = None,
    ) -> None:
        self.interceptors = tuple(interceptors)
        self.exception_handlers = dict(exception_handlers or {})

    def __bool__(self) -> bool:
        return bool(self.interceptors or self.exception_handlers)


async def _resolve(value: Any) -> Any:
    return await value if isawaitable(value) else value


def _interceptor_step(interceptor: Interceptor, inner: Step) -> Step:
    if is_async_callable(interceptor):

        def step_async(event: Any, base: Callable[[Any], Any]) -> Any:
            async def call_next(next_event: Any) -> Any:
                return await _resolve(inner(next_event, base))

            return interceptor(event, call_next)

        return step_async

    def step(event: Any, base: Callable[[Any], Any]) -> Any:
        # A sync interceptor gets what the rest of the chain gives: an awaitable when a
        # handler or interceptor below it is async (write it async to inspect that result).
        return interceptor(event, lambda next_event: inner(next_event, base))

    return step


def _handlers_step(handlers: dict[type[BaseException], ExceptionHandler], inner: Step) -> Step:
    def handler_for(exc: Exception) -> ExceptionHandler | None:
        # The most specific registered type wins. An EventException is the protocol's own
        # answer: only a handler for EventException or a subclass sees it, never a catch-all
        # (as a Starlette catch-all does not catch HTTPException).
        protocol = isinstance(exc, EventException)
        for cls in type(exc).__mro__:
            if protocol and not issubclass(cls, EventException):
                continue  # Exception, or another base of a class that mixes one in
            found = handlers.get(cls)
            if found is not None:
                return found
        return None

    async def guard_async(awaitable: Any, event: Any) -> Any:
        try:
            return await awaitable
        except Exception as exc:
            handler = handler_for(exc)
            if handler is None:
                raise
            return await _resolve(handler(event, exc))

    def step(event: Any, base: Callable[[Any], Any]) -> Any:
        try:
            result = inner(event, base)
        except Exception as exc:
            handler = handler_for(exc)
            if handler is None:
                raise
            return handler(event, exc)  # what it raises is an ordinary failure of the event
        if isawaitable(result):
            return guard_async(result, event)
        return result

    return step


def _timeout_error(seconds: float) -> EventException:
    return EventException(TIMEOUT_CODE, {"seconds": seconds})


async def _within(awaitable: Any, left: float, seconds: float) -> Any:
    # ``left`` of the route's ``seconds`` remain: the sync part of the chain ran already.
    timer = asyncio.timeout(left)
    try:
        async with timer:
            return await awaitable
    except TimeoutError:
        if timer.expired():  # ours, not a TimeoutError the handler raised itself
            raise _timeout_error(seconds) from None
        raise


def compose(
    handler: Callable[..., Any], takes_payload: bool, layers: Sequence[Layer], timeout: float | None
) -> tuple[Callable[..., Any], bool]:
    """The callable a route calls, ``(event[, payload]) -> result``, and whether it always
    returns an awaitable (only an ``async def`` handler called as registered does; a
    composed chain may answer from a sync step, so the cores look at what it returns).

    ``layers`` go from the innermost (the router the handler was registered on) to the
    outermost (the router that includes it, and so on). Each layer's exception handlers
    wrap its interceptors; the timeout wraps everything.
    """
    layers = [layer for layer in layers if layer]
    if not layers and timeout is None:
        return handler, is_async_callable(handler)

    run: Step = lambda event, base: base(event)  # noqa: E731
    for layer in layers:
        for interceptor in reversed(layer.interceptors):
            run = _interceptor_step(interceptor, run)
        if layer.exception_handlers:
            run = _handlers_step(layer.exception_handlers, run)

    if timeout is not None:
        inner_run = run
        seconds = timeout

        def run(event: Any, base: Callable[[Any], Any]) -> Any:
            started = perf_counter()
            result = inner_run(event, base)
            if isawaitable(result):
                return _within(result, seconds - (perf_counter() - started), seconds)
            if perf_counter() - started > seconds:  # a sync handler cannot be interrupted
                raise _timeout_error(seconds)
            return result

    if takes_payload:

        def with_payload(event: Any, payload: Any) -> Any:
            return run(event, lambda ev: handler(ev, payload))

        return with_payload, False

    def without_payload(event: Any) -> Any:
        return run(event, handler)

    return without_payload, False
