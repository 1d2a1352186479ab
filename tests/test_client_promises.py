"""What both clients promise (README, "Sending events"): no redirect followed, a total timeout
that holds while headers trickle in, a cap on answers, a queue for connections of their own."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from fastevents import (
    AsyncEventClient,
    BadProtocolException,
    EventClient,
    FailedDependencyException,
    ResponseEvent,
    TimeoutException,
)
from fastevents._client import DEFAULT_MAX_ANSWER
from fastevents._client._clients import _Slots

from .helpers_http import RawServer, Server, serve_fastevents
from .waiting import wait_until_async

pytestmark = pytest.mark.slow

OK_ANSWER = (
    b'{"name":"n:response","version":1,"id":"i","flowId":"f","payload":{},"identity":{},"auth":{},"metadata":{}}'
)


def answer_ok(conn: socket.socket, request: bytes) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(OK_ANSWER), OK_ANSWER)
    )


# The four ways to send: the two clients, each on its own pool or over a user's httpx client
# (which would follow redirects).


def send_sync(url: str, **kw: Any) -> ResponseEvent:
    timeout = kw.pop("timeout", 5.0)
    with EventClient(url, timeout, **kw) as client:
        return client.send_event("n", 1, {}, auth={"token": "secret"})


def send_sync_user_client(url: str, **kw: Any) -> ResponseEvent:
    timeout = kw.pop("timeout", 5.0)
    with httpx.Client(follow_redirects=True) as http, EventClient(url, timeout, client=http, **kw) as client:
        return client.send_event("n", 1, {}, auth={"token": "secret"})


def send_async(url: str, **kw: Any) -> ResponseEvent:
    timeout = kw.pop("timeout", 5.0)

    async def go() -> ResponseEvent:
        async with AsyncEventClient(url, timeout, **kw) as client:
            return await client.send_event("n", 1, {}, auth={"token": "secret"})

    return asyncio.run(go())


def send_async_user_client(url: str, **kw: Any) -> ResponseEvent:
    timeout = kw.pop("timeout", 5.0)

    async def go() -> ResponseEvent:
        async with (
            httpx.AsyncClient(follow_redirects=True) as http,
            AsyncEventClient(url, timeout, client=http, **kw) as client,
        ):
            return await client.send_event("n", 1, {}, auth={"token": "secret"})

    return asyncio.run(go())


SENDERS = {
    "sync": send_sync,
    "sync-user-httpx": send_sync_user_client,
    "async": send_async,
    "async-user-httpx": send_async_user_client,
}


@pytest.fixture(params=sorted(SENDERS))
def send(request: pytest.FixtureRequest) -> Callable[..., ResponseEvent]:
    return SENDERS[request.param]


# --- 1. no redirect is ever followed -----------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_a_failed_dependency_and_never_followed(send: Callable[..., ResponseEvent], status: int) -> None:
    with RawServer(answer_ok) as elsewhere:

        def redirect(conn: socket.socket, request: bytes) -> None:
            conn.sendall(
                b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 7\r\n\r\nmoved!\n"
                % (status, elsewhere.url.encode())
            )

        with RawServer(redirect) as origin:
            with pytest.raises(FailedDependencyException) as info:
                send(origin.url)
            assert len(origin.requests) == 1 and b"secret" in origin.requests[0]
        assert (info.value.status, info.value.body) == (status, b"moved!\n")
        assert elsewhere.requests == []  # the envelope, auth included, went nowhere else


# --- 2. the total timeout holds while headers trickle in ----------------------------------------


def drip_headers(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(5000):  # 100 s at one byte per 20 ms: far past any call's timeout
        conn.sendall(b"X-Drip: a\r\n"[:1])
        time.sleep(0.02)


def test_total_timeout_holds_while_headers_trickle_in(send: Callable[..., ResponseEvent]) -> None:
    if send is send_sync_user_client:
        pytest.skip("a user's httpx.Client times each read on its own (documented)")
    with RawServer(drip_headers) as dripping:
        start = time.monotonic()
        with pytest.raises(TimeoutException):
            send(dripping.url, timeout=1.0)
        elapsed = time.monotonic() - start
    assert 0.9 < elapsed < 1.5, elapsed


# --- 3. answers have a size cap -----------------------------------------------------------------


class Flood:
    """Answers with an endless body, declared or chunked; counts the bytes it got out."""

    CHUNK = b" " * 65536
    LIMIT = 512 * 1024 * 1024  # gives up there (the client read it all: the test fails)

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.sent = 0

    def __call__(self, conn: socket.socket, request: bytes) -> None:
        if self.chunked:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"%x\r\n%s\r\n" % (len(self.CHUNK), self.CHUNK)
        else:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % self.LIMIT
            )
            piece = self.CHUNK
        while self.sent < self.LIMIT:
            conn.sendall(piece)
            self.sent += len(self.CHUNK)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_answer_over_max_answer_is_refused_without_reading_it(
    send: Callable[..., ResponseEvent], chunked: bool
) -> None:
    flood = Flood(chunked)
    with RawServer(flood) as server:
        start = time.monotonic()
        with pytest.raises(BadProtocolException) as info:
            send(server.url, timeout=20.0)
        elapsed = time.monotonic() - start
    assert "max_answer" in str(info.value)
    assert len(info.value.body) <= 64 * 1024
    if not chunked:  # refused by its Content-Length, before reading
        assert info.value.body == b""
        assert "Content-Length" in str(info.value)
    # 4 MiB read, plus what the sockets' buffers hold: far from the 512 MiB on offer.
    assert flood.sent < 64 * 1024 * 1024, flood.sent
    assert elapsed < 5, elapsed


def test_max_answer_is_a_constructor_argument() -> None:
    big = b'{"name":"n:response","version":1,"payload":"' + b"x" * 2000 + b'"}'

    def answer_big(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big))

    with RawServer(answer_big) as server:
        for sender in SENDERS.values():
            assert sender(server.url).payload == "x" * 2000
            with pytest.raises(BadProtocolException):
                sender(server.url, max_answer=1000)
    assert EventClient("http://svc/events").max_answer == DEFAULT_MAX_ANSWER == 4 * 1024 * 1024


def test_custom_transport_answer_over_max_answer_is_refused() -> None:
    class Big:
        async def send(self, url: str, body: bytes, headers: Any, timeout: float) -> tuple[int, bytes]:
            return 200, OK_ANSWER + b" " * 100

        async def aclose(self) -> None:
            pass

    async def go() -> None:
        await AsyncEventClient("http://svc/events", transport=Big(), max_answer=len(OK_ANSWER)).send_event("n", 1)

    with pytest.raises(BadProtocolException, match="max_answer"):
        asyncio.run(go())


# --- 4. the client's own queue for connections ---------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[Server]:
    with serve_fastevents() as srv:
        yield srv


def _async_burst(url: str, calls: int, **kw: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with AsyncEventClient(url, **kw) as client:
            return await asyncio.gather(
                *(client.send_event("slow:sleep", 1, {"seconds": 0.2}) for _ in range(calls)), return_exceptions=True
            )

    return asyncio.run(go())


def test_async_calls_queue_for_a_connection_within_pool_timeout(served: Server) -> None:
    # 1,000 calls, 100 connections, 0.2 s each: about 2 s in all, but no call's 1 s timeout
    # counts the time spent queued.
    answers = _async_burst(served.url, 1000, timeout=1.0, max_connections=100, pool_timeout=10.0)
    failures = [a for a in answers if not isinstance(a, ResponseEvent)]
    assert failures == []
    assert all(a.payload == {"slept": 0.2} for a in answers)


def test_async_pool_timeout_says_it_waited_for_a_connection(served: Server) -> None:
    answers = _async_burst(served.url, 1000, timeout=1.0, max_connections=100, pool_timeout=0.1)
    failures = [a for a in answers if not isinstance(a, ResponseEvent)]
    assert 0 < len(failures) <= 900
    assert all(isinstance(f, TimeoutException) and "waited for a free connection" in str(f) for f in failures)


def test_sync_calls_queue_for_a_connection_within_pool_timeout(served: Server) -> None:
    # 100 threads, 10 connections, 0.2 s each: about 2 s in all, within each call's 1 s.
    def run(pool_timeout: float) -> list[Any]:
        with EventClient(served.url, 1.0, max_connections=10, pool_timeout=pool_timeout) as client:

            def one(_: int) -> Any:
                try:
                    return client.send_event("slow:sleep", 1, {"seconds": 0.2})
                except Exception as exc:
                    return exc

            with ThreadPoolExecutor(100) as pool:
                return list(pool.map(one, range(100)))

    assert [a for a in run(10.0) if not isinstance(a, ResponseEvent)] == []
    failures = [a for a in run(0.1) if not isinstance(a, ResponseEvent)]
    assert 0 < len(failures) <= 90
    assert all(isinstance(f, TimeoutException) and "waited for a free connection" in str(f) for f in failures)


class CountingTransport:
    """Any transport gets the client's queue: counts the calls in flight at once."""

    def __init__(self) -> None:
        self.in_flight = self.most = 0
        self.timeouts: list[float] = []

    async def send(self, url: str, body: bytes, headers: Any, timeout: float) -> tuple[int, bytes]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.timeouts.append(timeout)
        await asyncio.sleep(0.05)
        self.in_flight -= 1
        return 200, OK_ANSWER

    async def aclose(self) -> None:
        pass


