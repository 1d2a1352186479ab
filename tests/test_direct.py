"""``fastevents serve``'s direct path (``fastevents/_server/_direct.py``).

In process, with a stand-in transport: which requests take the direct path, that a
synchronous handler is answered inside the read with no task and an ``async`` one gets one
task, and that a client gone, a shutdown and the keep-alive timeout behave as on the ASGI
path. Over loopback: the same requests -- every conformance case, refusals, pipelining,
HTTP/1.0, chunked and split bodies -- sent to ``fastevents serve`` and to ``fastevents serve``
with ``FASTEVENTS_SERVE_ASGI=1`` get the same bytes back, and the same close.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.server import ServerState

from fastevents import Event, EventRouter, _observe, asgi_app
from fastevents._conformance import _body, load_cases
from fastevents._server._direct import ANSWERED, DirectCycle

from .helpers_http import Server, serve_fastevents

EXAMPLE = b'{"name": "get:event:example", "version": 1, "id": "i-1", "flowId": "f-1", "payload": {"example": "x"}}'
SLOW = b'{"name": "slow:wait", "version": 1, "id": "i-2", "flowId": "f-2"}'


def request(body: bytes = EXAMPLE, path: bytes = b"/events", method: bytes = b"POST", extra: bytes = b"") -> bytes:
    return (
        b"%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
        % (method, path, len(body), extra)
    ) + body


# --- in process --------------------------------------------------------------------------


class FakeTransport:
    """What the protocol needs of a transport; records what is written."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close

    def write_eof(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Connection:
    """A hardened protocol serving ``router`` on a stand-in transport, on its own loop."""

    def __init__(self, router: EventRouter, *, direct: bool = True, keep_alive: float = 5.0) -> None:
        # Imported here: test_cli checks what `serve` says when uvicorn cannot be imported,
        # which an import of fastevents._server when this module is collected would defeat.
        from fastevents._server import HardenedHttpToolsProtocol, Limits, ServeConfig

        self.loop = asyncio.new_event_loop()
        self.app = asgi_app(router, body_timeout=None, health_path="/health")
        config = ServeConfig(
            self.app,
            limits=Limits(),
            direct=direct,
            lifespan="off",
            access_log=False,
            proxy_headers=False,
            log_level="warning",
            timeout_keep_alive=keep_alive,
        )
        config.load()
        self.state = ServerState()
        self.state.default_headers = [(b"date", b"Fri, 04 Dec 2026 12:00:00 GMT")]
        self.protocol = HardenedHttpToolsProtocol(config, self.state, {}, self.loop)
        self.transport = FakeTransport()
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]

    def run_until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        async def poll() -> None:
            async with asyncio.timeout(timeout):
                while not done():
                    await asyncio.sleep(0.005)

        self.loop.run_until_complete(poll())

    def close(self) -> None:
        if not self.transport.closed:
            self.protocol.connection_lost(None)
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


@pytest.fixture
def router() -> EventRouter:
    router = EventRouter()
    router.release = asyncio.Event()  # type: ignore[attr-defined]

    @router.event("get:event:example", 1)
    def example(event: Event, payload: Any) -> Any:
        return {"MyEventPayload": payload["example"]}

    @router.event("slow:wait", 1)
    async def wait(event: Event) -> Any:
        await router.release.wait()  # type: ignore[attr-defined]
        return {"waited": True}

    return router


@pytest.fixture
def connection(router: EventRouter) -> Iterator[Connection]:
    conn = Connection(router)
    yield conn
    conn.close()


def split(raw: bytes) -> list[bytes]:
    """A request in two reads: its headers, then its body."""
    end = raw.index(b"\r\n\r\n") + 4
    return [raw[:end], raw[end:]]


@pytest.mark.parametrize(
    ("reads", "cycle"),
    [([request()], ANSWERED), (split(request()), DirectCycle)],
    ids=["one-read-fast-lane", "headers-then-body"],
)
def test_a_sync_handler_is_answered_inside_the_read_without_a_task(
    connection: Connection, reads: list[bytes], cycle: object
) -> None:
    for data in reads:
        connection.protocol.data_received(data)
    # One whole request in one read takes the fast lane (no cycle); in two reads, a DirectCycle.
    assert connection.protocol.cycle is cycle or type(connection.protocol.cycle) is cycle
    assert connection.state.tasks == set()
    head, _, body = bytes(connection.transport.written).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(body)["payload"] == {"MyEventPayload": "x"}
    assert not connection.transport.closed
    assert connection.state.total_requests == 1


