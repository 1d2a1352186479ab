"""An idiomatic pydantic v2 implementation of events-protocol dispatch, for the benchmarks.

This is the comparison point "what a pydantic expert would write today": bytes in,
bytes out, the same answers as fastevents for success, eventNotFound, badRequest,
unhandled errors and badProtocol (``scenarios.expected_answer``), with the same handlers
(``handlers.py``). Design choices, each
measured on one core (pydantic 2.14 / pydantic-core 2.50, Python 3.11):

* Envelope: a ``BaseModel`` read with ``model_validate_json`` (about 1.6 us for the
  README event). A ``TypedDict`` envelope through a ``TypeAdapter`` is about 0.4 us
  faster but gives up attribute access and model semantics; we keep the model.
* ``payload: Any``. ``pydantic.Json`` is no option: it validates a JSON *string*
  nested in the document and rejects an object payload (``json_type`` error), and
  pydantic v2 has no raw-JSON passthrough type. ``Any`` hands the parsed value over
  without a copy or per-key checks, which is the cheapest pydantic offers.
* Payload schema: one ``TypeAdapter(schema).validate_python`` per route, built at
  registration (about 0.48 us; ``Model.model_validate`` measured 0.62 us).
* Answers: a plain dict in wire key order serialised by ``pydantic_core.to_json``,
  about 0.45 us. ``TypeAdapter(dict[str, Any]).dump_json`` runs the same serializer
  behind a Python wrapper (about 0.8 us); ``Response(...).model_dump_json()`` costs
  about 2.1 us (validation) and ``model_construct(...).model_dump_json()`` 3.2 us.
* Context: the current envelope is put in a ``ContextVar`` while the handler runs,
  as the protocol requires (section 5), so ``current_event()`` works in handlers.

Run ``python benchmarks/pydantic_variant.py`` for a self-check and per-event timings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NamedTuple

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

try:
    from . import handlers, scenarios
except ImportError:  # run as a script: ``python benchmarks/pydantic_variant.py``
    import handlers  # type: ignore[no-redef]
    import scenarios  # type: ignore[no-redef]

Handler = Callable[[Any, Any], Any]  # (event, payload), as fastevents calls its handlers


class Envelope(BaseModel):
    """A request envelope; camelCase on the wire, unknown keys ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str = Field(min_length=1)
    version: int  # lax mode: the numeric strings of Go / old JS clients are accepted
    id: str | None = None
    flow_id: str | None = Field(default=None, alias="flowId")
    payload: Any = Field(default_factory=dict)
    identity: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class Route(NamedTuple):
    """A registered handler and its payload validator."""

    handler: Handler
    validate_payload: Callable[[Any], Any]


_current_event: ContextVar[Envelope | None] = ContextVar("pydantic_variant_event", default=None)


def current_event() -> Envelope | None:
    """Return the envelope of the event being handled, or None outside a handler."""
    return _current_event.get()


class PydanticRouter:
    """A ``(name, version) -> Route`` table."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, int], Route] = {}

    def add(self, name: str, version: int, handler: Handler, schema: Any) -> None:
        """Register ``handler`` for ``(name, version)``; its payload must match ``schema``."""
        key = (name, version)
        if key in self.routes:
            raise ValueError(f"a handler is already registered for {name} v{version}")
        self.routes[key] = Route(handler, TypeAdapter(schema).validate_python)


def _answer(name: str, version: int, event_id: str, flow_id: str, payload: Any) -> bytes:
    return pydantic_core.to_json(
        {
            "name": name,
            "version": version,
            "id": event_id,
            "flowId": flow_id,
            "payload": payload,
            "identity": {},
            "auth": {},
            "metadata": {},
        }
    )


def _readable_id(document: Any, key: str) -> str:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, str) else str(uuid.uuid4())


def _bad_protocol(body: bytes | str, exc: ValidationError) -> bytes:
    error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    location = error["loc"]
    try:
        document = pydantic_core.from_json(body)
    except ValueError:
        document = None
    return _answer(
        "badProtocol",
        1,
        _readable_id(document, "id"),
        _readable_id(document, "flowId"),
        {
            "code": "INVALID_COMMUNICATION_PROTOCOL",
            "parameters": {
                "propertyName": str(location[0]) if location else None,
                "message": error["msg"],
            },
        },
    )


def _missing_fields(exc: ValidationError) -> dict[str, Any]:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    fields = [
        {
            "name": ".".join(str(part) for part in error["loc"]),
            "errorType": error["type"],
            "message": error["msg"],
        }
        for error in errors
    ]
    return {"code": "MISSING_FIELDS", "parameters": {"fields": fields}}


class PydanticProcessor:
    """Dispatches one event, bytes in, bytes out, never raising."""

    def __init__(self, router: PydanticRouter) -> None:
        self._routes = router.routes

    def process_event(self, body: bytes | str) -> bytes:
        """Validate the envelope, route it, run the handler and serialise the answer."""
        try:
            event = Envelope.model_validate_json(body)
        except ValidationError as exc:
            return _bad_protocol(body, exc)
        if event.id is None:  # a fresh UUID per event, visible to the handler too
            event.id = str(uuid.uuid4())
        if event.flow_id is None:
            event.flow_id = str(uuid.uuid4())
        name = event.name
        version = event.version
        event_id = event.id
        flow_id = event.flow_id
        route = self._routes.get((name, version))
        if route is None:
            return _answer(
                "eventNotFound",
                1,
                event_id,
                flow_id,
                {
                    "code": "NO_EVENT_HANDLER_FOUND",
                    "parameters": {"event": name, "version": version},
                },
            )
        try:
            payload = route.validate_payload(event.payload)
        except ValidationError as exc:
            return _answer(f"{name}:badRequest", version, event_id, flow_id, _missing_fields(exc))
        token = _current_event.set(event)
        try:
            return _answer(f"{name}:response", version, event_id, flow_id, route.handler(event, payload))
        except Exception:  # any handler or serialisation failure becomes an error event
            return _answer(
                f"{name}:error",
                version,
                event_id,
                flow_id,
                {"code": "UNHANDLED_ERROR", "parameters": {}},
            )
        finally:
            _current_event.reset(token)


class MyEventSchema(BaseModel):
    """The README example's payload schema."""

    example: str