def test_queue_is_in_front_of_any_transport_and_timeout_starts_with_the_slot() -> None:
    transport = CountingTransport()

    async def go() -> list[ResponseEvent]:
        client = AsyncEventClient("http://svc/events", 0.5, transport=transport, max_connections=3)
        return await asyncio.gather(*(client.send_event("n", 1) for _ in range(30)))

    start = time.monotonic()
    assert all(a.is_success for a in asyncio.run(go()))
    assert transport.most == 3
    assert transport.timeouts == [0.5] * 30  # 0.5 s each, though the last waited ~0.45 s for its slot
    assert time.monotonic() - start >= 0.45


def test_queue_works_across_event_loops() -> None:
    transport = CountingTransport()
    client = AsyncEventClient("http://svc/events", transport=transport, max_connections=2)

    async def burst() -> None:
        await asyncio.gather(*(client.send_event("n", 1) for _ in range(6)))

    for _ in range(3):
        asyncio.run(burst())  # a new loop each time: the old loop's semaphore cannot serve it
    assert transport.most == 2 and len(transport.timeouts) == 18


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_connections": 0},
        {"max_answer": 0},
        {"pool_timeout": -1},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"timeout": None},
        {"max_connections": 1.5},
    ],
)
def test_limits_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EventClient("http://svc/events", **kwargs)
    with pytest.raises(ValueError):
        AsyncEventClient("http://svc/events", **kwargs)


def test_slots_pass_in_order_and_skip_or_pass_on_waiters_that_give_up() -> None:
    async def go() -> None:
        slots = _Slots(1)
        slots.free -= 1  # the one slot is taken
        order: list[int] = []

        async def waiter(i: int, seconds: float) -> None:
            if await slots.wait(seconds):
                order.append(i)
                slots.release()
            else:
                order.append(-i)

        tasks = [asyncio.create_task(waiter(i, 5.0)) for i in (1, 2, 3, 4)]
        late = asyncio.create_task(waiter(5, 0.01))
        await wait_until_async(lambda: -5 in order)  # 5 gave up waiting
        tasks[0].cancel()  # 1 gives up before a slot is free...
        slots.release()  # ...so the slot skips it and is handed to 2,
        tasks[1].cancel()  # which is cancelled before it runs: 3 gets it, then 4
        await asyncio.gather(*tasks, late, return_exceptions=True)
        assert order == [-5, 3, 4]
        assert (slots.free, len(slots.waiters)) == (1, 0)

    asyncio.run(go())