def test_a_connection_whose_reads_split_requests_stops_trying_the_fast_lane(connection: Connection) -> None:
    from fastevents._server._protocol import _LANE_TRIES

    for _ in range(_LANE_TRIES):
        assert connection.protocol._lane_tries > 0
        for data in split(request()):
            connection.protocol.data_received(data)
    assert connection.protocol._lane_tries == 0  # given up: reads go straight to the parser
    connection.protocol.data_received(request())
    answers = bytes(connection.transport.written).split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(answers) == _LANE_TRIES + 1
    assert all(json.loads(a.partition(b"\r\n\r\n")[2])["payload"] == {"MyEventPayload": "x"} for a in answers)


def test_after_a_fast_lane_answer_a_shutdown_closes_the_idle_connection_at_once(connection: Connection) -> None:
    connection.protocol.data_received(request())
    assert connection.protocol.cycle is ANSWERED and not connection.transport.closed
    connection.protocol.shutdown()
    assert connection.transport.closed


@pytest.mark.parametrize(
    "raw",
    [
        request(extra=b"Connection: close\r\n"),
        request().replace(b"HTTP/1.1", b"HTTP/1.0"),
        request().replace(b"Content-Type: application/json", b"Content-Type: text/plain"),
        request(extra=b"Expect: 100-continue\r\n"),
        request() + request()[:10],
        request(extra=b"Connection: Upgrade\r\nUpgrade: h2c\r\n"),
    ],
    ids=["connection-close", "http-1.0", "refused-415", "expect", "pipelined-partial", "upgrade"],
)
def test_what_the_fast_lane_does_not_answer_goes_to_the_parser_unchanged(connection: Connection, raw: bytes) -> None:
    connection.protocol.data_received(raw)
    assert connection.protocol.cycle is not ANSWERED
    connection.run_until(lambda: b"\r\n\r\n" in connection.transport.written)


def test_pipelined_sync_requests_are_answered_in_order_in_one_read(connection: Connection) -> None:
    connection.protocol.data_received(request() + request(EXAMPLE.replace(b'"x"', b'"y"')))
    answers = bytes(connection.transport.written).split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert [json.loads(a.partition(b"\r\n\r\n")[2])["payload"]["MyEventPayload"] for a in answers] == ["x", "y"]
    assert connection.state.tasks == set()


def test_an_async_handler_gets_one_task(router: EventRouter, connection: Connection) -> None:
    connection.protocol.data_received(request(SLOW))
    assert len(connection.state.tasks) == 1
    assert connection.transport.written == b""
    router.release.set()  # type: ignore[attr-defined]
    connection.run_until(lambda: bool(connection.transport.written))
    assert json.loads(bytes(connection.transport.written).partition(b"\r\n\r\n")[2])["payload"] == {"waited": True}
    connection.run_until(lambda: not connection.state.tasks)


@pytest.mark.parametrize(
    "raw",
    [
        request(path=b"/health", method=b"GET", body=b""),
        request(path=b"/elsewhere"),
        request(path=b"/events?x=1"),
        request(method=b"PUT"),
        request(extra=b"Expect: 100-continue\r\n"),
    ],
    ids=["health", "other-path", "query", "other-method", "expect-continue"],
)
def test_other_requests_go_through_the_asgi_app(connection: Connection, raw: bytes) -> None:
    connection.protocol.data_received(raw)
    assert type(connection.protocol.cycle) is RequestResponseCycle
    connection.run_until(lambda: b"\r\n\r\n" in connection.transport.written)


def test_with_direct_off_every_request_goes_through_the_asgi_app(router: EventRouter) -> None:
    conn = Connection(router, direct=False)
    try:
        conn.protocol.data_received(request())
        assert type(conn.protocol.cycle) is RequestResponseCycle
        conn.run_until(lambda: b"MyEventPayload" in conn.transport.written)
    finally:
        conn.close()


