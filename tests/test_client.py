"""EventClient and AsyncEventClient: outcomes (docs/protocol.md §3), ids, headers, pooling."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec
import pytest

from fastevents import (
    AsyncEventClient,
    AsyncTransport,
    BadProtocolException,
    Event,
    EventClient,
    EventClientError,
    EventConnectionError,
    EventContextHolder,
    EventErrorType,
    FailedDependencyException,
    ResponseEvent,
    TimeoutException,
)
from fastevents._client import AiohttpTransport, HttpxTransport

from .helpers_http import RawServer, Server, free_port

pytestmark = pytest.mark.slow

ENVELOPE_KEYS = ["name", "version", "id", "flowId", "payload", "identity", "auth", "metadata"]


def send_sync(url: str, *args: Any, **kwargs: Any) -> ResponseEvent:
    with EventClient(url) as client:
        return client.send_event(*args, **kwargs)


def send_async(url: str, *args: Any, client_kw: Mapping[str, Any] | None = None, **kwargs: Any) -> ResponseEvent:
    async def go() -> ResponseEvent:
        async with AsyncEventClient(url, **(client_kw or {})) as client:
            return await client.send_event(*args, **kwargs)

    return asyncio.run(go())


def _httpx_async(url: str, *args: Any, **kwargs: Any) -> ResponseEvent:
    return send_async(url, *args, client_kw={"client": httpx.AsyncClient()}, **kwargs)


SENDERS = {"sync": send_sync, "async": send_async, "async-httpx": _httpx_async}


@pytest.fixture(params=sorted(SENDERS))
def send(request: pytest.FixtureRequest) -> Any:
    return SENDERS[request.param]


# --- outcomes against a real server ------------------------------------------------------


def test_success(server: Server, send: Any) -> None:
    answer = send(server.url, "get:event:example", 1, {"example": "hi"})
    assert isinstance(answer, ResponseEvent)
    assert answer.is_success and not answer.is_error
    assert answer.name == "get:event:example:response"
    assert answer.payload == {"MyEventPayload": "hi"}


@pytest.mark.parametrize(
    ("name", "payload", "error_type"),
    [
        ("get:event:other", {}, EventErrorType.EVENT_NOT_FOUND),
        ("get:event:example", {"wrong": 1}, EventErrorType.BAD_REQUEST),
        ("fail:typed", {}, EventErrorType.BAD_REQUEST),
        ("fail:forbidden", {}, EventErrorType.FORBIDDEN),
        ("fail:unhandled", {}, EventErrorType.GENERIC),
    ],
)
def test_error_events_are_returned_not_raised(
    server: Server, send: Any, name: str, payload: Any, error_type: EventErrorType
) -> None:
    answer = send(server.url, name, 1, payload)
    assert answer.is_error
    assert answer.error_type is error_type
    assert set(answer.payload) == {"code", "parameters"}


def test_redirect(server: Server, send: Any) -> None:
    answer = send(server.url, "redirect:me", 1)
    assert answer.is_redirect and not answer.is_error
    assert answer.payload == {"url": "https://example.com/next", "queryParameters": {"a": "b"}}


def test_any_json_payload_round_trips(server: Server, send: Any) -> None:
    for payload in ([1, 2, 3], "text", 12345678901234567890, None, {"nested": {"a": [None]}}):
        answer = send(server.url, "echo:payload", 1, payload)
        assert answer.payload == ({} if payload is None else payload)


def test_timeout(server: Server, send: Any) -> None:
    with pytest.raises(TimeoutException):
        send(server.url, "slow:sleep", 1, {"seconds": 2}, timeout=0.2)


def test_non_2xx_is_failed_dependency_with_status_and_body(server: Server, send: Any) -> None:
    with pytest.raises(FailedDependencyException) as info:
        send(server.base + "/nowhere", "echo:payload", 1)
    assert info.value.status == 404
    assert info.value.body == b"Not Found"


def test_connection_refused_is_a_client_error(send: Any) -> None:
    with pytest.raises(EventConnectionError) as info:
        send(f"http://127.0.0.1:{free_port()}/events", "echo:payload", 1, timeout=5)
    assert isinstance(info.value, EventClientError)
    assert not isinstance(info.value, (httpx.HTTPError, OSError))


def test_explicit_ids_are_sent(server: Server, send: Any) -> None:
    answer = send(server.url, "echo:payload", 1, id="my-id", flow_id="my-flow")
    assert (answer.id, answer.flow_id) == ("my-id", "my-flow")


def test_missing_ids_are_fresh_uuids(server: Server, send: Any) -> None:
    a, b = send(server.url, "echo:payload", 1), send(server.url, "echo:payload", 1)
    ids = {a.id, a.flow_id, b.id, b.flow_id}
    assert len(ids) == 4
    for value in ids:
        assert uuid.UUID(value).version == 4


def test_context_ids_are_reused_and_explicit_ids_win(server: Server, send: Any) -> None:
    outer = Event(name="outer", version=1, id="ctx-id", flow_id="ctx-flow")
    with EventContextHolder.with_context(outer):
        reused = send(server.url, "echo:payload", 1)
        explicit = send(server.url, "echo:payload", 1, id="own-id", flow_id="own-flow")
        half = send(server.url, "echo:payload", 1, flow_id="own-flow")
    assert (reused.id, reused.flow_id) == ("ctx-id", "ctx-flow")
    assert (explicit.id, explicit.flow_id) == ("own-id", "own-flow")
    assert (half.id, half.flow_id) == ("ctx-id", "own-flow")


def test_sync_client_reuses_one_connection(server: Server) -> None:
    ports = set()

    def remember(response: httpx.Response) -> None:
        stream = response.extensions["network_stream"]
        ports.add(stream.get_extra_info("client_addr")[1])

    with httpx.Client(event_hooks={"response": [remember]}) as http:
        client = EventClient(server.url, client=http)
        for _ in range(5):
            assert client.send_event("echo:payload", 1).is_success
    assert len(ports) == 1


# --- the request on the wire, via a mock transport ---------------------------------------


class Recorder:
    def __init__(self, status: int = 200, body: bytes | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.body is not None:
            return httpx.Response(self.status, content=self.body)
        sent = json.loads(request.content)
        answer = {**sent, "name": sent["name"] + ":response", "auth": {}}
        return httpx.Response(self.status, content=json.dumps(answer).encode())


def test_request_is_canonical_json_with_headers() -> None:
    recorder = Recorder()
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    client = EventClient("http://svc/events", headers={"X-Client": "a", "X-Both": "client"}, client=http)
    client.send_event(
        "n",
        2,
        {"k": "v"},
        identity={"userId": 7},
        auth={"t": "s"},
        metadata={"m": 1},
        headers={"X-Call": "b", "x-both": "call"},
    )
    request = recorder.requests[0]
    assert request.method == "POST" and str(request.url) == "http://svc/events"
    assert request.headers["content-type"] == "application/json"
    assert request.headers.get_list("content-type") == ["application/json"]
    assert request.headers["x-client"] == "a" and request.headers["x-call"] == "b"
    assert request.headers.get_list("x-both") == ["call"]
    body = json.loads(request.content)
    assert list(body) == ENVELOPE_KEYS
    assert body["payload"] == {"k": "v"} and body["identity"] == {"userId": 7}
    assert body["auth"] == {"t": "s"} and body["metadata"] == {"m": 1} and body["version"] == 2


def test_defaults_are_empty_objects_and_seconds() -> None:
    recorder = Recorder()
    client = EventClient("http://svc/events", client=httpx.Client(transport=httpx.MockTransport(recorder)))
    assert client.timeout == 15.0
    client.send_event("n", 1)
    body = json.loads(recorder.requests[0].content)
    assert (body["payload"], body["identity"], body["auth"], body["metadata"]) == ({}, {}, {}, {})
    assert recorder.requests[0].extensions["timeout"]["read"] == 15.0
    client.send_event("n", 1, timeout=2.5)
    assert recorder.requests[1].extensions["timeout"]["read"] == 2.5


def test_own_client_default_timeout_is_15_seconds() -> None:
    client = EventClient("http://svc/events")
    assert client.transport._client.timeout.read == 15.0
    client.close()
    assert client.transport._client.is_closed


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"version": 1}', b"", b'{"name": "x", "version": "v"}'])
def test_unreadable_answer_is_bad_protocol_keeping_the_body(body: bytes) -> None:
    client = EventClient("http://svc/events", client=httpx.Client(transport=httpx.MockTransport(Recorder(body=body))))
    with pytest.raises(BadProtocolException) as info:
        client.send_event("n", 1)
    assert info.value.body == body


@pytest.mark.parametrize("status", [301, 400, 404, 500, 503])
def test_non_2xx_keeps_status_and_body(status: int) -> None:
    recorder = Recorder(status=status, body=b'{"oops": true}')
    client = EventClient("http://svc/events", client=httpx.Client(transport=httpx.MockTransport(recorder)))
    with pytest.raises(FailedDependencyException) as info:
        client.send_event("n", 1)
    assert (info.value.status, info.value.body) == (status, b'{"oops": true}')


def test_user_client_is_not_closed_and_keeps_working() -> None:
    http = httpx.Client(transport=httpx.MockTransport(Recorder()))
    with EventClient("http://svc/events", client=http) as client:
        assert client.send_event("n", 1).is_success
    assert not http.is_closed
    assert http.post("http://svc/events", json={"name": "x", "version": 1}).status_code == 200


def test_invalid_url_is_refused_early() -> None:
    with pytest.raises(ValueError):
        EventClient("ftp://svc/events")
    with pytest.raises(ValueError):
        AsyncEventClient("not a url")


def test_unencodable_payload_raises_type_error() -> None:
    client = EventClient("http://svc/events", client=httpx.Client(transport=httpx.MockTransport(Recorder())))
    with pytest.raises(TypeError):
        client.send_event("n", 1, object())


# --- the async transport seam --------------------------------------------------------------


class FakeTransport:
    def __init__(self, status: int = 200, body: bytes | None = None, exc: BaseException | None = None) -> None:
        self.calls: list[tuple[str, bytes, dict[str, str], float]] = []
        self.status, self.body, self.exc = status, body, exc
        self.closed = False

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        self.calls.append((url, body, dict(headers), timeout))
        if self.exc is not None:
            raise self.exc
        if self.body is not None:
            return self.status, self.body
        sent = msgspec.json.decode(body)
        return self.status, msgspec.json.encode({**sent, "name": sent["name"] + ":response"})

    async def aclose(self) -> None:
        self.closed = True


def test_custom_transport_gets_bytes_headers_and_seconds() -> None:
    transport = FakeTransport()
    assert isinstance(transport, AsyncTransport)

    async def go() -> ResponseEvent:
        async with AsyncEventClient("http://svc/events", 3.0, headers={"X-A": "1"}, transport=transport) as c:
            return await c.send_event("n", 1, [1], headers={"X-B": "2"})

    answer = asyncio.run(go())
    assert answer.is_success and answer.payload == [1]
    url, body, headers, timeout = transport.calls[0]
    assert url == "http://svc/events" and timeout == 3.0
    assert headers == {"content-type": "application/json", "x-a": "1", "x-b": "2"}
    assert list(json.loads(body)) == ENVELOPE_KEYS
    assert not transport.closed  # given to us: not ours to close


@pytest.mark.parametrize(
    ("transport", "error"),
    [
        (FakeTransport(exc=TimeoutError()), TimeoutException),
        (FakeTransport(exc=ConnectionResetError()), EventConnectionError),
        (FakeTransport(status=502, body=b"bad gateway"), FailedDependencyException),
        (FakeTransport(body=b"<html>"), BadProtocolException),
    ],
)
def test_custom_transport_failures_are_classified(transport: FakeTransport, error: type[Exception]) -> None:
    async def go() -> None:
        await AsyncEventClient("http://svc/events", transport=transport).send_event("n", 1)

    with pytest.raises(error):
        asyncio.run(go())


def test_default_transport_is_aiohttp_and_closed_with_the_client() -> None:
    sessions = []

    async def go() -> None:
        async with AsyncEventClient(f"http://127.0.0.1:{free_port()}/events") as c:
            assert isinstance(c.transport, AiohttpTransport)
            with pytest.raises(EventConnectionError):  # refused: the session is opened all the same
                await c.send_event("n", 1, timeout=2)
            sessions.extend(session for session, _ in c.transport._sessions.values())
        assert len(sessions) == 1 and sessions[0].closed

    asyncio.run(go())


def test_user_async_client_is_not_closed() -> None:
    async def go() -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(Recorder()))
        async with AsyncEventClient("http://svc/events", client=http) as c:
            assert isinstance(c.transport, HttpxTransport)
            assert (await c.send_event("n", 1)).is_success
        assert (await http.post("http://svc/events", json={"name": "y", "version": 1})).status_code == 200
        return http

    assert not asyncio.run(go()).is_closed


def test_client_and_transport_are_exclusive() -> None:
    with pytest.raises(ValueError):
        AsyncEventClient("http://svc/events", client=httpx.AsyncClient(), transport=FakeTransport())


def test_aiohttp_transport_unreadable_answer_is_bad_protocol() -> None:
    async def go() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Type: text/html\r\n\r\n<html />")
            await writer.drain()
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            async with AsyncEventClient(f"http://127.0.0.1:{port}/events") as c:
                with pytest.raises(BadProtocolException) as info:
                    await c.send_event("n", 1)
                assert info.value.body == b"<html />"
        finally:
            srv.close()
            await srv.wait_closed()

    asyncio.run(go())


def test_async_many_in_flight(server: Server) -> None:
    async def go() -> list[ResponseEvent]:
        async with AsyncEventClient(server.url) as c:
            return await asyncio.gather(*(c.send_event("echo:payload", 1, {"i": i}) for i in range(200)))

    answers = asyncio.run(go())
    assert [a.payload["i"] for a in answers] == list(range(200))


# --- the aiohttp transport across event loops ---------------------------------------------


def _no_unclosed_warnings(caught: list[warnings.WarningMessage], caplog: pytest.LogCaptureFixture) -> None:
    gc.collect()
    texts = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if "nclosed" in t], texts


def test_async_client_reused_across_asyncio_run_calls(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    client = AsyncEventClient(server.url)
    gc.collect()  # other tests' garbage is not ours to judge

    async def one(i: int) -> ResponseEvent:
        return await client.send_event("echo:payload", 1, {"i": i})

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = [asyncio.run(one(i)) for i in range(3)]  # a new loop each time
        asyncio.run(client.aclose())
        _no_unclosed_warnings(caught, caplog)
    assert [a.payload for a in answers] == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_aiohttp_transport_one_loop_per_test_style(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    # pytest-asyncio style: each test gets a fresh loop, shut down and closed afterwards (as
    # asyncio.Runner does); the client is shared. The session of each loop closes with it.
    client = AsyncEventClient(server.url)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(3):
            loop = asyncio.new_event_loop()
            try:
                answer = loop.run_until_complete(client.send_event("echo:payload", 1, {"i": i}))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
            assert answer.payload == {"i": i}
        del loop
        asyncio.run(client.aclose())
        _no_unclosed_warnings(caught, caplog)


# --- timeouts are a total deadline (docs/protocol.md §3, §4) ------------------------------------


TRICKLED_BYTES = 30


def trickle_body(conn: socket.socket, request: bytes) -> None:
    """The status line and headers at once, then one body byte every 0.1 s (30 in all, so a
    client that waits for all of them is done in about 3 s)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % TRICKLED_BYTES)
    for _ in range(TRICKLED_BYTES):
        time.sleep(0.1)
        conn.sendall(b" ")


@pytest.fixture
def trickling() -> Any:
    with RawServer(trickle_body) as srv:
        yield srv


def test_timeout_is_a_total_deadline_against_a_trickling_server(trickling: RawServer, send: Any) -> None:
    # Each byte arrives well within any per-read timeout; only a total deadline stops this.
    start = time.monotonic()
    with pytest.raises(TimeoutException):
        send(trickling.url, "n", 1, timeout=1.0)
    elapsed = time.monotonic() - start
    assert 0.9 < elapsed < 1.6, elapsed


def test_sync_client_default_timeout_is_a_total_deadline(trickling: RawServer) -> None:
    with EventClient(trickling.url, timeout=0.5) as client:
        start = time.monotonic()
        with pytest.raises(TimeoutException):
            client.send_event("n", 1)
        assert time.monotonic() - start < 1.1
