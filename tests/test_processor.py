"""The processor's behaviour beyond the conformance cases."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import threading
from decimal import Decimal
from types import ModuleType
from typing import Any

import msgspec
import pytest

from fastevents import (
    Event,
    EventBuilder,
    EventContextHolder,
    EventException,
    EventProcessor,
    EventRouter,
    ResponseEvent,
)

from .conftest import ExampleSchema, assert_envelope, build_fixture_router
from .waiting import wait_until_async

IDS = '"id": "11111111-1111-4111-8111-111111111111", "flowId": "22222222-2222-4222-8222-222222222222"'


def request(name: str = "echo:payload", version: Any = 1, payload: str = "{}", extra: str = "") -> bytes:
    return f'{{"name": "{name}", "version": {json.dumps(version)}, {IDS}, "payload": {payload}{extra}}}'.encode()


def answer(processor: EventProcessor, body: Any) -> dict[str, Any]:
    return assert_envelope(processor.process_event(body))


# --- input forms ------------------------------------------------------------------------


@pytest.mark.parametrize("convert", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_accepts_bytes_like_and_text_bodies(processor: EventProcessor, convert: Any) -> None:
    out = answer(processor, convert(request(payload='{"k": [1, 2]}')))
    assert out["name"] == "echo:payload:response"
    assert out["payload"] == {"k": [1, 2]}


def test_body_can_be_passed_by_keyword(processor: EventProcessor) -> None:
    assert answer(processor, request())["name"] == "echo:payload:response"
    assert assert_envelope(processor.process_event(body=request()))["name"] == "echo:payload:response"
    out = asyncio.run(processor.process_event_async(body=request()))
    assert assert_envelope(out)["name"] == "echo:payload:response"


def test_numeric_string_version_is_accepted_and_answered_as_integer(processor: EventProcessor) -> None:
    out = answer(processor, request("get:event:example", "2", '{"example": "x"}'))
    assert out["name"] == "get:event:example:response"
    assert out["version"] == 2


@pytest.mark.parametrize("version", ["", "1.0", "-1", -1, "x", "1e3", "١", True, 1.5, None, [1], {"v": 1}])
def test_invalid_version_answers_bad_protocol(processor: EventProcessor, version: Any) -> None:
    out = answer(processor, request(version=version))
    assert out["name"] == "badProtocol"
    assert out["payload"]["parameters"]["propertyName"] == "version"
    # the ids were readable, so they are the request's
    assert out["id"] == "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize("key", ["id", "flowId"])
@pytest.mark.parametrize("value", ["1", "true", "{}", "[]"])
def test_non_string_ids_answer_bad_protocol(processor: EventProcessor, key: str, value: str) -> None:
    body = f'{{"name": "echo:payload", "version": 1, "{key}": {value}}}'.encode()
    out = answer(processor, body)
    assert out["name"] == "badProtocol"
    assert out["payload"]["parameters"]["propertyName"] == key


@pytest.mark.parametrize("key", ["identity", "auth", "metadata"])
@pytest.mark.parametrize("value", ['"x"', "1", "[]", "true"])
def test_non_object_identity_auth_metadata_answer_bad_protocol(processor: EventProcessor, key: str, value: str) -> None:
    out = answer(processor, request(extra=f', "{key}": {value}'))
    assert out["name"] == "badProtocol"
    assert out["payload"]["parameters"]["propertyName"] == key


@pytest.mark.parametrize("key", ["identity", "auth", "metadata", "id", "flowId"])
def test_null_optional_fields_are_accepted(processor: EventProcessor, key: str) -> None:
    body = json.dumps({"name": "echo:payload", "version": 1, key: None, "payload": {"a": 1}}).encode()
    out = answer(processor, body)
    assert out["name"] == "echo:payload:response"


def test_missing_payload_is_an_empty_object(processor: EventProcessor) -> None:
    out = answer(processor, b'{"name": "echo:payload", "version": 1}')
    assert out["payload"] == {}


@pytest.mark.parametrize("payload", ["[1, 2, 3]", '"text"', "42", "null", "true", "1.5"])
def test_any_json_payload_passes_through(processor: EventProcessor, payload: str) -> None:
    out = answer(processor, request(payload=payload))
    assert out["name"] == "echo:payload:response"
    assert out["payload"] == json.loads(payload)


def test_unknown_top_level_keys_are_ignored(processor: EventProcessor) -> None:
    out = answer(processor, request(payload='{"a": 1}', extra=', "sessionId": "s", "x": [1, {}]'))
    assert out["payload"] == {"a": 1}


def test_big_numbers_round_trip_byte_for_byte(core: ModuleType) -> None:
    router = EventRouter()
    router.add("echo:raw", 1, lambda event, payload: payload, schema=msgspec.Raw)
    processor = EventProcessor(router, core=core)
    payload = b'{"big": 123456789012345678901234567890, "dec": 3.14159265358979323846264338327950288}'
    out = processor.process_event(b'{"name": "echo:raw", "version": 1, "payload": ' + payload + b"}")
    assert b'"payload":' + payload + b',"identity"' in out


def test_non_utf8_escapes_are_written_back_as_sent(processor: EventProcessor) -> None:
    out = processor.process_event(request(payload='{"s": "caf\\u00e9 \\ud83d\\ude00"}'))
    assert json.loads(out)["payload"] == {"s": "café 😀"}


# --- bad input never raises -------------------------------------------------------------

BAD_BODIES = [
    b"",
    b" ",
    b"{",
    b"{not json",
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b"{}",
    b'{"name": ""}',
    b'{"name": 1, "version": 1}',
    b'{"name": "echo:payload", "version": 1} trailing',
    b"\xff\xfe\x00",
    b'{"name": "echo:payload", "version": 1, "payload": "\xff"}',
    b'{"name": "echo:payload", "version": 1, "payload": "\xc3"}',
    b'\xef\xbb\xbf{"name": "echo:payload", "version": 1}',
    b'{"name": "echo:payload", "version": 99999999999999999999999999}',
    b'{"name": "echo:payload", "version": 1, "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"[" * 1_000_000,
    b'{"name": "echo:payload", "version": 1, "id": "a", "id": 5}',
    b'{"name": "\\ud800", "version": 1}',
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda b: repr(b[:40]))
def test_bad_bodies_answer_an_envelope_and_never_raise(processor: EventProcessor, body: bytes) -> None:
    out = answer(processor, body)
    if out["name"] == "badProtocol":
        assert out["payload"]["code"] == "INVALID_COMMUNICATION_PROTOCOL"
        assert set(out["payload"]["parameters"]) == {"propertyName", "message"}


def test_text_with_lone_surrogates_answers_bad_protocol(processor: EventProcessor) -> None:
    out = answer(processor, '{"name": "echo:payload", "version": 1, "payload": "\ud800"}')
    assert out["name"] == "badProtocol"


def test_invalid_utf8_inside_a_raw_payload_answers_bad_protocol(processor: EventProcessor) -> None:
    out = answer(processor, b'{"name": "echo:payload", "version": 1, "payload": {"k": "\xc3\x28"}}')
    assert out["name"] == "badProtocol"
    assert "UTF-8" in out["payload"]["parameters"]["message"]


@pytest.mark.parametrize("body", [None, 5, 10**12, 3.5, object(), [1], "\ud800"])
def test_non_body_objects_answer_bad_protocol(processor: EventProcessor, body: Any) -> None:
    out = answer(processor, body)
    assert out["name"] == "badProtocol"
    assert out["payload"]["parameters"]["message"] == "body is not UTF-8 bytes or text"


# --- handler results ----------------------------------------------------------------------


def test_raw_result_is_written_verbatim(core: ModuleType) -> None:
    router = EventRouter()
    router.add("raw:out", 1, lambda event: msgspec.Raw(b'{"pre":  "encoded" }'))
    out = EventProcessor(router, core=core).process_event(request("raw:out"))
    assert b'"payload":{"pre":  "encoded" },"identity"' in out


def test_struct_result_is_encoded(core: ModuleType) -> None:
    router = EventRouter()
    router.add("struct:out", 1, lambda event, p: ExampleSchema(example=p["x"]))
    out = answer(EventProcessor(router, core=core), request("struct:out", payload='{"x": "y"}'))
    assert out["payload"] == {"example": "y"}


def test_none_result_is_a_null_payload(core: ModuleType) -> None:
    router = EventRouter()
    router.add("none:out", 1, lambda event: None)
    assert answer(EventProcessor(router, core=core), request("none:out"))["payload"] is None


def test_response_event_result_is_sent_as_is(core: ModuleType) -> None:
    router = EventRouter()
    router.add("built:out", 1, lambda e: EventBuilder.response_for(e, {"a": 1}, metadata={"m": 2}))
    out = answer(EventProcessor(router, core=core), request("built:out"))
    assert out["name"] == "built:out:response"
    assert out["id"] == "11111111-1111-4111-8111-111111111111"
    assert out["payload"] == {"a": 1}
    assert out["metadata"] == {"m": 2}


def test_unencodable_result_is_a_generic_error(core: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    router = EventRouter()
    router.add("bad:out", 1, lambda event: {"when": object()})
    out = answer(EventProcessor(router, core=core), request("bad:out"))
    assert out["name"] == "bad:out:error"
    assert out["payload"] == {"code": "UNHANDLED_ERROR", "parameters": {}}


def test_unencodable_exception_parameters_are_a_generic_error(core: ModuleType) -> None:
    router = EventRouter()

    def fail(event: Event) -> None:
        raise EventException("X", {"obj": object()})

    router.add("bad:params", 1, fail)
    out = answer(EventProcessor(router, core=core), request("bad:params"))
    assert out["name"] == "bad:params:error"


def test_exception_text_never_reaches_the_wire(processor: EventProcessor) -> None:
    out = processor.process_event(request("fail:unhandled"))
    assert b"internal secret" not in out and b"Traceback" not in out and b"RuntimeError" not in out


class Inner(msgspec.Struct):
    count: int


class Outer(msgspec.Struct):
    items: list[Inner]


def test_typed_payload_error_names_the_field_path(core: ModuleType) -> None:
    router = EventRouter()
    router.add("nested:schema", 1, lambda event, payload: {}, schema=Outer)
    out = answer(
        EventProcessor(router, core=core), request("nested:schema", payload='{"items": [{"count": 1}, {"count": "2"}]}')
    )
    assert out["name"] == "nested:schema:badRequest"
    [field] = out["payload"]["parameters"]["fields"]
    assert field["name"] == "items[1].count"
    assert field["errorType"] == "type"


# --- raw payloads do not pin the request ---------------------------------------------------


def test_a_kept_raw_payload_does_not_pin_the_request_buffer(core: ModuleType) -> None:
    kept: list[msgspec.Raw] = []
    router = EventRouter()
    router.add("keep:raw", 1, lambda event, payload: kept.append(payload), schema=msgspec.Raw)
    processor = EventProcessor(router, core=core)
    filler = "x" * 1_000_000
    body = request("keep:raw", payload='{"small": 1}', extra=f', "metadata": {{"f": "{filler}"}}')
    before = sys.getrefcount(body)
    processor.process_event(body)
    assert bytes(kept[0]) == b'{"small": 1}'
    assert sys.getrefcount(body) == before  # nothing the handler kept refers to the body


# --- async handlers -----------------------------------------------------------------------


def test_sync_processor_runs_async_handlers_to_completion(processor: EventProcessor) -> None:
    out = answer(processor, request("async:echo", payload='{"z": true}'))
    assert out["name"] == "async:echo:response"
    assert out["payload"] == {"z": True}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_a_thread_s_event_loop_is_closed_when_the_thread_ends(processor: EventProcessor) -> None:
    # No garbage collection in between: the loops' file descriptors must not wait for one.
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def work() -> None:
        answers.append(answer(processor, request("async:echo"))["name"])

    answers: list[str] = []
    gc.collect()
    gc.disable()
    try:
        before = open_fds()
        for _ in range(1000):
            thread = threading.Thread(target=work)
            thread.start()
            thread.join()
        after = open_fds()
    finally:
        gc.enable()
    assert answers == ["async:echo:response"] * 1000
    assert after - before < 10, (before, after)  # three per thread before the fix


def test_sync_processor_inside_a_running_loop_answers_error_not_a_coroutine(
    processor: EventProcessor, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> bytes:
        return processor.process_event(request("async:echo"))

    with caplog.at_level(logging.ERROR, logger="fastevents"):
        out = assert_envelope(asyncio.run(main()))
    assert out["name"] == "async:echo:error"
    assert "process_event_async" in caplog.text


def test_async_processor_handles_sync_handlers_returning_awaitables(core: ModuleType) -> None:
    async def later(value: Any) -> Any:
        await asyncio.sleep(0)
        return value

    router = EventRouter()
    router.add("later:value", 1, lambda event, payload: later(payload))
    out = asyncio.run(EventProcessor(router, core=core).process_event_async(request("later:value", payload="[7]")))
    assert assert_envelope(out)["payload"] == [7]


def test_async_handler_exceptions_become_error_events(core: ModuleType) -> None:
    async def fail(event: Event) -> None:
        await asyncio.sleep(0)
        raise EventException("LATE", {"a": 1})

    router = EventRouter()
    router.add("late:fail", 1, fail)
    out = assert_envelope(asyncio.run(EventProcessor(router, core=core).process_event_async(request("late:fail"))))
    assert out["name"] == "late:fail:error"
    assert out["payload"] == {"code": "LATE", "parameters": {"a": 1}}


def test_concurrent_async_handlers_each_see_their_own_context(core: ModuleType) -> None:
    router = EventRouter()

    @router.event("ctx:slow", 1)
    async def slow(event: Event, payload: Any) -> Any:
        await asyncio.sleep(0.01 * payload)
        return EventContextHolder.get().id

    processor = EventProcessor(router, core=core)

    async def main() -> list[bytes]:
        bodies = [
            json.dumps({"name": "ctx:slow", "version": 1, "id": f"id-{i}", "payload": 3 - i}).encode() for i in range(3)
        ]
        return await asyncio.gather(*(processor.process_event_async(b) for b in bodies))

    outs = [json.loads(o) for o in asyncio.run(main())]
    assert [o["payload"] for o in outs] == ["id-0", "id-1", "id-2"]
    assert EventContextHolder.get().id is None


# --- context ------------------------------------------------------------------------------


def test_context_is_set_during_the_handler_and_cleared_after(core: ModuleType) -> None:
    seen: list[Any] = []
    router = EventRouter()

    @router.event("ctx:read", 1)
    def read(event: Event) -> None:
        ctx = EventContextHolder.get()
        seen.append((ctx.id, ctx.flow_id, ctx.event_name, ctx.event_version, ctx.user_id, ctx.user_type, ctx.origin))

    body = json.dumps(
        {
            "name": "ctx:read",
            "version": 1,
            "id": "i",
            "flowId": "f",
            "identity": {"user": {"id": "u-1", "type": "CUSTOMER"}},
            "metadata": {"origin": "app"},
        }
    ).encode()
    EventProcessor(router, core=core).process_event(body)
    assert seen == [("i", "f", "ctx:read", 1, "u-1", "CUSTOMER", "app")]
    ctx = EventContextHolder.get()
    assert (ctx.id, ctx.flow_id, ctx.event_name, ctx.event_version, ctx.user_id, ctx.origin) == (None,) * 6


def test_nested_processing_restores_the_outer_context(core: ModuleType) -> None:
    router = EventRouter()
    processor = EventProcessor(router, core=core)
    seen: list[Any] = []

    @router.event("outer:event", 1)
    def outer(event: Event) -> None:
        seen.append(EventContextHolder.get().id)
        processor.process_event(b'{"name": "inner:event", "version": 1, "id": "inner"}')
        seen.append(EventContextHolder.get().id)

    @router.event("inner:event", 1)
    def inner(event: Event) -> None:
        seen.append(EventContextHolder.get().id)

    processor.process_event(b'{"name": "outer:event", "version": 1, "id": "outer"}')
    assert seen == ["outer", "inner", "outer"]


# --- logging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level"),
    [("fail:unhandled", logging.ERROR), ("fail:typed", logging.WARNING), ("get:event:other", logging.INFO)],
)
def test_one_log_record_per_error_event_with_ids_and_no_auth(
    processor: EventProcessor, caplog: pytest.LogCaptureFixture, name: str, level: int
) -> None:
    body = request(name, extra=', "auth": {"token": "SECRET-TOKEN"}, "identity": {"userId": 7}')
    with caplog.at_level(logging.DEBUG, logger="fastevents"):
        processor.process_event(body)
    records = [r for r in caplog.records if r.name == "fastevents"]
    assert len(records) == 1
    [record] = records
    assert record.levelno == level
    assert record.event_id == "11111111-1111-4111-8111-111111111111"  # type: ignore[attr-defined]
    assert record.flow_id == "22222222-2222-4222-8222-222222222222"  # type: ignore[attr-defined]
    assert record.event_name == name and record.event_version == 1  # type: ignore[attr-defined]
    text = caplog.text + repr(record.__dict__)
    assert "SECRET-TOKEN" not in text


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x", "version": "v"}',  # badProtocol
        request("get:event:other"),  # eventNotFound
        request("get:event:example", payload='{"example": 5}'),  # badRequest
    ],
    ids=["badProtocol", "eventNotFound", "badRequest"],
)
def test_answers_the_client_caused_log_below_warning(
    processor: EventProcessor, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    # One hostile client causes one of these per request: at the default WARNING level
    # they must cost nothing and write nothing.
    with caplog.at_level(logging.WARNING, logger="fastevents"):
        processor.process_event(body)
    assert [r for r in caplog.records if r.name == "fastevents"] == []
    with caplog.at_level(logging.INFO, logger="fastevents"):
        processor.process_event(body)
    assert [r.levelno for r in caplog.records if r.name == "fastevents"] == [logging.INFO]


FORGED = ["a\nFAKE 2026-12-01 CRITICAL root: forged", "\x1b[2J\x1b[31mred", "a\u2028b\u202ec", "a\rb", "back\\slash"]


@pytest.mark.parametrize("where", ["name", "id", "flowId"])
@pytest.mark.parametrize("value", FORGED)
def test_log_records_escape_received_values(
    core: ModuleType, caplog: pytest.LogCaptureFixture, where: str, value: str
) -> None:
    fields = {"name": "get:event:other", "version": 1, "id": "i", "flowId": "f", where: value}
    with caplog.at_level(logging.DEBUG, logger="fastevents"):
        EventProcessor(build_fixture_router(), core=core).process_event(json.dumps(fields))
    [record] = [r for r in caplog.records if r.name == "fastevents"]
    message = record.getMessage()
    assert all(c.isprintable() for c in message), message
    extra = {"name": record.event_name, "id": record.event_id, "flowId": record.flow_id}  # type: ignore[attr-defined]
    assert all(c.isprintable() for c in extra[where])
    assert extra[where] in message


@pytest.mark.parametrize("where", ["name", "id"])
def test_log_records_bound_each_received_value(core: ModuleType, caplog: pytest.LogCaptureFixture, where: str) -> None:
    fields: dict[str, Any] = {"name": "get:event:other", "version": 1, where: "x" * 1_000_000}
    with caplog.at_level(logging.DEBUG, logger="fastevents"):
        EventProcessor(build_fixture_router(), core=core).process_event(json.dumps(fields))
    [record] = [r for r in caplog.records if r.name == "fastevents"]
    assert len(record.getMessage()) < 1000
    assert "(+999800 chars)" in record.getMessage()


def test_success_is_not_logged(processor: EventProcessor, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="fastevents"):
        processor.process_event(request())
    assert [r for r in caplog.records if r.name == "fastevents"] == []


def test_expected_event_exceptions_log_at_info(core: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    router = EventRouter()

    def gone(event: Event) -> None:
        raise EventException("GONE", expected=True, type="gone")

    router.add("it:gone", 1, gone)
    with caplog.at_level(logging.DEBUG, logger="fastevents"):
        out = answer(EventProcessor(router, core=core), request("it:gone"))
    assert out["name"] == "it:gone:gone"
    assert [r.levelno for r in caplog.records if r.name == "fastevents"] == [logging.INFO]


# --- routing is live ----------------------------------------------------------------------


def test_routes_added_after_the_processor_was_built_are_served(core: ModuleType) -> None:
    router = EventRouter()
    processor = EventProcessor(router, core=core)
    assert answer(processor, request("late:route"))["name"] == "eventNotFound"
    router.add("late:route", 1, lambda event: {"ok": True})
    assert answer(processor, request("late:route"))["payload"] == {"ok": True}


def test_nothing_keeps_the_event_after_dispatch(core: ModuleType) -> None:
    kept: list[Event] = []
    router = EventRouter()
    router.add("keep:event", 1, lambda event: kept.append(event))
    EventProcessor(router, core=core).process_event(request("keep:event"))
    refs = sys.getrefcount(kept[0])  # outside the assert: pytest's rewriting holds a reference
    assert refs == 2  # the list, and getrefcount's own argument


def test_response_event_from_json_reads_an_answer(processor: EventProcessor) -> None:
    response = ResponseEvent.from_json(processor.process_event(request("fail:typed")))
    assert response.is_error and response.error_type is not None
    assert response.error_type.value == "badRequest"


# --- found in review ------------------------------------------------------------------------


def test_sync_processor_runs_each_async_handler_in_the_callers_current_context(core: ModuleType) -> None:
    router = EventRouter()

    @router.event("ctx:async", 1)
    async def read(event: Event) -> Any:
        return [EventContextHolder.get().id, event.id]

    processor = EventProcessor(router, core=core)
    seen = [
        json.loads(processor.process_event(json.dumps({"name": "ctx:async", "version": 1, "id": f"id-{i}"})))
        for i in range(3)
    ]
    assert [s["payload"] for s in seen] == [[f"id-{i}", f"id-{i}"] for i in range(3)]


@pytest.mark.parametrize("number", ["1e400", "-1e400", "[1e400]"])
def test_out_of_range_numbers_in_a_plain_payload_never_raise(processor: EventProcessor, number: str) -> None:
    out = answer(processor, request(payload=number))
    assert out["name"] == "echo:payload:response"
    assert json.loads(processor.process_event(request(payload=number)))["payload"] == json.loads(number)


@pytest.mark.parametrize(
    "number",
    [
        "7" * 5000,
        "-" + "7" * 5000,
        "0.12345678901234567890123",
        "-1.50",
        "123456789012345678901234567890",
        "1.7976931348623157e308",
        "0.1",
        "-0.0",
        "1e5",
        "1E-7",
        "2.50e+3",
    ],
)
def test_numbers_in_a_plain_payload_round_trip_exactly(processor: EventProcessor, number: str) -> None:
    out = processor.process_event(request(payload=f'{{"n": {number}}}'))
    assert f'"payload":{{"n":{number}}}'.encode() in out


def test_plain_payload_floats_are_floats_when_exact(processor: EventProcessor, core: ModuleType) -> None:
    router = EventRouter()
    router.add(
        "types:of",
        1,
        lambda event, payload: ["Decimal" if isinstance(v, Decimal) else type(v).__name__ for v in payload],
    )
    out = answer(EventProcessor(router, core=core), request("types:of", payload="[1.5, 0.12345678901234567890123, 2]"))
    assert out["payload"] == ["float", "Decimal", "int"]


def test_a_cancelled_inner_task_is_an_error_answer_not_an_escape(core: ModuleType) -> None:
    async def handler(event: Event) -> None:
        inner = asyncio.ensure_future(asyncio.sleep(10))
        inner.cancel()
        await inner

    def sync_handler(event: Event) -> None:
        raise asyncio.CancelledError

    router = EventRouter()
    router.add("cancel:inner", 1, handler)
    router.add("cancel:sync", 1, sync_handler)
    processor = EventProcessor(router, core=core)
    for name in ("cancel:inner", "cancel:sync"):
        assert answer(processor, request(name))["name"] == f"{name}:error"
        out = assert_envelope(asyncio.run(processor.process_event_async(request(name))))
        assert out["name"] == f"{name}:error"


def test_cancelling_the_caller_still_cancels(core: ModuleType) -> None:
    router = EventRouter()

    started: list[bool] = []

    @router.event("slow:one", 1)
    async def slow(event: Event) -> None:
        started.append(True)
        await asyncio.sleep(10)

    processor = EventProcessor(router, core=core)

    async def main() -> None:
        task = asyncio.ensure_future(processor.process_event_async(request("slow:one")))
        await wait_until_async(lambda: started)  # the handler is waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_cycles_through_a_received_event_are_collected(core: ModuleType) -> None:
    import gc

    router = EventRouter()

    @router.event("make:cycle", 1)
    def make_cycle(event: Event, payload: Any) -> None:
        payload["me"] = event  # payload -> event -> payload
        event.metadata["me"] = event  # and through a lazily decoded slot

    processor = EventProcessor(router, core=core)
    gc.collect()
    before = sum(1 for o in gc.get_objects() if isinstance(o, Event))
    for _ in range(200):
        processor.process_event(request("make:cycle", payload="{}"))
    gc.collect()
    after = sum(1 for o in gc.get_objects() if isinstance(o, Event))
    assert after - before < 5
