"""The old package's README example runs with only its imports and schema base changed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

# events-protocol 0.2.4's README server example. Changes: the import lines, and
# CamelPydanticMixin -> CamelStruct. Run in a fresh interpreter: the compat registry is
# process-wide, like the old package's.
OLD_README_EXAMPLE = textwrap.dedent(
    """
    from fastevents import CamelStruct as CamelPydanticMixin
    from fastevents.compat import (
        AsyncEventHandler, AsyncEventProcessor, EventBuilder, EventHandler, EventProcessor,
        EventRegister, ResponseEvent, Event,
    )

    class MyEventSchema(CamelPydanticMixin):
        example: str

    class MyHandler(EventHandler):
        _SCHEMA = MyEventSchema

        @classmethod
        def handle(cls, event: Event) -> ResponseEvent:
            payload = cls.parse_event(event)
            return EventBuilder.response_for(event, {"MyEventPayload": payload.example})

    class MyEventRegister(EventRegister):
        event_name = "get:event:example"
        event_version = 1
        event_handler = MyHandler

    MyEventRegister.register_event()

    class MyAsyncHandler(AsyncEventHandler):
        @classmethod
        async def handle(cls, event: Event) -> ResponseEvent:
            return EventBuilder.response_for(event, {"async": True})

    class MyAsyncRegister(EventRegister):
        event_name = "get:event:async"
        event_version = 1
        event_handler = MyAsyncHandler

    MyAsyncRegister.register_event()

    import asyncio, json
    ok = EventProcessor.process_event(
        '{"name": "get:event:example", "version": 1, "id": "9230c47c-3bcf-11ea-b77f-2e728ce88125",'
        ' "flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125", "payload": {"example": "example"},'
        ' "identity": {"userId": "USER_ID"}, "metadata": {"date": "00-00-0000"}}')
    bad = EventProcessor.process_event('{"name": "get:event:example", "version": 1, "payload": {}}')
    unknown = EventProcessor.process_event('{"name": "get:event:nothing", "version": 1}')
    async_ok = asyncio.run(AsyncEventProcessor.process_event('{"name": "get:event:async", "version": 1}'))
    try:
        MyEventRegister.register_event()
        duplicate = "replaced silently"
    except ValueError as exc:
        duplicate = type(exc).__name__
    print(json.dumps([json.loads(ok), json.loads(bad), json.loads(unknown), json.loads(async_ok), duplicate,
                      type(ok).__name__]))
    """
)


@pytest.mark.slow
def test_the_old_readme_example_runs_with_changed_imports() -> None:
    out = subprocess.run([sys.executable, "-c", OLD_README_EXAMPLE], capture_output=True, text=True, check=True)
    ok, bad, unknown, async_ok, duplicate, kind = json.loads(out.stdout)
    assert kind == "str"  # text in, text out, like the old processor
    assert ok["name"] == "get:event:example:response"
    assert ok["payload"] == {"MyEventPayload": "example"}
    assert ok["id"] == "9230c47c-3bcf-11ea-b77f-2e728ce88125"
    assert bad["name"] == "get:event:example:badRequest"
    assert bad["payload"]["code"] == "MISSING_FIELDS"
    assert unknown["name"] == "eventNotFound"
    assert async_ok["name"] == "get:event:async:response" and async_ok["payload"] == {"async": True}
    assert duplicate == "DuplicateEventError"


@pytest.mark.slow
def test_compat_registration_checks_the_old_naming_standard() -> None:
    code = textwrap.dedent(
        """
        from fastevents.compat import EventHandler, EventRegister
        class H(EventHandler):
            @classmethod
            def handle(cls, event): return None
        class R(EventRegister):
            event_name = "Bad Name"
            event_handler = H
        try:
            R.register_event()
        except ValueError:
            print("rejected")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "rejected"


