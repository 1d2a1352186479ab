"""Time the real ``events-protocol`` 0.2.4 dispatching events; runs INSIDE the seed venv.

Only the standard library, ``events_protocol`` and pydantic v1 are importable there
(see ``tools/seedenv.py``), so timing uses the stdlib-only ``harness.py`` (``perf_counter_ns``
loops) rather than pytest-benchmark, on the very request bodies of ``scenarios.py``. The
server is built exactly as the package's README shows: a ``CamelPydanticMixin`` schema, an
``EventHandler`` subclass with ``_SCHEMA``, an ``EventRegister`` subclass,
``register_event()`` and ``EventProcessor.process_event``.

Usage::

    python seed_worker.py --scenario success --seconds 1.0   # or --number N
    python seed_worker.py --batch success,not_found --round-seconds 0.05 --rounds 5
    python seed_worker.py --memory 100000 [--scenario success]
    python seed_worker.py --check [--scenario NAME]          # print the answer body
    python seed_worker.py --check-all                        # every answer, as JSON lines

The timed operation is bytes in, bytes out: ``process_event(body.decode()).encode()``,
since the package's API takes and returns ``str``. Each timing prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import sys
from collections.abc import Callable, Iterator
from typing import Any

# This file runs as a script: its own folder is on sys.path.
import handlers
import harness
import scenarios
from events_protocol.core.builder import EventBuilder
from events_protocol.core.model.base import CamelPydanticMixin
from events_protocol.core.model.event import Event, ResponseEvent
from events_protocol.server.handler.event_handler import EventHandler
from events_protocol.server.handler.event_handler_discovery import EventDiscovery
from events_protocol.server.handler.event_handler_registry import EventRegister
from events_protocol.server.parser.event_processor import EventProcessor

# Importing events_protocol runs logging.basicConfig(level=INFO) on the root logger and
# starts a QueueListener thread that writes "gb.events_protocol" records as JSON to
# *stdout*. Left alone, every registration and every error
# answer would print a log line, which distorts the timing and corrupts our one-line
# JSON output. Raise its loggers (and the root it configured) to CRITICAL. The package
# still builds the log "extra" argument (``response_event.json()``) before the level
# check; that cost is its own and stays in the measurement.
for _logger_name in ("gb.events_protocol", "gb", ""):
    logging.getLogger(_logger_name).setLevel(logging.CRITICAL)

IMPL = "events-protocol 0.2.4"

SCENARIOS = {s.name: s for s in scenarios.all_scenarios()}
SCENARIO_BODIES: dict[str, bytes] = {name: s.body for name, s in SCENARIOS.items()}

SCENARIO_NOTES: dict[str, str] = {
    "envelope": "Event.from_json(body.decode()): json.loads + pydantic v1 model",
    "success": "README example; answer echoes request identity/auth/metadata",
    "not_found": "answers '<name>:notFound' with code EVENT_NOT_FOUND, not 'eventNotFound'/NO_EVENT_HANDLER_FOUND",
    "bad_payload": "answers '<name>:badRequest' MISSING_FIELDS",
    "unhandled_error": "RuntimeError escaped process_event, no error event; timed including the worker's except clause",
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
        return EventBuilder.response_for(event, handlers.example(event, payload))


class FailingHandler(EventHandler):
    """A handler that raises a plain exception, for the unhandled-error scenario."""

    _SCHEMA = MyEventSchema

    @classmethod
    def handle(cls, event: Event) -> ResponseEvent:
        return EventBuilder.response_for(event, handlers.failing(event, cls.parse_event(event)))


class Item(CamelPydanticMixin):
    """One element of the payload-size scenarios' typed list."""

    id: int
    name: str
    qty: int
    tags: list[str]


class Batch(CamelPydanticMixin):
    """The payload-size scenarios' schema: a typed list."""

    items: list[Item]


class BatchHandler(EventHandler):
    """Echo: decode the typed list, answer ``{"count": n, "items": [...]}``."""

    _SCHEMA = Batch

    @classmethod
    def handle(cls, event: Event) -> ResponseEvent:
        payload = cls.parse_event(event)
        return EventBuilder.response_for(event, handlers.batch(event, payload))


class MyEventRegister(EventRegister):
    """The README's registration."""

    event_name = scenarios.EXAMPLE_NAME
    event_version = 1
    event_handler = MyHandler


class FailingEventRegister(EventRegister):
    """Registration of the failing handler."""

    event_name = scenarios.FAIL_NAME
    event_version = 1
    event_handler = FailingHandler


class BatchEventRegister(EventRegister):
    """Registration of the echo handler of the payload-size scenarios."""

    event_name = scenarios.BATCH_NAME
    event_version = 1
    event_handler = BatchHandler


