"""The in-process implementations being compared, each built on the same handlers.

Keys (the columns of every table):

* ``floor``: the bare msgspec floor, defined exactly: decode the envelope into a plain
  ``msgspec.Struct`` (``name, version, id, flowId, payload: Raw``), look ``(name, version)``
  up in a dict, decode the payload with a typed ``msgspec.json.Decoder`` built once, call
  the handler, encode the answer dict (protocol key order, ``identity``/``auth``/``metadata``
  ``{}``) with ``msgspec.json.Encoder().encode``. No envelope checks, no error answers, no
  context variable: a lower bound, only for success-shaped scenarios.
* ``compiled``: fastevents on its compiled core (``core=fastevents._core``).
* ``python``: fastevents on its pure-Python twin (``core=fastevents._core_py``).
* ``pydantic``: the idiomatic pydantic v2 implementation of ``pydantic_variant.py``.

events-protocol 0.2.4 (``seed``) is not here: it only imports with pydantic v1, so it runs
in its own venv (``seed_worker.py``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import msgspec

import fastevents
from fastevents import CamelStruct, EventProcessor, EventRouter

from . import handlers, pydantic_variant
from .scenarios import BATCH_NAME, EXAMPLE_NAME, FAIL_NAME, Scenario, route_names

IMPLS: tuple[str, ...] = ("floor", "compiled", "python", "pydantic", "seed")
IN_PROCESS: tuple[str, ...] = ("floor", "compiled", "python", "pydantic")
LABELS: dict[str, str] = {
    "floor": "bare msgspec floor",
    "compiled": "fastevents compiled",
    "python": "fastevents pure-Python",
    "pydantic": "pydantic v2 variant",
    "seed": "events-protocol 0.2.4",
}

Dispatch = Callable[[bytes], Any]


def quiet_logs() -> None:
    """Silence the ``fastevents`` logger, as ``seed_worker.py`` silences the old package's.

    Error answers log a record (with a traceback for unhandled errors); with no logging
    configured Python would print them to stderr through its last-resort handler. The
    pydantic variant does not log at all. The level check itself stays in the measurement.
    """
    logging.getLogger("fastevents").setLevel(logging.CRITICAL)


def _compiled_built() -> bool:
    try:
        import fastevents._core  # noqa: F401
    except ImportError:
        return False
    return True


#: Whether this checkout has the compiled core (a FASTEVENTS_NO_EXTENSIONS=1 build has not).
COMPILED_BUILT = _compiled_built()


def core_module(impl: str) -> Any:
    """The fastevents dispatch core behind ``impl`` (``compiled`` or ``python``)."""
    if impl == "compiled":
        from fastevents import _core

        return _core
    from fastevents import _core_py

    return _core_py


# --- the payload schemas (the handlers are handlers.py's) -------------------------------


class MyEventSchema(CamelStruct):
    """The README example's payload schema."""

    example: str


class Item(CamelStruct):
    """One element of the payload-size scenarios' typed list."""

    id: int
    name: str
    qty: int
    tags: list[str]


class Batch(CamelStruct):
    """The payload-size scenarios' schema: a typed list."""

    items: list[Item]


# --- fastevents ------------------------------------------------------------------------


@functools.cache
def fastevents_router(routes: int = 0) -> EventRouter:
    """The example router (``routes=0``), or the README handler under ``routes`` names."""
    router = EventRouter()
    if routes:
        for name in route_names(routes):
            router.add(name, 1, handlers.example, MyEventSchema)
    else:
        router.add(EXAMPLE_NAME, 1, handlers.example, MyEventSchema)
        router.add(FAIL_NAME, 1, handlers.failing, MyEventSchema)
        router.add(BATCH_NAME, 1, handlers.batch, Batch)
    return router


def fastevents_dispatch(impl: str, routes: int = 0) -> Dispatch:
    quiet_logs()
    return EventProcessor(fastevents_router(routes), core=core_module(impl)).process_event


# --- the bare msgspec floor -----------------------------------------------------------


class FloorEnvelope(msgspec.Struct):
    """The floor's envelope: a plain Struct, the payload left raw."""

    name: str
    version: int
    id: str
    flowId: str
    payload: msgspec.Raw


def floor_dispatch(routes: int = 0) -> Dispatch:
    """The bare msgspec floor over the example routes or ``routes`` README routes."""
    if routes:
        entries = [(name, MyEventSchema, handlers.example) for name in route_names(routes)]
    else:
        entries = [(EXAMPLE_NAME, MyEventSchema, handlers.example), (BATCH_NAME, Batch, handlers.batch)]
    table = {(name, 1): (msgspec.json.Decoder(schema).decode, handler) for name, schema, handler in entries}
    decode_envelope = msgspec.json.Decoder(FloorEnvelope).decode
    encode = msgspec.json.Encoder().encode

    def dispatch(body: bytes) -> bytes:
        envelope = decode_envelope(body)
        decode_payload, handler = table[(envelope.name, envelope.version)]
        result = handler(envelope, decode_payload(envelope.payload))
        return encode(
            {
                "name": envelope.name + ":response",
                "version": envelope.version,
                "id": envelope.id,
                "flowId": envelope.flowId,
                "payload": result,
                "identity": {},
                "auth": {},
                "metadata": {},
            }
        )

    return dispatch


# --- pydantic v2 ----------------------------------------------------------------------


def pydantic_dispatch(routes: int = 0) -> Dispatch:
    if routes:
        return pydantic_variant.build_routes_processor(routes).process_event
    return pydantic_variant.build_example_processor().process_event


# --- per scenario ----------------------------------------------------------------------

#: What each implementation times in the ``envelope`` group.
ENVELOPE_NOTES: dict[str, str] = {
    "floor": "msgspec.json.Decoder(FloorEnvelope).decode",
    "compiled": "fastevents.Event.from_json (pure Python over msgspec; the dispatch core is "
    "not involved, so there is no separate twin figure)",
    "pydantic": "Envelope.model_validate_json",
    "seed": "Event.from_json(body.decode())",
}


def envelope_readers() -> dict[str, Dispatch]:
    return {
        "floor": msgspec.json.Decoder(FloorEnvelope).decode,
        # from_json reads through whichever core is in use: label it as that one.
        ("compiled" if fastevents.COMPILED else "python"): fastevents.Event.from_json,
        "pydantic": pydantic_variant.Envelope.model_validate_json,
    }


def implementations_for(scenario: Scenario) -> dict[str, Dispatch]:
    """``{impl: function(body)}`` of the in-process implementations that run ``scenario``."""
    if scenario.group == "envelope":
        return envelope_readers()
    routes = scenario.param if scenario.group == "routes" else 0
    assert routes is not None
    found: dict[str, Dispatch] = {}
    if scenario.group != "dispatch" or scenario.name == "success":
        found["floor"] = floor_dispatch(routes)
    if COMPILED_BUILT:
        found["compiled"] = fastevents_dispatch("compiled", routes)
    found["python"] = fastevents_dispatch("python", routes)
    found["pydantic"] = pydantic_dispatch(routes)
    return found


def release_routers() -> None:
    """Drop the cached big routers (100,000 routes hold real memory)."""
    fastevents_router.cache_clear()