def test_compat_discovery_get_raises_not_found_for_unknown_events() -> None:
    from fastevents.compat import EventDiscovery, EventNotFoundException

    try:
        EventDiscovery.get("never:registered", 1)
    except EventNotFoundException as exc:
        assert exc.code == "EVENT_NOT_FOUND"
    else:  # pragma: no cover
        raise AssertionError("expected EventNotFoundException")
    assert asyncio.iscoroutinefunction(__import__("fastevents.compat").compat.AsyncEventProcessor.process_event)


@pytest.mark.slow
def test_compat_client_timeouts_are_milliseconds_like_the_old_package(server: Any) -> None:
    # The old EventClient.send_event(..., timeout=1000) meant one second; fastevents.EventClient
    # takes seconds, so migrated code would wait 1000 s. The compat client converts.
    import fastevents
    from fastevents import TimeoutException
    from fastevents.compat import EventClient

    assert "EventClient" in __import__("fastevents.compat").compat.__all__
    with EventClient(server.url, timeout=5000) as client:
        assert isinstance(client, fastevents.EventClient)
        assert client.timeout == 5000 and client._seconds == 5.0
        assert client.send_event("echo:payload", 1, {"a": 1}).payload == {"a": 1}
        start = time.monotonic()
        with pytest.raises(TimeoutException):
            client.send_event("slow:sleep", 1, {"seconds": 2}, timeout=200)
        assert time.monotonic() - start < 0.9
    with EventClient(server.url, timeout=200) as client:  # the constructor's, in ms too
        start = time.monotonic()
        with pytest.raises(TimeoutException):
            client.send_event("slow:sleep", 1, {"seconds": 2})
        assert time.monotonic() - start < 0.9
    assert EventClient(server.url).timeout == 15000  # fastevents' default, 15 s, in ms


def test_event_user_unpacks_as_before_and_reads_like_the_old_user() -> None:
    # fastevents.Event.user stays (id, type) as sent; .user_id/.user_type are 0.2.4's names,
    # the id read by Event.user_id's rules ("42" -> 42, other text as it is).
    from fastevents import Event

    event = Event(name="a:b", version=1, identity={"user": {"id": "42", "type": "CUSTOMER"}})
    user = event.user
    assert user is not None
    assert (user.user_id, user.user_type, event.user_type) == (42, "CUSTOMER", "CUSTOMER")
    user_id, user_type = user
    assert (user_id, user_type) == ("42", "CUSTOMER") and user == ("42", "CUSTOMER")
    assert Event(name="a:b", version=1, identity={"user": {"id": "u-1"}}).user.user_id == "u-1"  # type: ignore[union-attr]
    bare = Event(name="a:b", version=1)
    assert bare.user is None and bare.user_type is None  # fastevents' own API: None without a user


def test_compat_events_are_fastevents_events() -> None:
    import fastevents
    from fastevents import compat

    request = compat.RequestEvent.from_json(b'{"name": "a:b", "version": 1}')
    response = compat.EventBuilder.response_for(request, {"a": 1})
    assert isinstance(request, fastevents.RequestEvent) and isinstance(request, compat.Event)
    assert isinstance(response, fastevents.ResponseEvent) and isinstance(response, compat.ResponseEvent)
    assert request.user.user_id is None and request.user == (None, None)
    assert isinstance(response.to_json(), str) and json.loads(response.to_json())["payload"] == {"a": 1}


@pytest.mark.slow
def test_fastevents_serve_serves_old_style_registrations() -> None:
    import httpx

    from .helpers_http import serve_fastevents

    with serve_fastevents(target="tests.compat_served:default_router") as srv:
        ok = httpx.post(srv.url, json={"name": "get:event:example", "version": 1, "payload": {"example": "x"}})
        bad = httpx.post(srv.url, json={"name": "get:event:example", "version": 1, "payload": {"example": ""}})
    assert (ok.json()["name"], ok.json()["payload"]) == ("get:event:example:response", {"MyEventPayload": "X"})
    assert (bad.json()["name"], bad.json()["payload"]["code"]) == ("get:event:example:badRequest", "MISSING_FIELDS")