def _echo_handler(event: Envelope, payload: dict[str, Any]) -> dict[str, Any]:
    current = current_event()  # the context variable, as fastevents' current_event()
    return {"echo": payload, "id": current.id if current else None}


class Item(BaseModel):
    """One element of the payload-size benchmarks' typed list."""

    id: int
    name: str
    qty: int
    tags: list[str]


class Batch(BaseModel):
    """The payload-size benchmarks' schema: a typed list."""

    items: list[Item]


def build_example_processor() -> PydanticProcessor:
    """Return a processor with the README example, a failing, an echoing and a batch handler."""
    router = PydanticRouter()
    router.add(scenarios.EXAMPLE_NAME, 1, handlers.example, MyEventSchema)
    router.add(scenarios.FAIL_NAME, 1, handlers.failing, MyEventSchema)
    router.add(scenarios.ECHO_NAME, 1, _echo_handler, dict[str, Any])
    router.add(scenarios.BATCH_NAME, 1, handlers.batch, Batch)
    return PydanticProcessor(router)


def build_routes_processor(count: int) -> PydanticProcessor:
    """Return a processor with the README handler registered under ``count`` names."""
    router = PydanticRouter()
    for name in scenarios.route_names(count):
        router.add(name, 1, handlers.example, MyEventSchema)
    return PydanticProcessor(router)


# The very bodies every implementation is timed on (scenarios.py, standard library only),
# plus bad_protocol, which the old package cannot answer.
SCENARIO_BODIES: dict[str, bytes] = {**scenarios.DISPATCH_BODIES, "bad_protocol": scenarios.BAD_PROTOCOL_BODY}


def _self_check(processor: PydanticProcessor) -> None:
    """The protocol's answers (``scenarios.expected_answer``), str bodies too, and the edge cases."""
    import json

    for name, body in scenarios.DISPATCH_BODIES.items():
        raw = processor.process_event(body)
        verdict = scenarios.compare_answer(scenarios.scenario_by_name(name), raw)
        assert verdict == "ok", (name, verdict)
        assert processor.process_event(body.decode()) == raw

    bad = json.loads(processor.process_event(SCENARIO_BODIES["bad_protocol"]))
    assert bad["name"] == "badProtocol" and bad["version"] == 1, bad
    assert bad["payload"]["code"] == "INVALID_COMMUNICATION_PROTOCOL", bad
    assert set(bad["payload"]["parameters"]) == {"propertyName", "message"}, bad
    uuid.UUID(bad["id"])
    uuid.UUID(bad["flowId"])

    no_name = json.loads(processor.process_event(b'{"version": 1, "id": "a", "flowId": "b"}'))
    assert no_name["payload"]["parameters"]["propertyName"] == "name", no_name
    assert (no_name["id"], no_name["flowId"]) == ("a", "b"), no_name

    echo = json.loads(
        processor.process_event(b'{"name": "get:event:echo", "version": "1", "payload": {"n": 1}, "sessionId": "x"}')
    )
    assert echo["name"] == "get:event:echo:response" and echo["payload"]["echo"] == {"n": 1}
    assert echo["payload"]["id"] == echo["id"] and echo["id"] != echo["flowId"], echo
    assert current_event() is None


def _time_scenarios(processor: PydanticProcessor) -> None:
    import gc
    import statistics
    import timeit
    from functools import partial

    import pydantic

    for scenario, body in SCENARIO_BODIES.items():
        # GC stays enabled, as in seed_worker.py and pytest-benchmark's default.
        timer = timeit.Timer(partial(processor.process_event, body), setup=gc.enable)
        number, _ = timer.autorange()  # rounds of at least 0.2 s
        per_op = [t / number * 1e9 for t in timer.repeat(repeat=5, number=number)]
        print(
            f"pydantic {pydantic.VERSION} {scenario:16s} "
            f"min {min(per_op):8.0f} ns/op  median {statistics.median(per_op):8.0f} ns/op"
            f"  (best of 5 x {number})"
        )


if __name__ == "__main__":
    _processor = build_example_processor()
    _self_check(_processor)
    print("self-check passed: success, not_found, bad_payload, unhandled_error, bad_protocol")
    _time_scenarios(_processor)
