"""Extending the server: interceptors, exception handlers, per-event timeouts and lifespans,
on both cores, sync and async, through included routers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

from fastevents import Event, EventErrorType, EventException, EventProcessor, EventRouter


def call(
    processor: EventProcessor, name: str, payload: Any = None, *, way: str = "async", auth: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = json.dumps(
        {"name": name, "version": 1, "id": "i", "flowId": "f", "payload": payload or {}, "auth": auth or {}}
    )
    answer = processor.process_event(body) if way == "sync" else asyncio.run(processor.process_event_async(body))
    return json.loads(answer)  # type: ignore[no-any-return]


WAYS = ["sync", "async"]


# --- interceptors --------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    "kinds",
    [
        ("sync", "sync", "sync"),
        ("async", "async", "async"),
        ("sync", "async", "async"),
        ("async", "sync", "sync"),
        ("async", "async", "sync"),
    ],
)
def test_interceptors_run_outermost_first_around_the_handler(
    core: ModuleType, way: str, kinds: tuple[str, ...]
) -> None:
    trail: list[str] = []
    router = EventRouter()

    def interceptor(label: str, kind: str) -> Any:
        if kind == "async":

            async def around_async(event: Event, call_next: Any) -> Any:
                trail.append(f"{label}>")
                result = await call_next(event)
                trail.append(f"<{label}")
                return [*result, label]

            return around_async

        def around(event: Event, call_next: Any) -> Any:
            trail.append(f"{label}>")
            result = call_next(event)
            trail.append(f"<{label}")
            if asyncio.iscoroutine(result):  # a sync interceptor over async code gets the awaitable

                async def tag() -> Any:
                    return [*(await result), label]

                return tag()
            return [*result, label]

        return around

    router.add_interceptor(interceptor("outer", kinds[0]))
    router.add_interceptor(interceptor("inner", kinds[1]))
    if kinds[2] == "async":

        async def handler(event: Event, payload: Any) -> Any:
            trail.append("handler")
            return ["handler"]
    else:

        def handler(event: Event, payload: Any) -> Any:
            trail.append("handler")
            return ["handler"]

    router.add("do:it", 1, handler)
    answer = call(EventProcessor(router, core=core), "do:it", way=way)
    assert answer["name"] == "do:it:response"
    assert answer["payload"] == ["handler", "inner", "outer"]
    # Outermost first; a sync interceptor over async code returns before the code below it
    # runs (it hands back the awaitable), so only the order of the entries is fixed.
    assert trail[0] == "outer>"
    assert trail.index("inner>") < trail.index("handler") < trail.index("<inner")


@pytest.mark.parametrize("way", WAYS)
def test_an_interceptor_short_circuits_by_raising_or_returning(core: ModuleType, way: str) -> None:
    router = EventRouter()
    calls: list[str] = []

    @router.interceptor
    async def require_token(event: Event, call_next: Any) -> Any:
        if "token" not in event.auth:
            raise EventException("MISSING_TOKEN", type=EventErrorType.UNAUTHORIZED)
        if event.auth["token"] == "cached":
            return {"from": "cache"}
        return await call_next(event)

    @router.event("secret:thing", 1)
    def thing(event: Event) -> Any:
        calls.append("handler")
        return {"from": "handler"}

    processor = EventProcessor(router, core=core)
    denied = call(processor, "secret:thing", way=way)
    assert (denied["name"], denied["payload"]["code"]) == ("secret:thing:unauthorized", "MISSING_TOKEN")
    assert call(processor, "secret:thing", way=way, auth={"token": "cached"})["payload"] == {"from": "cache"}
    assert calls == []
    assert call(processor, "secret:thing", way=way, auth={"token": "t"})["payload"] == {"from": "handler"}
    assert calls == ["handler"]


def test_an_interceptor_sees_the_handler_s_exceptions(core: ModuleType) -> None:
    router = EventRouter()
    seen: list[BaseException] = []

    @router.interceptor
    def watch(event: Event, call_next: Any) -> Any:
        try:
            return call_next(event)
        except LookupError as exc:
            seen.append(exc)
            return {"recovered": True}

    router.add("fails", 1, lambda event: {}["missing"])
    assert call(EventProcessor(router, core=core), "fails")["payload"] == {"recovered": True}
    assert isinstance(seen[0], KeyError)


def test_interceptors_wrap_included_routes_and_routes_added_later(core: ModuleType) -> None:
    child = EventRouter()

    @child.interceptor
    def child_tag(event: Event, call_next: Any) -> Any:
        return [*call_next(event), "child"]

    child.add("child:event", 1, lambda event: ["handler"])
    parent = EventRouter()
    processor = EventProcessor(parent, core=core)  # built first: the table is live
    parent.include(child)
    parent.add("parent:event", 1, lambda event: ["handler"])

    @parent.interceptor
    def parent_tag(event: Event, call_next: Any) -> Any:
        return [*call_next(event), "parent"]

    assert call(processor, "child:event")["payload"] == ["handler", "child", "parent"]
    assert call(processor, "parent:event")["payload"] == ["handler", "parent"]


def test_routes_without_extensions_are_called_as_registered(core: ModuleType) -> None:
    router = EventRouter()

    def handler(event: Event) -> Any:
        return {}

    router.add("plain", 1, handler)
    assert router.table_for(core.Route)[("plain", 1)].handler is handler


# --- exception handlers --------------------------------------------------------------------


class DomainError(Exception):
    pass


class NotAllowed(DomainError):
    pass


@pytest.mark.parametrize("way", WAYS)
def test_the_most_specific_exception_handler_wins(core: ModuleType, way: str) -> None:
    router = EventRouter()

    @router.exception_handler(DomainError)
    def domain(event: Event, exc: Exception) -> Any:
        return {"handled_by": "domain"}

    @router.exception_handler(NotAllowed)
    async def not_allowed(event: Event, exc: Exception) -> Any:
        raise EventException("NO_ACCESS", type=EventErrorType.FORBIDDEN)

    def raise_domain(event: Event) -> Any:
        raise DomainError

    async def raise_not_allowed(event: Event) -> Any:
        raise NotAllowed

    router.add("domain", 1, raise_domain)
    router.add("denied", 1, raise_not_allowed)
    processor = EventProcessor(router, core=core)
    assert call(processor, "domain", way=way)["payload"] == {"handled_by": "domain"}
    denied = call(processor, "denied", way=way)
    assert (denied["name"], denied["payload"]["code"]) == ("denied:forbidden", "NO_ACCESS")


def test_exception_handlers_take_exceptions_from_interceptors(core: ModuleType) -> None:
    router = EventRouter()

    @router.interceptor
    def check(event: Event, call_next: Any) -> Any:
        raise PermissionError("no")

    router.add_exception_handler(PermissionError, lambda event, exc: {"mapped": type(exc).__name__})
    router.add("x", 1, lambda event: {})
    assert call(EventProcessor(router, core=core), "x")["payload"] == {"mapped": "PermissionError"}


@pytest.mark.parametrize("way", WAYS)
def test_a_failing_exception_handler_is_an_ordinary_unhandled_error(
    core: ModuleType, way: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = EventRouter()

    @router.exception_handler(ValueError)
    def broken(event: Event, exc: Exception) -> Any:
        raise RuntimeError("secret detail of the exception handler")

    def fails(event: Event) -> Any:
        raise ValueError("first")

    router.add("x", 1, fails)
    with caplog.at_level(logging.ERROR, logger="fastevents"):
        answer = call(EventProcessor(router, core=core), "x", way=way)
    assert answer["name"] == "x:error"
    assert answer["payload"] == {"code": "UNHANDLED_ERROR", "parameters": {}}
    assert "secret detail" not in json.dumps(answer)
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_exception_handlers_take_only_exception_types() -> None:
    with pytest.raises(TypeError):
        EventRouter().add_exception_handler(KeyboardInterrupt, lambda event, exc: None)


# --- timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_an_async_handler_past_its_timeout_is_cancelled_and_answered_timeout(core: ModuleType, way: str) -> None:
    router = EventRouter()
    cancelled: list[bool] = []

    @router.event("slow", 1, timeout=0.05)
    async def slow(event: Event) -> Any:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return {}

    started = time.monotonic()
    answer = call(EventProcessor(router, core=core), "slow", way=way)
    assert time.monotonic() - started < 5
    assert (answer["name"], answer["payload"]["code"]) == ("slow:error", "TIMEOUT")
    assert cancelled == [True]


def test_a_late_sync_handler_is_answered_timeout(core: ModuleType) -> None:
    router = EventRouter(default_timeout=0.01)
    router.add("late", 1, lambda event: time.sleep(0.05) or {})
    router.add("quick", 1, lambda event: {}, timeout=5)
    processor = EventProcessor(router, core=core)
    assert call(processor, "late", way="sync")["payload"]["code"] == "TIMEOUT"
    assert call(processor, "quick", way="sync")["name"] == "quick:response"


def test_a_timeout_error_the_handler_raises_itself_is_not_a_timeout(core: ModuleType) -> None:
    router = EventRouter()

    async def own(event: Event) -> Any:
        raise TimeoutError("upstream")

    router.add("own", 1, own, timeout=5)
    answer = call(EventProcessor(router, core=core), "own")
    assert answer["payload"] == {"code": "UNHANDLED_ERROR", "parameters": {}}


def test_included_routes_keep_their_router_s_default_timeout(core: ModuleType) -> None:
    child = EventRouter(default_timeout=0.02)

    @child.event("child:slow", 1)
    async def slow(event: Event) -> Any:
        await asyncio.sleep(5)

    parent = EventRouter(default_timeout=60)
    parent.include(child)
    assert call(EventProcessor(parent, core=core), "child:slow")["payload"]["code"] == "TIMEOUT"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1", True])
def test_timeouts_must_be_positive_seconds(bad: Any) -> None:
    with pytest.raises(ValueError):
        EventRouter(default_timeout=bad)
    with pytest.raises(ValueError):
        EventRouter().add("x", 1, lambda event: {}, timeout=bad)


# --- lifespans -----------------------------------------------------------------------------


def test_lifespans_nest_included_routers_inside_the_includer() -> None:
    trail: list[str] = []

    def lifespan(label: str) -> Any:
        @contextlib.asynccontextmanager
        async def run(router: EventRouter) -> AsyncIterator[None]:
            trail.append(f"start {label}")
            yield
            trail.append(f"stop {label}")

        return run

    first, second = EventRouter(lifespan=lifespan("first")), EventRouter(lifespan=lifespan("second"))
    parent = EventRouter(lifespan=lifespan("parent"))
    parent.include(first)
    parent.include(second)

    async def serve() -> None:
        async with parent.lifespan_context():
            trail.append("serving")

    asyncio.run(serve())
    assert trail == [
        "start parent",
        "start first",
        "start second",
        "serving",
        "stop second",
        "stop first",
        "stop parent",
    ]


def test_the_timeout_answer_names_the_configured_seconds(core: ModuleType) -> None:
    router = EventRouter()

    @router.event("slow", 1, timeout=0.05)
    async def slow(event: Event) -> Any:
        await asyncio.sleep(5)

    assert call(EventProcessor(router, core=core), "slow")["payload"] == {
        "code": "TIMEOUT",
        "parameters": {"seconds": 0.05},
    }


def test_a_refused_include_adds_nothing() -> None:
    child = EventRouter()
    child.add("get:user", 1, lambda event: {})
    child.add("BadName", 1, lambda event: {})
    parent = EventRouter(validate_names=True)
    with pytest.raises(ValueError, match="BadName"):
        parent.include(child)
    assert parent.routes == []


def test_changing_the_default_timeout_reaches_built_processors(core: ModuleType) -> None:
    router = EventRouter()

    @router.event("slow", 1)
    async def slow(event: Event) -> Any:
        await asyncio.sleep(5)

    processor = EventProcessor(router, core=core)
    router.default_timeout = 0.05
    assert call(processor, "slow")["payload"]["code"] == "TIMEOUT"
    with pytest.raises(ValueError):
        router.default_timeout = -1


# --- the protocol's own answers pass a catch-all ----------------------------------------------


class Unauthorized(EventException):
    code = "NO_TOKEN"
    type = EventErrorType.UNAUTHORIZED


class MixedIn(EventException, ValueError):
    code = "MIXED"
    type = EventErrorType.BAD_REQUEST


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("raiser", ["handler", "interceptor", "included router's handler"])
def test_a_catch_all_does_not_swallow_an_event_exception(core: ModuleType, way: str, raiser: str) -> None:
    router = EventRouter()
    seen: list[str] = []

    @router.exception_handler(Exception)
    def catch_all(event: Event, exc: Exception) -> Any:
        seen.append(type(exc).__name__)
        raise EventException("CATCH_ALL")

    router.add_exception_handler(ValueError, lambda event, exc: seen.append("value") or {"value": True})

    def denied(event: Event) -> Any:
        raise Unauthorized()

    if raiser == "interceptor":

        @router.interceptor
        async def check(event: Event, call_next: Any) -> Any:
            raise Unauthorized()

        router.add("x", 1, lambda event: {})
    elif raiser == "handler":
        router.add("x", 1, denied)
    else:
        inner = EventRouter()
        inner.add_exception_handler(Exception, catch_all)
        inner.add("x", 1, denied)
        router.include(inner)
    router.add("mixed", 1, lambda event: (_ for _ in ()).throw(MixedIn()))
    processor = EventProcessor(router, core=core)
    answer = call(processor, "x", way=way)
    assert (answer["name"], answer["payload"]["code"]) == ("x:unauthorized", "NO_TOKEN")
    if raiser != "interceptor":  # an interceptor answers every event of the router
        mixed = call(processor, "mixed", way=way)  # an EventException that is a ValueError too
        assert (mixed["name"], mixed["payload"]["code"]) == ("mixed:badRequest", "MIXED")
    assert seen == []


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("registered", [EventException, Unauthorized])
def test_a_handler_for_event_exception_or_a_subclass_sees_it(
    core: ModuleType, way: str, registered: type[EventException]
) -> None:
    router = EventRouter()
    router.add_exception_handler(Exception, lambda event, exc: {"by": "catch-all"})
    router.add_exception_handler(registered, lambda event, exc: {"by": registered.__name__})

    @router.interceptor
    def check(event: Event, call_next: Any) -> Any:
        raise Unauthorized()

    router.add("x", 1, lambda event: {})
    assert call(EventProcessor(router, core=core), "x", way=way)["payload"] == {"by": registered.__name__}
    router2 = EventRouter()
    router2.add_exception_handler(Exception, lambda event, exc: {"by": "catch-all"})
    router2.add("y", 1, lambda event: 1 / 0)
    assert call(EventProcessor(router2, core=core), "y", way=way)["payload"] == {"by": "catch-all"}
