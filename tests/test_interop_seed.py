"""Interop with the real ``events-protocol`` 0.2.4 (its own venv, see tools/seedenv.py).

* its ``EventClient`` (run in the seed venv) against ``fastevents serve``;
* fastevents' clients against a server built on the old package as its README says
  (``EventProcessor.process_event`` behind a stdlib ``http.server``, in the seed venv).

The old package answers differently in details (``<name>:notFound`` for an unknown event,
a 500 when a handler raises anything but its own error type, requests' echo of ``auth``);
the assertions are about what each client classifies (docs/protocol.md §3).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastevents import (
    AsyncEventClient,
    EventClient,
    EventErrorType,
    FailedDependencyException,
    ResponseEvent,
)
from tools.seedenv import ensure_seed_python

from .helpers_http import Server

# The first use provisions the old package's venv (pip, from PyPI): minutes on a cold machine.
pytestmark = [pytest.mark.slow, pytest.mark.seed, pytest.mark.timeout(600)]


def _seed_python() -> str:
    return str(ensure_seed_python())  # creates the venv when missing: never skipped


@pytest.fixture(scope="module")
def seed_python() -> str:
    return _seed_python()


SEED_SERVER = r"""
import http.server, logging, sys
from events_protocol.core.builder import EventBuilder
from events_protocol.core.exception import EventException
from events_protocol.core.model.base import CamelPydanticMixin
from events_protocol.core.model.event_type import EventErrorType, EventSuccessType
from events_protocol.server.handler.event_handler import EventHandler
from events_protocol.server.handler.event_handler_registry import EventRegister
from events_protocol.server.parser.event_processor import EventProcessor

for name in ("gb.events_protocol", "gb", ""):
    logging.getLogger(name).setLevel(logging.CRITICAL)

class MyEventSchema(CamelPydanticMixin):
    example: str

class MyHandler(EventHandler):
    _SCHEMA = MyEventSchema
    @classmethod
    def handle(cls, event):
        payload = cls.parse_event(event)
        return EventBuilder.response_for(event, {"MyEventPayload": payload.example})

class SomeError(EventException):
    _CODE = "SOME_ERROR"
    _TYPE = EventErrorType.BAD_REQUEST

class TypedHandler(EventHandler):
    @classmethod
    def handle(cls, event):
        raise SomeError(parameters={"x": 1})

class RedirectHandler(EventHandler):
    @classmethod
    def handle(cls, event):
        return EventBuilder.response_for(event, {"url": "https://example.com/next", "queryParameters": {}},
                                         event_type=EventSuccessType.REDIRECT)

class CrashHandler(EventHandler):
    @classmethod
    def handle(cls, event):
        raise RuntimeError("internal secret")

for event_name, handler in (("get:event:example", MyHandler), ("fail:typed", TypedHandler),
                            ("redirect:me", RedirectHandler), ("fail:unhandled", CrashHandler)):
    type("Register", (EventRegister,), {"event_name": event_name, "event_version": 1,
                                        "event_handler": handler}).register_event()

class Events(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            status, answer = 200, EventProcessor.process_event(body.decode()).encode()
        except Exception:  # the package lets these escape (docs/seed-defects.md, defects 3, 4)
            status, answer = 500, b"Internal Server Error"
        self.send_response(status)
        self.send_header("content-type", "application/json" if status == 200 else "text/plain")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass

httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Events)
print(f"seed server on http://127.0.0.1:{httpd.server_port}/events (ready)", flush=True)
httpd.serve_forever()
"""

SEED_CLIENT = r"""
import json, logging, sys
from events_protocol.client.event_client import EventClient
for name in ("gb.events_protocol", "gb", ""):
    logging.getLogger(name).setLevel(logging.CRITICAL)