def test_a_client_gone_cancels_its_async_handler_and_observers_hear_it(connection: Connection) -> None:
    statuses: list[str] = []

    class Observer(_observe.EventObserver):
        def event_ended(self, call: _observe.EventCall, state: Any) -> None:
            statuses.append(call.status)

    observer = Observer()
    _observe.add_observer(observer)
    try:
        connection.protocol.data_received(request(SLOW))
        (task,) = connection.state.tasks
        connection.run_until(lambda: True)  # the handler starts waiting
        connection.transport.closed = True
        connection.protocol.connection_lost(None)
        connection.run_until(task.done)
    finally:
        _observe.remove_observer(observer)
    assert connection.transport.written == b""
    assert statuses == [_observe.CANCELLED]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "asgi"])
def test_a_client_gone_cancels_the_handler_in_flight_before_its_pipelined_requests(
    router: EventRouter, direct: bool
) -> None:
    """uvicorn tells only the newest cycle that the client left; the one in flight, ahead of
    requests pipelined behind it, is told too, so its handler is not left running for nobody."""
    statuses: list[str] = []

    class Observer(_observe.EventObserver):
        def event_ended(self, call: _observe.EventCall, state: Any) -> None:
            statuses.append(call.status)

    conn = Connection(router, direct=direct)
    observer = Observer()
    _observe.add_observer(observer)
    try:
        conn.protocol.data_received(request(SLOW) + request() + request())  # two queued behind the slow one
        conn.run_until(lambda: len(conn.state.tasks) == 1)  # the handler starts waiting
        (task,) = conn.state.tasks
        conn.run_until(lambda: True)
        conn.transport.closed = True
        conn.protocol.connection_lost(None)
        conn.run_until(task.done)
    finally:
        _observe.remove_observer(observer)
        conn.close()
    assert conn.transport.written == b""
    assert statuses == [_observe.CANCELLED]  # the queued requests were never started


def test_a_shutdown_past_its_grace_period_answers_503(connection: Connection) -> None:
    connection.protocol.data_received(request(SLOW))
    (task,) = connection.state.tasks
    connection.run_until(lambda: True)
    connection.protocol.shutdown()  # the server stops: this answer is the connection's last
    connection.app.stopping()
    task.cancel()  # what uvicorn does to the tasks left when the grace period is over
    connection.run_until(task.done)
    written = bytes(connection.transport.written)
    assert written.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"connection: close\r\n" in written and written.endswith(b"Service Unavailable")
    assert connection.transport.closed


def test_an_idle_connection_closes_after_the_keep_alive_timeout(router: EventRouter) -> None:
    conn = Connection(router, keep_alive=0.05)
    try:
        conn.protocol.data_received(request())
        conn.protocol.data_received(request())  # the timer is armed once, not per request
        assert b"MyEventPayload" in conn.transport.written
        conn.run_until(lambda: conn.transport.closed)
    finally:
        conn.close()


# --- over loopback: the direct path and the ASGI path answer alike ---------------------------