MyEventRegister.register_event()
FailingEventRegister.register_event()
BatchEventRegister.register_event()


@contextlib.contextmanager
def routes_installed(scenario: str) -> Iterator[None]:
    """For ``routes_<n>``: a registry holding exactly n copies of the README route."""
    if not scenario.startswith("routes_"):
        yield
        return
    saved = EventDiscovery._events
    EventDiscovery._events = {}
    try:
        for name in scenarios.route_names(int(scenario.split("_")[1])):
            EventDiscovery.add(name, MyHandler, 1)  # what EventRegister.register_event() calls
        yield
    finally:
        EventDiscovery._events = saved


def dispatch(body: bytes) -> bytes:
    """Dispatch one event, bytes in and bytes out, as a web framework would."""
    return EventProcessor.process_event(body.decode()).encode()


def parse_envelope(body: bytes) -> Event:
    """Read one envelope as the processor does (``EventProcessor.parse_event``'s core)."""
    return Event.from_json(body.decode())


def _escaping(body: bytes) -> object:
    try:
        return dispatch(body)
    except RuntimeError as exc:
        return exc


def make_operation(scenario: str) -> tuple[Callable[[bytes], object], bool]:
    """Return the function to time (called with the body) and whether it yields an answer."""
    body = SCENARIO_BODIES[scenario]
    if scenario == "envelope":
        return parse_envelope, True
    try:
        dispatch(body)
    except RuntimeError:
        return _escaping, False
    return dispatch, True


def measure(scenario: str, seconds: float | None, number: int | None, rounds: int) -> dict[str, object]:
    """Time ``scenario`` over ``rounds`` rounds and return the result record."""
    with routes_installed(scenario):
        function, ok = make_operation(scenario)
        operation = (function, SCENARIO_BODIES[scenario])
        if number is None:
            number = harness.calibrate(operation, (seconds or 1.0) / rounds)
        harness.time_round(operation, max(1, number // 5))  # warm-up
        per_op = [harness.time_round(operation, number) / number for _ in range(rounds)]
    return {
        "impl": IMPL,
        "scenario": scenario,
        "ns_per_op_min": round(min(per_op), 1),
        "ns_per_op_median": round(statistics.median(per_op), 1),
        "rounds": rounds,
        "number": number,
        "ok": ok,
        "note": SCENARIO_NOTES.get(scenario, ""),
    }


def check(scenario: str) -> str:
    """The answer body to ``scenario`` (an escaping exception propagates)."""
    with routes_installed(scenario):
        if scenario == "envelope":
            return parse_envelope(SCENARIO_BODIES[scenario]).to_json()
        return dispatch(SCENARIO_BODIES[scenario]).decode()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIO_BODIES), default="success")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="total timed seconds (default 1.0)")
    budget.add_argument("--number", type=int, help="operations per round")
    budget.add_argument("--round-seconds", type=float, help="seconds per round (with --batch)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", help="comma-separated scenarios: one JSON line each")
    parser.add_argument("--memory", type=int, metavar="N", help="measure memory over N dispatches")
    parser.add_argument("--check", action="store_true", help="print the answer body instead of timing")
    parser.add_argument("--check-all", action="store_true", help="one JSON line per scenario: its answer or error")
    args = parser.parse_args(argv)
    if args.check_all:
        import events_protocol
        import pydantic

        versions = {
            "events_protocol": events_protocol.__version__,
            "pydantic": pydantic.VERSION,
            "python": sys.version.split()[0],
        }
        sys.stdout.write(json.dumps({"versions": versions}) + "\n")
        for name in SCENARIO_BODIES:
            try:
                line = {"scenario": name, "answer": check(name), "error": None}
            except Exception as exc:  # the package lets handler errors escape
                line = {"scenario": name, "answer": None, "error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(line) + "\n")
        return 0
    if args.check:
        # An escaping exception propagates: traceback on stderr, exit status 1.
        sys.stdout.write(check(args.scenario) + "\n")
        return 0
    if args.memory:
        function, ok = make_operation(args.scenario)
        record: dict[str, Any] = {"impl": IMPL, "scenario": args.scenario, "ok": ok}
        record.update(harness.measure_memory((function, SCENARIO_BODIES[args.scenario]), args.memory))
        sys.stdout.write(json.dumps(record) + "\n")
        return 0
    names = args.batch.split(",") if args.batch else [args.scenario]
    for name in names:
        if name not in SCENARIO_BODIES:
            parser.error(f"unknown scenario {name!r}")
        seconds = args.round_seconds * args.rounds if args.round_seconds else args.seconds
        record = measure(name, seconds, args.number, args.rounds)
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