client = EventClient(sys.argv[1])
for call in json.loads(sys.argv[2]):
    try:
        r = client.send_event(**call)
        out = {"name": r.name, "success": r.is_success, "redirect": r.is_redirect, "error": r.is_error,
               "error_type": str(r.error_type) if r.is_error else None, "payload": r.payload,
               "id": r.id, "flow_id": r.flow_id, "auth": r.auth}
    except Exception as exc:
        out = {"exception": type(exc).__name__}
    print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def seed_server(seed_python: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    script = tmp_path_factory.mktemp("seed") / "seed_server.py"
    script.write_text(SEED_SERVER)
    import re

    srv = Server([seed_python, str(script)], ready=re.compile(r"on (http://\S+?)(/events) \("))
    try:
        yield srv
    finally:
        srv.stop()


# --- the old client against fastevents serve -----------------------------------------------


def _seed_client(seed_python: str, url: str, calls: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    script = tmp_path / "seed_client.py"
    script.write_text(SEED_CLIENT)
    result = subprocess.run(
        [seed_python, str(script), url, json.dumps(calls)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_seed_client_against_fastevents_serve(seed_python: str, server: Server, tmp_path: Path) -> None:
    calls = [
        {
            "name": "get:event:example",
            "version": 1,
            "payload": {"example": "hi"},
            "id": "id-1",
            "flow_id": "flow-1",
            "auth": {"token": "SECRET"},
            "timeout": 5,
        },
        {"name": "fail:typed", "version": 1, "payload": {}},
        {"name": "fail:forbidden", "version": 1, "payload": {}},
        {"name": "get:event:nope", "version": 1, "payload": {}},
        {"name": "get:event:example", "version": 1, "payload": {"wrong": 1}},
        {"name": "redirect:me", "version": 1, "payload": {}},
        {"name": "fail:unhandled", "version": 1, "payload": {}},
    ]
    ok, typed, forbidden, missing, bad, redirect, crash = _seed_client(seed_python, server.url, calls, tmp_path)

    assert ok["success"] and ok["payload"] == {"MyEventPayload": "hi"}
    assert (ok["id"], ok["flow_id"]) == ("id-1", "flow-1")
    assert ok["auth"] == {}  # fastevents never echoes auth
    assert typed["error"] and typed["error_type"] == "badRequest"
    assert typed["payload"] == {"code": "SOME_ERROR", "parameters": {"x": 1}}
    assert forbidden["error"] and forbidden["error_type"] == "forbidden"
    # Our bare ``eventNotFound`` is an error the old client has no name for: "unknown".
    assert missing["name"] == "eventNotFound" and missing["error"] and missing["error_type"] == "unknown"
    assert bad["error"] and bad["error_type"] == "badRequest"
    assert bad["payload"]["code"] == "MISSING_FIELDS"
    assert redirect["redirect"] and redirect["payload"]["url"] == "https://example.com/next"
    assert crash["error"] and crash["error_type"] == "error"
    assert "secret" not in json.dumps(crash)


# --- fastevents' clients against the old package's server ---------------------------------


def _both(url: str, *args: Any, **kwargs: Any) -> list[Any]:
    """The same call through EventClient and AsyncEventClient: answers or exceptions."""
    outcomes: list[Any] = []
    with EventClient(url, timeout=10) as client:
        try:
            outcomes.append(client.send_event(*args, **kwargs))
        except Exception as exc:
            outcomes.append(exc)

    async def go() -> Any:
        async with AsyncEventClient(url, timeout=10) as client:
            try:
                return await client.send_event(*args, **kwargs)
            except Exception as exc:
                return exc

    outcomes.append(asyncio.run(go()))
    return outcomes


def test_fastevents_clients_success_against_seed_server(seed_server: Server) -> None:
    for answer in _both(seed_server.url, "get:event:example", 1, {"example": "hi"}, id="id-1", flow_id="flow-1"):
        assert isinstance(answer, ResponseEvent), answer
        assert answer.is_success and answer.payload == {"MyEventPayload": "hi"}
        assert (answer.id, answer.flow_id) == ("id-1", "flow-1")


def test_fastevents_clients_typed_error_against_seed_server(seed_server: Server) -> None:
    for answer in _both(seed_server.url, "fail:typed", 1):
        assert isinstance(answer, ResponseEvent) and answer.is_error
        assert answer.name == "fail:typed:badRequest"
        assert answer.error_type is EventErrorType.BAD_REQUEST
        assert answer.payload == {"code": "SOME_ERROR", "parameters": {"x": 1}}


def test_fastevents_clients_not_found_against_seed_server(seed_server: Server) -> None:
    for answer in _both(seed_server.url, "get:event:nope", 1):
        assert isinstance(answer, ResponseEvent) and answer.is_error
        assert answer.name == "get:event:nope:notFound"  # the old package's spelling
        assert answer.error_type is EventErrorType.NOT_FOUND


def test_fastevents_clients_bad_payload_against_seed_server(seed_server: Server) -> None:
    for answer in _both(seed_server.url, "get:event:example", 1, {"wrong": 1}):
        assert isinstance(answer, ResponseEvent) and answer.is_error
        assert answer.error_type is EventErrorType.BAD_REQUEST
        assert answer.payload["code"] == "MISSING_FIELDS"


def test_fastevents_clients_redirect_against_seed_server(seed_server: Server) -> None:
    for answer in _both(seed_server.url, "redirect:me", 1):
        assert isinstance(answer, ResponseEvent) and answer.is_redirect and not answer.is_error
        assert answer.payload["url"] == "https://example.com/next"


def test_fastevents_clients_crash_of_seed_server_is_failed_dependency(seed_server: Server) -> None:
    # The old processor lets a RuntimeError escape; its HTTP wrapper answers 500.
    for outcome in _both(seed_server.url, "fail:unhandled", 1):
        assert isinstance(outcome, FailedDependencyException), outcome
        assert outcome.status == 500 and outcome.body == b"Internal Server Error"


def test_fastevents_clients_any_payload_against_seed_server(seed_server: Server) -> None:
    # The old package only takes object payloads (docs/seed-defects.md, defect 13): a list crashes it.
    for outcome in _both(seed_server.url, "get:event:example", 1, [1, 2]):
        assert isinstance(outcome, (ResponseEvent, FailedDependencyException)), outcome
        if isinstance(outcome, ResponseEvent):
            assert outcome.is_error
