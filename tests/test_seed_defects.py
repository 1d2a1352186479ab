"""One test per defect of events-protocol 0.2.4 (docs/seed-defects.md) that concerns the core.

The client's defects (5, 6, 7) are tested with the clients; the speed defect (16) is
measured by the benchmarks, not by a test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from fastevents import (
    DuplicateEventError,
    Event,
    EventContextHolder,
    EventProcessor,
    EventRouter,
    RedirectPayload,
)

from .conftest import CamelStruct, assert_envelope

SEED_REQUEST = (
    '{"name": "echo:payload", "version": 1, "id": "9230c47c-3bcf-11ea-b77f-2e728ce88125", '
    '"flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125", "payload": {"example": "example"}, '
    '"identity": {"userId": "USER_ID"}, "auth": {"token": "SECRET-TOKEN"}, "metadata": {"date": "00-00-0000"}}'
)


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_defect_1_imports_without_pydantic() -> None:
    out = _python(
        "import sys, fastevents, fastevents.compat; print(sorted(m for m in sys.modules if m.startswith('pydantic')))"
    )
    assert out.strip() == "[]"


def test_defect_2_events_without_ids_get_fresh_distinct_ids(processor: EventProcessor) -> None:
    answers = [assert_envelope(processor.process_event(b'{"name": "echo:payload", "version": 1}')) for _ in range(3)]
    ids = {a["id"] for a in answers} | {a["flowId"] for a in answers}
    assert len(ids) == 6


@pytest.mark.parametrize("body", [b"{not json", b'{"version": 1}', b"", b"[1]"])
def test_defect_3_bad_bodies_answer_bad_protocol(processor: EventProcessor, body: bytes) -> None:
    assert assert_envelope(processor.process_event(body))["name"] == "badProtocol"


@pytest.mark.parametrize("exc", [RuntimeError, KeyError, ZeroDivisionError, AttributeError, ValueError])
def test_defect_4_any_handler_exception_becomes_an_error_event(core: Any, exc: type[Exception]) -> None:
    router = EventRouter()

    def fail(event: Event) -> None:
        raise exc("boom")

    router.add("will:fail", 1, fail)
    out = assert_envelope(EventProcessor(router, core=core).process_event(b'{"name": "will:fail", "version": 1}'))
    assert out["name"] == "will:fail:error"
    assert out["payload"] == {"code": "UNHANDLED_ERROR", "parameters": {}}


def test_defect_8_answers_echo_neither_identity_nor_auth_nor_metadata(
    processor: EventProcessor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for name in ("echo:payload", "fail:unhandled", "fail:typed", "unknown:event"):
            out = processor.process_event(SEED_REQUEST.replace("echo:payload", name))
            value = assert_envelope(out)
            assert (value["identity"], value["auth"], value["metadata"]) == ({}, {}, {})
            assert b"SECRET-TOKEN" not in out
    assert "SECRET-TOKEN" not in caplog.text


def test_defect_9_uuid_user_ids_do_not_crash_the_async_processor(core: Any) -> None:
    router = EventRouter()
    router.add("who:am_i", 1, lambda event: [event.user_id, EventContextHolder.get().user_id])
    body = json.dumps(
        {"name": "who:am_i", "version": 1, "identity": {"user": {"id": "0b7e6c1a-3f3e-4a39-9e51-8e1d0f0f3a11"}}}
    )
    out = json.loads(asyncio.run(EventProcessor(router, core=core).process_event_async(body)))
    assert out["payload"] == ["0b7e6c1a-3f3e-4a39-9e51-8e1d0f0f3a11"] * 2


@pytest.mark.slow
def test_defect_10_import_configures_no_logging_and_starts_no_thread() -> None:
    out = _python(
        "import logging, threading\n"
        "before = (list(logging.root.handlers), logging.root.level)\n"
        "import fastevents, fastevents.compat\n"
        "print(json.dumps([before == (list(logging.root.handlers), logging.root.level),"
        " logging.getLogger('fastevents').handlers == [], threading.active_count()]))".replace(
            "import logging,", "import json, logging,"
        )
    )
    assert json.loads(out) == [True, True, 1]


def test_defect_11_nested_contexts_restore_the_outer_one() -> None:
    outer, inner = Event(name="a:b", version=1, id="outer"), Event(name="a:b", version=1, id="inner")
    with EventContextHolder.with_context(outer):
        with EventContextHolder.with_context(inner):
            assert EventContextHolder.get().id == "inner"
        assert EventContextHolder.get().id == "outer"
    assert EventContextHolder.get().id is None

    async def nested() -> list[Any]:
        seen = []
        async with EventContextHolder.with_async_context(outer):
            async with EventContextHolder.with_async_context(inner):
                await asyncio.sleep(0)
                seen.append(EventContextHolder.get().id)
            seen.append(EventContextHolder.get().id)
        return seen

    assert asyncio.run(nested()) == ["inner", "outer"]


class Token(CamelStruct):
    token: str


def test_defect_12_redirect_payload_and_identity_as_auth_as_work() -> None:
    first, second = RedirectPayload(url="a"), RedirectPayload(url="b")
    assert first.query_parameters is not second.query_parameters
    event = Event.from_json(SEED_REQUEST)
    assert event.auth_as(Token) == Token(token="SECRET-TOKEN")
    assert event.identity_as(dict) == {"userId": "USER_ID"}


@pytest.mark.parametrize("payload", ["[1, 2]", '"s"', "3", "null", "false"])
def test_defect_13_non_object_payloads_are_served(processor: EventProcessor, payload: str) -> None:
    body = f'{{"name": "echo:payload", "version": 1, "payload": {payload}}}'
    assert assert_envelope(processor.process_event(body))["payload"] == json.loads(payload)


def test_defect_14_name_validation_checks_the_whole_name() -> None:
    router = EventRouter(validate_names=True)
    router.add("get:event:example", 1, lambda e: None)
    with pytest.raises(ValueError):
        router.add("get:event:example; DROP TABLE", 1, lambda e: None)


def test_defect_15_routers_are_separate_and_duplicates_raise() -> None:
    a, b = EventRouter(), EventRouter()
    a.add("same:name", 1, lambda e: "a")
    b.add("same:name", 1, lambda e: "b")  # another router: no clash
    with pytest.raises(DuplicateEventError):
        a.add("same:name", 1, lambda e: "again")
