"""The observer seam: observers hear about every event a processor answers, with how it
ended; they see the handler's context; their failures never change an answer."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import fastevents
from fastevents import EventCall, EventErrorType, EventException, EventObserver, EventProcessor

from .conftest import build_fixture_router
from .waiting import wait_until_async

IDS = '"id": "i-1", "flowId": "f-1"'
seen_in_handler: contextvars.ContextVar[str | None] = contextvars.ContextVar("seen_in_handler", default=None)


class Recorder(EventObserver):
    def __init__(self) -> None:
        self.calls: list[EventCall] = []
        self.states: list[Any] = []

    def event_started(self, call: EventCall) -> Any:
        seen_in_handler.set(f"started {call.name}")
        return ("state", call.name)

    def event_ended(self, call: EventCall, state: Any) -> None:
        self.calls.append(call)
        self.states.append(state)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    observer = Recorder()
    fastevents.add_observer(observer)
    try:
        yield observer
    finally:
        fastevents.remove_observer(observer)


CASES = [
    # body, answer name, status, error type, client caused, routed
    (
        f'{{"name": "get:event:example", "version": 1, {IDS}, "payload": {{"example": "x"}}}}',
        "get:event:example:response",
        "response",
        None,
        False,
        True,
    ),
    (f'{{"name": "redirect:me", "version": 1, {IDS}}}', "redirect:me:redirect", "redirect", None, False, True),
    (
        f'{{"name": "get:event:example", "version": 1, {IDS}, "payload": {{"example": 5}}}}',
        "get:event:example:badRequest",
        "badRequest",
        EventErrorType.BAD_REQUEST,
        True,
        True,
    ),
    (
        f'{{"name": "no:such", "version": 1, {IDS}}}',
        "eventNotFound",
        "eventNotFound",
        EventErrorType.EVENT_NOT_FOUND,
        True,
        False,
    ),
    ('{"name": 5}', "badProtocol", "badProtocol", EventErrorType.BAD_PROTOCOL, True, False),
    (
        f'{{"name": "fail:unhandled", "version": 1, {IDS}}}',
        "fail:unhandled:error",
        "error",
        EventErrorType.GENERIC,
        False,
        True,
    ),
    (
        f'{{"name": "fail:forbidden", "version": 1, {IDS}}}',
        "fail:forbidden:forbidden",
        "forbidden",
        EventErrorType.FORBIDDEN,
        False,
        True,
    ),
    (
        f'{{"name": "async:echo", "version": 1, {IDS}, "payload": [1]}}',
        "async:echo:response",
        "response",
        None,
        False,
        True,
    ),
]


@pytest.mark.parametrize("way", ["sync", "async"])
@pytest.mark.parametrize(("body", "answer_name", "status", "error_type", "client_caused", "routed"), CASES)
def test_observers_hear_how_every_event_ended(
    core: ModuleType,
    recorder: Recorder,
    way: str,
    body: str,
    answer_name: str,
    status: str,
    error_type: EventErrorType | None,
    client_caused: bool,
    routed: bool,
) -> None:
    processor = EventProcessor(build_fixture_router(), core=core)
    started = time.perf_counter()
    answer = processor.process_event(body) if way == "sync" else asyncio.run(processor.process_event_async(body))
    elapsed = time.perf_counter() - started
    assert json.loads(answer)["name"] == answer_name
    [call] = recorder.calls
    assert (call.answer_name, call.status, call.error_type, call.client_caused, call.routed) == (
        answer_name,
        status,
        error_type,
        client_caused,
        routed,
    )
    assert 0 < call.duration <= elapsed  # measured, within the call (0.0 until it is)
    assert recorder.states == [("state", call.name)]
    if status != "badProtocol":
        assert (call.id, call.flow_id, call.version) == ("i-1", "f-1", 1)
        assert call.event is not None and call.event.name == call.name
    else:
        assert call.name is None and call.event is None
    if status == "error":
        assert isinstance(call.exception, RuntimeError)
    if status == "forbidden":
        assert isinstance(call.exception, EventException) and not call.expected


def test_processors_built_before_an_observer_is_added_report_too(core: ModuleType) -> None:
    processor = EventProcessor(build_fixture_router(), core=core)
    observer = Recorder()
    fastevents.add_observer(observer)
    try:
        processor.process_event(b'{"name": "redirect:me", "version": 1}')
    finally:
        fastevents.remove_observer(observer)
    processor.process_event(b'{"name": "redirect:me", "version": 1}')
    assert [c.status for c in observer.calls] == ["redirect"]


def test_event_started_runs_in_the_handler_s_context(core: ModuleType, recorder: Recorder) -> None:
    router = fastevents.EventRouter()
    router.add("read:var", 1, lambda event: {"seen": seen_in_handler.get()})
    answer = json.loads(EventProcessor(router, core=core).process_event(b'{"name": "read:var", "version": 1}'))
    assert answer["payload"] == {"seen": "started read:var"}


class Broken(EventObserver):
    def event_started(self, call: EventCall) -> Any:
        raise RuntimeError("observer bug")

    def event_ended(self, call: EventCall, state: Any) -> None:
        raise RuntimeError("observer bug")


def test_a_failing_observer_is_logged_and_changes_no_answer(core: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    processor = EventProcessor(build_fixture_router(), core=core)
    expected = processor.process_event(
        b'{"name": "get:event:example", "version": 1, "id": "a", "flowId": "b", "payload": {"example": "x"}}'
    )
    observer = Broken()
    fastevents.add_observer(observer)
    try:
        with caplog.at_level(logging.ERROR, logger="fastevents"):
            answer = processor.process_event(
                b'{"name": "get:event:example", "version": 1, "id": "a", "flowId": "b", "payload": {"example": "x"}}'
            )
    finally:
        fastevents.remove_observer(observer)
    assert answer == expected
    assert sum("observer" in r.getMessage() for r in caplog.records) == 2


# --- clients -------------------------------------------------------------------------------


class Injecting(fastevents.ClientObserver):
    def __init__(self) -> None:
        self.ended: list[fastevents.ClientCall] = []

    def request_started(self, call: fastevents.ClientCall) -> Any:
        call.headers["x-probe"] = "1"
        call.metadata["trace"] = {"traceparent": "00-abc-def-01"}
        return "state"

    def request_ended(self, call: fastevents.ClientCall, state: Any) -> None:
        assert state == "state"
        self.ended.append(call)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_client_observers_add_headers_and_metadata_and_hear_the_outcome(kind: str) -> None:
    from fastevents import AsyncEventClient, EventClient
    from fastevents.testing import MockEvents

    observer = Injecting()
    fastevents.add_client_observer(observer)
    started = time.perf_counter()
    try:
        with MockEvents() as mock:
            mock.add("remote:thing", 1, {"ok": True})
            url = "http://127.0.0.1:9/events"
            if kind == "sync":
                with EventClient(url) as client:
                    response = client.send_event("remote:thing", 1, metadata={"origin": "test"}, id="i-9")
            else:

                async def send() -> Any:
                    async with AsyncEventClient(url) as client:
                        return await client.send_event("remote:thing", 1, metadata={"origin": "test"}, id="i-9")

                response = asyncio.run(send())
    finally:
        fastevents.remove_client_observer(observer)
    elapsed = time.perf_counter() - started
    [sent] = mock.calls
    assert sent.headers.get("x-probe") == "1"
    assert sent.event.metadata == {"origin": "test", "trace": {"traceparent": "00-abc-def-01"}}
    [call] = observer.ended
    assert (call.name, call.version, call.id, call.status, call.exception) == (
        "remote:thing",
        1,
        "i-9",
        "response",
        None,
    )
    assert call.response is response and 0 < call.duration <= elapsed


def test_client_observers_hear_failures() -> None:
    from fastevents import EventClient, EventConnectionError

    observer = Injecting()
    fastevents.add_client_observer(observer)
    try:
        with EventClient("http://127.0.0.1:9/events", timeout=2) as client, pytest.raises(EventConnectionError):
            client.send_event("remote:thing", 1)
    finally:
        fastevents.remove_client_observer(observer)
    [call] = observer.ended
    assert isinstance(call.exception, EventConnectionError) and call.response is None and call.status is None


# --- events that end without an answer, or while observers change --------------------------


def test_a_cancelled_async_event_still_ends_for_its_observers(core: ModuleType, recorder: Recorder) -> None:
    router = fastevents.EventRouter()

    started: list[bool] = []

    @router.event("hang", 1)
    async def hang(event: fastevents.Event) -> Any:
        started.append(True)
        await asyncio.sleep(10)

    processor = EventProcessor(router, core=core)

    async def main() -> None:
        task = asyncio.ensure_future(processor.process_event_async(b'{"name": "hang", "version": 1}'))
        await wait_until_async(lambda: started, what="the handler runs")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    [call] = recorder.calls
    assert (call.status, call.answer_name) == ("cancelled", "")
    assert isinstance(call.exception, asyncio.CancelledError)


def test_an_event_in_flight_ends_with_the_observers_that_saw_it_start(core: ModuleType) -> None:
    router = fastevents.EventRouter()

    started: list[bool] = []

    @router.event("slow", 1)
    async def slow(event: fastevents.Event) -> Any:
        started.append(True)
        await asyncio.sleep(0.05)
        return {}

    processor = EventProcessor(router, core=core)
    observer = Recorder()

    async def main() -> bytes:
        fastevents.add_observer(observer)
        task = asyncio.ensure_future(processor.process_event_async(b'{"name": "slow", "version": 1}'))
        await wait_until_async(lambda: started)  # in flight
        fastevents.remove_observer(observer)  # the last one: dispatch stops paying for observers
        return await task

    answer = asyncio.run(main())
    assert b"slow:response" in answer
    assert [c.status for c in observer.calls] == ["response"]