MAX_BODY = 65536
_DATE = re.compile(rb"\r\ndate: [^\r]*")
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _case_request(case: dict[str, Any]) -> bytes:
    """A conformance case as the kit sends it (``fastevents/_conformance.py``), keep-alive."""
    req = case["request"]
    body = _body(req)
    oversize = int(req.get("oversize", 0))
    headers = req.get("headers", {"content-type": "application/json"})
    lines = [
        f"{req.get('method', 'POST')} {req.get('path', '/events')} HTTP/1.1",
        "Host: t",
        f"Content-Length: {oversize or len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"x" * 1000 if oversize else body)


def _chunked(body: bytes, size: int) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


_SLOW_ZERO = b'{"name": "slow:sleep", "version": 1, "id": "i", "flowId": "f", "payload": {"seconds": 0.01}}'
_BIG_BODY = b'{"name": "get:event:example", "version": 1, "payload": {"example": "%s"}}' % (b"x" * (MAX_BODY + 10))
_CHUNKED_HEAD = (
    b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)

#: id -> the parts to send (each with its own sendall; a part may still arrive with the next).
EXCHANGES: dict[str, list[bytes]] = {
    **{f"conformance-{case['id']}": [_case_request(case)] for case in load_cases()},
    "two-pipelined": [request() + request(EXAMPLE.replace(b"i-1", b"i-3"))],
    "three-pipelined-async-between": [request() + request(_SLOW_ZERO) + request()],
    "async": [request(_SLOW_ZERO)],
    "http-1.0": [request().replace(b"HTTP/1.1", b"HTTP/1.0", 1)],
    "connection-close": [request(extra=b"Connection: close\r\n")],
    "query": [request(path=b"/events?x=1")],
    "trailing-slash": [request(path=b"/events/")],
    "chunked": [_CHUNKED_HEAD + _chunked(EXAMPLE, 7)],
    "chunked-too-large": [_CHUNKED_HEAD + _chunked(_BIG_BODY, 4096)],
    "declared-too-large-body-sent": [request(_BIG_BODY)],
    "declared-too-large-body-unsent": [request(_BIG_BODY)[:200]],
    "split-body": [request()[:-20], request()[-20:]],
    "split-headers": [request()[:30], request()[30:]],
    "415-text-plain-then-ok": [request().replace(b"application/json", b"text/plain") + request()],
    "415-body-unsent": [request().replace(b"application/json", b"text/plain")[:-10]],
    "415-unknown-charset": [request().replace(b"application/json", b"application/json; charset=nope")],
    "latin-1": [request("é".encode("latin-1").join([EXAMPLE[:-3], EXAMPLE[-3:]]))],
    "content-type-twice": [request(extra=b"Content-Type: text/plain\r\n")],
    "big-answer": [
        request(b'{"name": "big:answer", "version": 1, "id": "i", "flowId": "f", "payload": {"size": 300000}}')
    ],
    "expect-continue": [request(extra=b"Expect: 100-continue\r\n")],
    "health": [request(path=b"/health", method=b"GET", body=b"")],
    "head": [request(method=b"HEAD", body=b"")],
    "not-found-path": [request(path=b"/nope")],
    "unparsable": [b"POST /events HTTP/1.1\r\nContent-Length: x\r\n\r\n"],
}


def _exchange(srv: Server, parts: list[bytes]) -> tuple[bytes, str]:
    """Everything the server sends back until it closes (keep-alive timeout: 0.3 s)."""
    host, port = srv.base.rsplit("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for index, part in enumerate(parts):
            if index:
                sock.settimeout(0.05)  # a moment for the first part to be read on its own
                try:
                    received = sock.recv(65536, socket.MSG_PEEK)
                except TimeoutError:
                    received = b""
                sock.settimeout(10)
                assert received == b"", "answered before the request was whole"
            sock.sendall(part)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            return data, "reset"
        return data, "eof"


def _normal(data: bytes) -> bytes:
    return _UUID.sub(b"<uuid>", _DATE.sub(b"\r\ndate: <date>", data))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    options = ("--keep-alive-timeout", "0.3", "--max-body", str(MAX_BODY), "--health-path", "/health")
    with serve_fastevents(*options) as direct, serve_fastevents(*options, env={"FASTEVENTS_SERVE_ASGI": "1"}) as asgi:
        yield direct, asgi


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXCHANGES))
def test_the_direct_path_answers_byte_for_byte_as_the_asgi_path(servers: tuple[Server, Server], name: str) -> None:
    direct, asgi = servers
    got_direct, end_direct = _exchange(direct, EXCHANGES[name])
    got_asgi, end_asgi = _exchange(asgi, EXCHANGES[name])
    assert got_asgi, "no answer at all"
    assert _normal(got_direct) == _normal(got_asgi)
    assert end_direct == end_asgi


def test_an_asgi_answer_after_a_direct_one_keeps_the_connection_open(connection: Connection) -> None:
    connection.protocol.data_received(request())  # direct: its idle timer is armed
    connection.protocol.data_received(request(path=b"/health", method=b"GET", body=b""))
    connection.run_until(lambda: connection.transport.written.count(b"HTTP/1.1 200 OK") == 2)
    connection.protocol._answered_at -= 60  # the direct answer is long past; the ASGI one is not
    connection.protocol._idle_expired()
    assert not connection.transport.closed


def test_a_client_that_reads_nothing_is_answered_through_the_asgi_app_which_waits(connection: Connection) -> None:
    connection.protocol.pause_writing()  # the transport's buffer is full: the client reads nothing
    connection.protocol.data_received(request())
    assert type(connection.protocol.cycle) is RequestResponseCycle  # its send() waits for the client
    connection.protocol.resume_writing()
    connection.run_until(lambda: b"MyEventPayload" in connection.transport.written)
