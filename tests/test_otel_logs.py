"""EventContextFilter: log records carry the current event (and span when instrumented)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from fastevents import Event, EventContextFilter, EventProcessor, EventRouter

log = logging.getLogger("tests.otel.handler")

TOKEN = "secret-bearer-token-42"


class Capture(logging.Handler):
    """Keeps each record's attributes and its formatted text."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []
        self.addFilter(EventContextFilter())
        self.setFormatter(
            logging.Formatter(
                "%(message)s|%(event_id)s|%(flow_id)s|%(event_name)s|%(event_version)s|%(trace_id)s|%(span_id)s"
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({**record.__dict__, "text": self.format(record)})


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


def logging_router() -> EventRouter:
    router = EventRouter()

    @router.event("log:sync", 3)
    def sync(event: Event) -> Any:
        log.info("inside sync")
        return {}

    @router.event("log:async", 1)
    async def async_(event: Event) -> Any:
        await asyncio.sleep(0)
        log.info("inside async")
        return {}

    return router


def body(name: str, version: int) -> bytes:
    return json.dumps(
        {
            "name": name,
            "version": version,
            "id": "id-1",
            "flowId": "flow-1",
            "auth": {"token": TOKEN},
            "identity": {"userId": 7},
            "metadata": {"origin": "test"},
        }
    ).encode()


def test_sync_handler_records_carry_the_event(capture: Capture, core: ModuleType) -> None:
    processor = EventProcessor(logging_router(), core=core)
    answer = json.loads(processor.process_event(body("log:sync", 3)))
    assert answer["name"] == "log:sync:response"
    (record,) = capture.records
    assert (record["event_id"], record["flow_id"], record["event_name"], record["event_version"]) == (
        "id-1",
        "flow-1",
        "log:sync",
        3,
    )
    assert record["text"].startswith("inside sync|id-1|flow-1|log:sync|3|")


def test_async_handler_records_carry_the_event(capture: Capture, core: ModuleType) -> None:
    processor = EventProcessor(logging_router(), core=core)
    asyncio.run(processor.process_event_async(body("log:async", 1)))
    (record,) = capture.records
    assert (record["event_id"], record["event_name"], record["event_version"]) == ("id-1", "log:async", 1)


def test_records_outside_a_handler_have_the_fields_set_to_none(capture: Capture) -> None:
    log.info("outside")
    (record,) = capture.records
    assert record["text"] == "outside|None|None|None|None|None|None"


def test_auth_never_reaches_a_record(capture: Capture, core: ModuleType) -> None:
    processor = EventProcessor(logging_router(), core=core)
    processor.process_event(body("log:sync", 3))
    (record,) = capture.records
    assert TOKEN not in repr(record)
    assert not {"auth", "identity", "payload", "metadata"} & record.keys()


def test_extra_fields_win_over_the_filter(capture: Capture, core: ModuleType) -> None:
    router = EventRouter()

    @router.event("log:extra", 1)
    def extra(event: Event) -> Any:
        log.info("mine", extra={"event_id": "explicit"})
        return {}

    EventProcessor(router, core=core).process_event(body("log:extra", 1))
    assert capture.records[0]["event_id"] == "explicit"
    assert capture.records[0]["flow_id"] == "flow-1"
