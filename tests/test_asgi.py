"""The ASGI app: driven with raw ASGI messages, and mounted in Starlette over httpx."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from fastevents import EventProcessor, EventRouter, asgi_app
from fastevents._conformance import matches
from fastevents._http import http_scope

from .conftest import assert_envelope, load_cases
from .waiting import wait_until_async

CASES = load_cases()
ECHO = {"name": "echo:payload", "version": 1, "payload": {"text": "héllo €"}}


class Call:
    """One HTTP request driven through an ASGI app by hand; records what was sent."""

    def __init__(
        self,
        app: Any,
        *,
        method: str = "POST",
        path: str = "/events",
        headers: Iterable[tuple[str, str]] = (("content-type", "application/json"),),
        chunks: Iterable[bytes] = (b"",),
        disconnect: bool = False,
        root_path: str = "",
    ) -> None:
        self.app = app
        self.scope = http_scope(
            method,
            path,
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            root_path=root_path,
        )
        chunks = list(chunks)
        self.messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1 or disconnect}
            for i, c in enumerate(chunks)
        ]
        if disconnect:
            self.messages.append({"type": "http.disconnect"})
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def _receive(self) -> dict[str, Any]:
        if self.received < len(self.messages):
            self.received += 1
            return self.messages[self.received - 1]
        await asyncio.sleep(3600)  # a server would wait for the client here
        raise AssertionError("unreachable")

    async def _send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def run(self) -> Call:
        asyncio.run(asyncio.wait_for(self.app(self.scope, self._receive, self._send), 10))
        return self

    @property
    def status(self) -> int:
        assert self.sent[0]["type"] == "http.response.start"
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def post(app: Any, body: bytes, content_type: str | None = "application/json", **kw: Any) -> Call:
    headers = [("content-length", str(len(body)))]
    if content_type is not None:
        headers.append(("content-type", content_type))
    return Call(app, headers=headers, chunks=[body], **kw).run()


@pytest.fixture
def app(processor: EventProcessor) -> Any:
    return asgi_app(processor)


# --- the protocol through the app ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["case"])
def test_conformance_case_through_asgi(app: Any, case: dict[str, Any]) -> None:
    call = post(app, case["request"].encode(case.get("encoding", "utf-8")))
    assert call.status == 200
    assert call.headers["content-type"] == "application/json"
    assert int(call.headers["content-length"]) == len(call.body)
    value = assert_envelope(call.body)
    assert matches(value, case["expect"]) == [], case["case"]


@pytest.mark.parametrize("path", ["/events", "/events/"])
def test_post_with_and_without_trailing_slash(app: Any, path: str) -> None:
    call = post(app, json.dumps(ECHO).encode(), path=path)
    assert call.status == 200
    assert json.loads(call.body)["payload"] == ECHO["payload"]


@pytest.mark.parametrize("name", ["fail:unhandled", "get:event:missing", "fail:typed"])
def test_error_answers_are_http_200_json(app: Any, name: str) -> None:
    call = post(app, json.dumps({"name": name, "version": 1}).encode())
    assert call.status == 200 and call.headers["content-type"] == "application/json"
    assert not json.loads(call.body)["name"].endswith(":response")


def test_body_in_several_chunks_is_joined(app: Any) -> None:
    body = json.dumps(ECHO).encode()
    call = Call(app, chunks=[body[:5], body[5:20], body[20:]]).run()
    assert call.status == 200
    assert json.loads(call.body)["payload"] == ECHO["payload"]


def test_configured_path(router: EventRouter) -> None:
    app = asgi_app(router, path="/api/v2/events/")
    assert post(app, json.dumps(ECHO).encode(), path="/api/v2/events").status == 200
    assert post(app, json.dumps(ECHO).encode(), path="/api/v2/events/").status == 200
    assert post(app, json.dumps(ECHO).encode(), path="/events").status == 404


# --- transport-level answers ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/event", "/events/x", "/eventsx"])
def test_other_paths_are_404(app: Any, path: str) -> None:
    call = post(app, json.dumps(ECHO).encode(), path=path)
    assert call.status == 404
    assert call.received == 0  # the body was not read


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
def test_other_methods_are_405_with_allow(app: Any, method: str) -> None:
    call = Call(app, method=method).run()
    assert call.status == 405
    assert call.headers["allow"] == "POST"


def test_declared_length_over_limit_is_413_without_reading(router: EventRouter) -> None:
    app = asgi_app(router, max_body=100)
    call = Call(
        app, headers=[("content-type", "application/json"), ("content-length", "101")], chunks=[b"x" * 101]
    ).run()
    assert call.status == 413
    assert call.received == 0


def test_streamed_body_over_limit_stops_reading_at_the_limit(router: EventRouter) -> None:
    app = asgi_app(router, max_body=100)
    # No Content-Length (chunked upload): 60 + 60 bytes exceed 100, the rest is never read.
    call = Call(app, chunks=[b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60]).run()
    assert call.status == 413
    assert call.received == 2


def test_body_at_the_limit_is_processed(router: EventRouter) -> None:
    body = json.dumps(ECHO).encode()
    app = asgi_app(router, max_body=len(body))
    assert post(app, body).status == 200
    assert post(asgi_app(router, max_body=len(body) - 1), body).status == 413


def test_invalid_content_length_is_400(app: Any) -> None:
    call = Call(app, headers=[("content-length", "ten")], chunks=[b"{}"]).run()
    assert call.status == 400


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF8",
        "application/vnd.api+json",
        "text/json",
    ],
)
def test_json_and_absent_content_types_are_accepted(app: Any, content_type: str | None) -> None:
    call = post(app, json.dumps(ECHO).encode(), content_type)
    assert call.status == 200
    assert json.loads(call.body)["payload"] == ECHO["payload"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "text/html",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/octet-stream",
        "application/json; charset=klingon",
        "application/json; charset=base64",
        "application/json; charset=idna",
        "application/json; charset=punycode",
        "application/json; charset=utf-7",
        "application/json; charset=unicode-escape",
        "application/jsonx",
    ],
)
def test_other_content_types_and_unknown_charsets_are_415(app: Any, content_type: str) -> None:
    call = post(app, json.dumps(ECHO).encode(), content_type)
    assert call.status == 415
    assert call.received == 0


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8", "TEXT/PLAIN"])
def test_text_plain_is_415_no_cors_simple_requests(app: Any, content_type: str) -> None:
    # A browser POSTs text/plain cross-origin without a CORS preflight: accepting it would
    # let any web page fire events at an internal endpoint (docs/protocol.md §4 needs only JSON).
    call = post(app, json.dumps(ECHO).encode(), content_type)
    assert call.status == 415
    assert call.received == 0
    assert call.body == b"Unsupported Media Type"


@pytest.mark.parametrize("charset", ["latin-1", "iso-8859-15", "utf-16", "utf-16-le", "cp1252", "utf-32"])
def test_request_charset_is_transcoded(app: Any, charset: str) -> None:
    payload = {"text": "déjà vu"} if "8859" in charset or "latin" in charset else ECHO["payload"]
    body = json.dumps({**ECHO, "payload": payload}, ensure_ascii=False).encode(charset)
    call = post(app, body, f'application/json; charset="{charset}"')
    assert call.status == 200
    assert json.loads(call.body.decode("utf-8"))["payload"] == payload


def test_body_not_in_its_declared_charset_is_bad_protocol(app: Any) -> None:
    call = post(app, b'{"name": "echo:payload", "version": 1, "payload": "\xff"}', "application/json; charset=ascii")
    assert call.status == 200
    assert json.loads(call.body)["name"] == "badProtocol"


def test_invalid_utf8_is_bad_protocol(app: Any) -> None:
    call = post(app, b'{"name": "echo:payload", "version": 1, "payload": "\xff\xfe"}')
    assert call.status == 200
    assert json.loads(call.body)["name"] == "badProtocol"


# --- connection life ----------------------------------------------------------------------


def test_disconnect_mid_body_sends_nothing_and_does_not_raise(app: Any) -> None:
    call = Call(app, chunks=[b'{"name": "echo:pay'], disconnect=True).run()
    assert call.sent == []
    assert call.received == 2


def test_disconnect_before_body_sends_nothing(app: Any) -> None:
    call = Call(app, chunks=[], disconnect=True).run()
    assert call.sent == []


def test_lifespan_startup_and_shutdown_complete(app: Any) -> None:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send), 5))
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_websocket_is_refused(app: Any) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "websocket", "path": "/events", "headers": []}, receive, send))
    assert sent and sent[0]["type"] == "websocket.close"


def test_root_path_is_stripped(app: Any) -> None:
    call = post(app, json.dumps(ECHO).encode(), path="/prefix/events", root_path="/prefix")
    assert call.status == 200


# --- mounted inside a Starlette app, over httpx -------------------------------------------


@pytest.fixture
def starlette_client(processor: EventProcessor) -> Any:
    inner = asgi_app(processor)
    outer = Starlette(routes=[Mount("/api", app=inner)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://test")


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["case"])
def test_conformance_case_mounted_in_starlette(starlette_client: httpx.AsyncClient, case: dict[str, Any]) -> None:
    async def go() -> httpx.Response:
        async with starlette_client as client:
            return await client.post(
                "/api/events", content=case["request"].encode(), headers={"content-type": "application/json"}
            )

    response = _run(go())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert matches(assert_envelope(response.content), case["expect"]) == [], case["case"]


def test_transport_answers_mounted_in_starlette(starlette_client: httpx.AsyncClient) -> None:
    async def go() -> list[httpx.Response]:
        async with starlette_client as client:
            return [
                await client.post("/api/events/", json=ECHO),
                await client.get("/api/events"),
                await client.post("/api/other", json=ECHO),
                await client.post(
                    "/api/events", content=b"a=b", headers={"content-type": "application/x-www-form-urlencoded"}
                ),
                await client.post(
                    "/api/events",
                    content=json.dumps(ECHO, ensure_ascii=False).encode("latin-1", "replace"),
                    headers={"content-type": "application/json; charset=latin-1"},
                ),
            ]

    ok, get, other, form, latin = _run(go())
    assert ok.status_code == 200 and ok.json()["payload"] == ECHO["payload"]
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    assert other.status_code == 404
    assert form.status_code == 415
    assert latin.status_code == 200 and latin.json()["payload"] == {"text": "héllo ?"}


# --- hostile clients and cancellation (issue 8) -------------------------------------------


def test_413_asks_the_server_to_close_the_connection(router: EventRouter) -> None:
    app = asgi_app(router, max_body=100)
    declared = Call(
        app, headers=[("content-type", "application/json"), ("content-length", "101")], chunks=[b"x" * 101]
    ).run()
    streamed = Call(app, chunks=[b"x" * 60, b"x" * 60, b"x" * 60]).run()
    for call in (declared, streamed):
        assert call.status == 413 and call.headers["connection"] == "close"


def test_body_that_stops_arriving_is_408_after_body_timeout(router: EventRouter) -> None:
    call = Call(asgi_app(router, body_timeout=0.2), chunks=[b'{"name": ', b"never sent"])
    call.messages = call.messages[:1]  # the first part, then nothing
    started = time.monotonic()
    call.run()
    assert call.status == 408 and call.headers["connection"] == "close"
    assert call.received == 1 and time.monotonic() - started < 5


def _hanging_router(events: list[str]) -> EventRouter:
    router = EventRouter()

    @router.event("hang:forever", 1)
    async def hang(event: Any) -> Any:
        events.append("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        return {}

    return router


def test_client_disconnect_cancels_a_waiting_async_handler() -> None:
    events: list[str] = []
    app = asgi_app(_hanging_router(events))
    body = b'{"name": "hang:forever", "version": 1}'
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await wait_until_async(lambda: "started" in events)  # the client leaves while the handler waits
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def main() -> None:
        await asyncio.wait_for(
            app({"type": "http", "method": "POST", "path": "/events", "headers": []}, receive, send), 5
        )
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    asyncio.run(main())
    assert events == ["started", "cancelled"] and sent == []


def test_request_cancelled_by_the_server_answers_503_without_raising() -> None:
    events: list[str] = []
    app = asgi_app(_hanging_router(events))
    call = Call(app, chunks=[b'{"name": "hang:forever", "version": 1}'])

    async def main() -> None:
        task = asyncio.create_task(call.app(call.scope, call._receive, call._send))
        await wait_until_async(lambda: events)  # the handler started
        app.stopping()  # fastevents serve's signal handler, when it is told to stop
        task.cancel()  # what uvicorn does to requests left after the shutdown grace period
        await task  # ends normally: no traceback per request in the server's log

    asyncio.run(main())
    assert events == ["started", "cancelled"]
    assert call.status == 503 and call.headers["connection"] == "close"


def test_a_cancellation_while_serving_propagates() -> None:
    # A caller's timeout or task group cancels the app: swallowing it would break them.
    events: list[str] = []
    call = Call(asgi_app(_hanging_router(events)), chunks=[b'{"name": "hang:forever", "version": 1}'])

    async def main() -> None:
        task = asyncio.create_task(call.app(call.scope, call._receive, call._send))
        await wait_until_async(lambda: events)  # the handler started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert events == ["started", "cancelled"]
    assert call.sent == []


def test_sync_handler_answers_without_a_watcher_task(app: Any) -> None:
    async def main() -> int:
        before = len(asyncio.all_tasks())
        call = Call(app, headers=[("content-type", "application/json")], chunks=[json.dumps(ECHO).encode()])
        await call.app(call.scope, call._receive, call._send)
        assert call.status == 200
        return len(asyncio.all_tasks()) - before

    assert asyncio.run(main()) == 0
