"""Time the real ``events-protocol`` 0.2.4 dispatching one event; runs INSIDE the seed venv.

Only the standard library, ``events_protocol`` and pydantic v1 are importable there
(see ``seed_env.py``), so timing uses ``time.perf_counter_ns`` directly rather than
pytest-benchmark. The server is built exactly as the package's README shows: a
``CamelPydanticMixin`` schema, an ``EventHandler`` subclass with ``_SCHEMA``, an
``EventRegister`` subclass, ``register_event()`` and ``EventProcessor.process_event``.

Usage::

    python seed_worker.py --scenario success --seconds 1.0   # or --number N
    python seed_worker.py --check [--scenario NAME]          # print the answer body

The timed operation is bytes in, bytes out: ``process_event(body.decode()).encode()``,
since the package's API takes and returns ``str``. The timing mode prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable

from events_protocol.core.builder import EventBuilder
from events_protocol.core.model.base import CamelPydanticMixin
from events_protocol.core.model.event import Event, ResponseEvent
from events_protocol.server.handler.event_handler import EventHandler
from events_protocol.server.handler.event_handler_registry import EventRegister
from events_protocol.server.parser.event_processor import EventProcessor

# Importing events_protocol runs logging.basicConfig(level=INFO) on the root logger and
# starts a QueueListener thread that writes "gb.events_protocol" records as JSON to
# *stdout* (SEED-API.md, defect 10). Left alone, every registration and every error
# answer would print a log line, which distorts the timing and corrupts our one-line
# JSON output. Raise its loggers (and the root it configured) to CRITICAL. The package
# still builds the log "extra" argument (``response_event.json()``) before the level
# check; that cost is its own and stays in the measurement.
for _logger_name in ("gb.events_protocol", "gb", ""):
    logging.getLogger(_logger_name).setLevel(logging.CRITICAL)

IMPL = "events-protocol 0.2.4"

EXAMPLE_BODY = (
    b'{"name": "get:event:example", "version": 1, '
    b'"id": "9230c47c-3bcf-11ea-b77f-2e728ce88125", '
    b'"flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125", '
    b'"payload": {"example": "example"}, "identity": {"userId": "USER_ID"}, '
    b'"auth": {"token": "SECRET-TOKEN"}, "metadata": {"date": "00-00-0000"}}'
)

SCENARIO_BODIES: dict[str, bytes] = {
    "success": EXAMPLE_BODY,
    "not_found": EXAMPLE_BODY.replace(b'"get:event:example"', b'"get:event:unknown"'),
    "bad_payload": EXAMPLE_BODY.replace(b'{"example": "example"}', b'{"other": 1}'),
    "unhandled_error": EXAMPLE_BODY.replace(b'"get:event:example"', b'"get:event:fail"'),
}

SCENARIO_NOTES: dict[str, str] = {
    "success": "README example; answer echoes request identity/auth/metadata (defect 8)",
    "not_found": "answers '<name>:notFound' with code EVENT_NOT_FOUND, "
    "not 'eventNotFound'/NO_EVENT_HANDLER_FOUND",
    "bad_payload": "answers '<name>:badRequest' MISSING_FIELDS",
    "unhandled_error": "RuntimeError escaped process_event, no error event (defect 4); "
    "timed including the worker's except clause",
}


class MyEventSchema(CamelPydanticMixin):
    """The README's payload schema."""

    example: str


class MyHandler(EventHandler):
    """The README's handler."""

    _SCHEMA = MyEventSchema

    @classmethod
    def handle(cls, event: Event) -> ResponseEvent:
        payload = cls.parse_event(event)
        response = {"MyEventPayload": payload.example}
        return EventBuilder.response_for(event, response)


class FailingHandler(EventHandler):
    """A handler that raises a plain exception, for the unhandled-error scenario."""

    _SCHEMA = MyEventSchema

    @classmethod
    def handle(cls, event: Event) -> ResponseEvent:
        raise RuntimeError("boom")


class MyEventRegister(EventRegister):
    """The README's registration."""

    event_name = "get:event:example"
    event_version = 1
    event_handler = MyHandler


class FailingEventRegister(EventRegister):
    """Registration of the failing handler."""

    event_name = "get:event:fail"
    event_version = 1
    event_handler = FailingHandler


MyEventRegister.register_event()
FailingEventRegister.register_event()


def dispatch(body: bytes) -> bytes:
    """Dispatch one event, bytes in and bytes out, as a web framework would."""
    return EventProcessor.process_event(body.decode()).encode()


def make_operation(scenario: str) -> tuple[Callable[[], object], bool]:
    """Return the operation to time and whether it yields an answer (no escaped exception)."""
    body = SCENARIO_BODIES[scenario]
    try:
        dispatch(body)
    except RuntimeError:

        def escaping() -> object:
            try:
                return dispatch(body)
            except RuntimeError as exc:
                return exc

        return escaping, False
    return (lambda: dispatch(body)), True


def _time_round(operation: Callable[[], object], number: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(number):
        operation()
    return time.perf_counter_ns() - start


def _calibrate(operation: Callable[[], object], round_seconds: float) -> int:
    """Return a loop count whose round lasts about ``round_seconds``."""
    number = 1
    while True:
        elapsed = _time_round(operation, number)
        if elapsed >= 0.02e9 or number >= 1 << 24:
            return max(1, int(number * round_seconds * 1e9 / max(elapsed, 1)))
        number *= 4


def measure(
    scenario: str, seconds: float | None, number: int | None, rounds: int
) -> dict[str, object]:
    """Time ``scenario`` over ``rounds`` rounds and return the result record."""
    operation, ok = make_operation(scenario)
    if number is None:
        number = _calibrate(operation, (seconds or 1.0) / rounds)
    _time_round(operation, max(1, number // 5))  # warm-up
    per_op = [_time_round(operation, number) / number for _ in range(rounds)]
    return {
        "impl": IMPL,
        "scenario": scenario,
        "ns_per_op_min": round(min(per_op), 1),
        "ns_per_op_median": round(statistics.median(per_op), 1),
        "rounds": rounds,
        "number": number,
        "ok": ok,
        "note": SCENARIO_NOTES[scenario],
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIO_BODIES), default="success")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="total timed seconds (default 1.0)")
    budget.add_argument("--number", type=int, help="operations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--check", action="store_true", help="print the answer body instead of timing"
    )
    args = parser.parse_args(argv)
    if args.check:
        # An escaping exception propagates: traceback on stderr, exit status 1.
        sys.stdout.write(dispatch(SCENARIO_BODIES[args.scenario]).decode() + "\n")
        return 0
    record = measure(args.scenario, args.seconds, args.number, args.rounds)
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
