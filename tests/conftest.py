"""Shared fixtures: every test runs against the compiled core and the pure-Python twin."""

from __future__ import annotations

import importlib
import json
import pathlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import msgspec
import pytest

import fastevents
from fastevents import (
    CamelStruct,
    Event,
    EventBuilder,
    EventContextHolder,
    EventErrorType,
    EventException,
    EventProcessor,
    EventRouter,
    RedirectPayload,
    _core_py,
)

CONFORMANCE = pathlib.Path(__file__).parent / "conformance" / "cases.json"


def _compiled_core() -> ModuleType | None:
    try:
        return importlib.import_module("fastevents._core")
    except ImportError:
        return None


CORES = {"python": _core_py}
if _compiled_core() is not None:
    CORES["compiled"] = _compiled_core()  # type: ignore[assignment]


@pytest.fixture(params=sorted(CORES), scope="session")
def core(request: pytest.FixtureRequest) -> ModuleType:
    """Each dispatch core this build has (both, on a normal install)."""
    return CORES[request.param]


# --- the conformance fixture router (tests/conformance/README.md) ---------------------


class ExampleSchema(msgspec.Struct):
    example: str


class ExampleV2Schema(msgspec.Struct):
    example: str
    count: int = 0


class NameSchema(CamelStruct):
    first_name: str
    last_name: str


class NoAccess(EventException):
    code = "NO_ACCESS"
    type = EventErrorType.FORBIDDEN


def build_fixture_router() -> EventRouter:
    router = EventRouter()

    @router.event("get:event:example", 1)
    def example(event: Event, payload: ExampleSchema) -> Any:
        return {"MyEventPayload": payload.example}

    @router.event("get:event:example", 2)
    def example_v2(event: Event, payload: ExampleV2Schema) -> Any:
        return {"example": payload.example, "count": payload.count}

    @router.event("echo:payload", 1)
    def echo(event: Event, payload: Any) -> Any:
        return payload

    @router.event("async:echo", 1)
    async def async_echo(event: Event, payload: Any) -> Any:
        return payload

    @router.event("fail:unhandled", 1)
    def fail_unhandled(event: Event) -> Any:
        raise RuntimeError("internal secret")

    @router.event("fail:typed", 1)
    def fail_typed(event: Event) -> Any:
        raise EventException(code="SOME_ERROR", parameters={"x": 1}, type=EventErrorType.BAD_REQUEST)

    @router.event("fail:forbidden", 1)
    def fail_forbidden(event: Event) -> Any:
        raise NoAccess()

    @router.event("redirect:me", 1)
    def redirect(event: Event) -> Any:
        return EventBuilder.redirect_for(
            event, RedirectPayload(url="https://example.com/next", query_parameters={"a": "b"})
        )

    @router.event("context:read", 1)
    def context_read(event: Event) -> Any:
        ctx = EventContextHolder.get()
        return {
            "id": ctx.id,
            "flowId": ctx.flow_id,
            "name": ctx.event_name,
            "version": ctx.event_version,
            "userId": event.user_id_as_str,
            "origin": event.origin,
        }

    @router.event("camel:schema", 1)
    def camel(event: Event, payload: NameSchema) -> Any:
        return {"full": payload.first_name + " " + payload.last_name}

    return router


@pytest.fixture
def router() -> EventRouter:
    return build_fixture_router()


@pytest.fixture
def processor(router: EventRouter, core: ModuleType) -> EventProcessor:
    return EventProcessor(router, core=core)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """``fastevents serve`` of the HTTP tests' router on a free loopback port."""
    from .helpers_http import serve_fastevents

    with serve_fastevents() as srv:
        yield srv


#: Fixtures that start a server or need the old package's venv, and the markers a test
#: using them must carry (docs/testing-the-project.md): the quick tier stays quick.
FIXTURE_MARKERS = {"server": {"slow"}, "seed_python": {"slow", "seed"}, "seed_server": {"slow", "seed"}}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        f"{item.nodeid} (uses {fixture}: mark it {', '.join(sorted(missing))})"
        for item in items
        for fixture, markers in FIXTURE_MARKERS.items()
        if fixture in getattr(item, "fixturenames", ())
        and (missing := markers - {mark.name for mark in item.iter_markers()})
    ]
    if unmarked:
        raise pytest.UsageError("tests missing their tier markers:\n  " + "\n  ".join(unmarked))


def load_cases() -> list[dict[str, Any]]:
    return json.loads(CONFORMANCE.read_text())


ENVELOPE_KEYS = ["name", "version", "id", "flowId", "payload", "identity", "auth", "metadata"]


def assert_envelope(body: bytes) -> dict[str, Any]:
    """The answer is one JSON object with exactly the protocol's keys, in order."""
    value = json.loads(body)
    assert isinstance(value, dict)
    assert list(value) == ENVELOPE_KEYS
    assert isinstance(value["name"], str) and value["name"]
    assert isinstance(value["version"], int)
    assert isinstance(value["id"], str) and isinstance(value["flowId"], str)
    for key in ("identity", "auth", "metadata"):
        assert isinstance(value[key], dict)
    return value


__all__ = ["fastevents"]
