"""Pooled keep-alive connections never race the server's idle timeout (README, "Sending events").

``fastevents serve`` (uvicorn) closes a connection idle for 5 s. A client that keeps idle
connections longer sends some calls on connections the server is closing at that moment,
and those calls fail although the server never read them. The clients expire idle
connections after ``KEEPALIVE_EXPIRY`` (1 s), below common servers' keep-alive.

The race itself is a matter of milliseconds and load, so it is not what is tested (an
earlier test fired bursts around uvicorn's 5 s mark and could only make a failure likely).
What is tested is what rules the race out, deterministically: against a server that never
closes idle connections, and records which connection carried each request, every client
reuses a connection idle for less than ``KEEPALIVE_EXPIRY`` and never one idle for longer.
The idle times are the behaviour under test, not a synchronisation.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pytest

from fastevents import AsyncEventClient, EventClient
from fastevents._client import KEEPALIVE_EXPIRY, HttpxTransport

from .helpers_http import read_message

pytestmark = pytest.mark.slow

OK_ANSWER = (
    b'{"name":"n:response","version":1,"id":"i","flowId":"f","payload":{},"identity":{},"auth":{},"metadata":{}}'
)
SHORT_IDLE = 0.2  # well inside the expiry
LONG_IDLE = KEEPALIVE_EXPIRY + 0.3  # past it


class KeepAliveServer:
    """Loopback HTTP/1.1 that keeps every connection open until the client closes it;
    ``peers`` holds the client port of each request, in order: one port, one connection."""

    def __init__(self) -> None:
        self.peers: list[int] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/events"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._connection, args=(conn, peer[1]), daemon=True).start()

    def _connection(self, conn: socket.socket, port: int) -> None:
        data = b""
        with conn:
            conn.settimeout(10)
            try:
                while (message := read_message(conn, data)) is not None:
                    data = message[2]  # what follows: the next request, pipelined
                    self.peers.append(port)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(OK_ANSWER), OK_ANSWER)
                    )
            except OSError:
                return

    def __enter__(self) -> KeepAliveServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _sync(url: str) -> None:
    with EventClient(url, 5.0) as client:
        for idle in (0.0, SHORT_IDLE, LONG_IDLE):
            time.sleep(idle)  # the client stays idle: the behaviour under test
            assert client.send_event("n", 1).is_success


def _async(make: Callable[[str], AsyncEventClient]) -> Callable[[str], None]:
    def run(url: str) -> None:
        async def go() -> None:
            async with make(url) as client:
                for idle in (0.0, SHORT_IDLE, LONG_IDLE):
                    await asyncio.sleep(idle)  # the client stays idle: the behaviour under test
                    assert (await client.send_event("n", 1)).is_success

        asyncio.run(go())

    return run


CLIENTS: dict[str, Callable[[str], None]] = {
    "sync": _sync,
    "async-aiohttp": _async(lambda url: AsyncEventClient(url, 5.0)),
    "async-httpx": _async(lambda url: AsyncEventClient(url, 5.0, transport=HttpxTransport())),
}


def test_the_expiry_is_below_common_servers_keep_alive() -> None:
    assert KEEPALIVE_EXPIRY < 2.0  # gunicorn's 2 s, uvicorn's (and so fastevents serve's) 5 s


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_a_connection_idle_past_the_expiry_is_never_reused(kind: str) -> None:
    with KeepAliveServer() as server:
        CLIENTS[kind](server.url)
    first, after_short_idle, after_long_idle = server.peers
    assert after_short_idle == first  # pooled: reused while fresh
    assert after_long_idle != first  # expired: a new connection, never one the server may be closing
