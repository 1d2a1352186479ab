"""Clients bound memory, not just bytes read (README, "Sending events"): a compressed answer is
inflated within ``max_answer``, a stack of encodings is refused, and the async client's total
timeout is exact (aiohttp would round it up to a whole second)."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable

import pytest

from fastevents import AsyncEventClient, BadProtocolException, ResponseEvent, TimeoutException

from .helpers_http import ROOT, RawServer
from .test_client_promises import OK_ANSWER, SENDERS

MiB = 1024 * 1024


@pytest.fixture(params=sorted(SENDERS))
def send(request: pytest.FixtureRequest) -> Callable[..., ResponseEvent]:
    """Each of the four ways to send (test_client_promises.SENDERS)."""
    return SENDERS[request.param]


def gzip(data: bytes) -> bytes:
    return zlib.compress(data, 9, wbits=16 + zlib.MAX_WBITS)


def deflate(data: bytes, raw: bool = False) -> bytes:
    return zlib.compress(data, 9, wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)


@functools.cache
def gzipped_zeros(mib: int) -> bytes:
    """``mib`` MiB of zero bytes, gzipped a MiB at a time (about 1 KB per MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    return b"".join([*(packer.compress(zeros) for _ in range(mib)), packer.flush()])


def answering(body: bytes, encoding: str | None, chunked: bool = False) -> Callable[[socket.socket, bytes], None]:
    def answer(conn: socket.socket, request: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if encoding is not None:
            head += b"Content-Encoding: %s\r\n" % encoding.encode()
        if chunked:
            conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 65536):
                piece = body[start : start + 65536]
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.sendall(b"0\r\n\r\n")
        else:
            conn.sendall(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    return answer


# --- compressed answers are decoded, within the cap ----------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip),
        ("x-gzip", gzip),
        ("deflate", deflate),
        ("deflate", functools.partial(deflate, raw=True)),  # sent without the zlib wrapper
        ("identity", lambda data: data),
        ("GZIP, identity", gzip),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "identity", "gzip-identity"],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_compressed_answers_are_decoded(
    send: Callable[..., ResponseEvent], encoding: str, encode: Callable[[bytes], bytes], chunked: bool
) -> None:
    with RawServer(answering(encode(OK_ANSWER), encoding, chunked)) as server:
        assert send(server.url).name == "n:response"


def test_every_client_asks_for_the_encodings_it_decodes(send: Callable[..., ResponseEvent]) -> None:
    with RawServer(answering(OK_ANSWER, None)) as server:
        send(server.url)
    (request,) = server.requests
    head = request.partition(b"\r\n\r\n")[0].lower()
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in head + b"\r\n", head


@pytest.mark.parametrize("encoding", ["gzip, gzip", "deflate, gzip", "gzip,gzip,gzip"])
def test_stacked_encodings_are_refused(send: Callable[..., ResponseEvent], encoding: str) -> None:
    with (
        RawServer(answering(gzip(gzip(OK_ANSWER)), encoding)) as server,
        pytest.raises(BadProtocolException, match="stacked encodings are refused"),
    ):
        send(server.url)


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_an_encoding_not_asked_for_is_refused(send: Callable[..., ResponseEvent], encoding: str) -> None:
    with (
        RawServer(answering(OK_ANSWER, encoding)) as server,
        pytest.raises(BadProtocolException, match="not asked for"),
    ):
        send(server.url)


def test_a_corrupt_compressed_answer_is_a_bad_protocol(send: Callable[..., ResponseEvent]) -> None:
    with (
        RawServer(answering(b"\x1f\x8b\x08\x00 not gzip at all", "gzip")) as server,
        pytest.raises(BadProtocolException),
    ):
        send(server.url)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_compressed_answer_over_max_answer_is_refused(send: Callable[..., ResponseEvent], chunked: bool) -> None:
    big = b'{"name":"n:response","version":1,"payload":"' + b"x" * 5000 + b'"}'
    with RawServer(answering(gzip(big), "gzip", chunked)) as server:
        assert send(server.url, max_answer=len(big)).payload == "x" * 5000
        with pytest.raises(BadProtocolException, match="max_answer") as info:
            send(server.url, max_answer=len(big) - 1)
    assert len(info.value.body) <= 64 * 1024


# --- peak memory against decompression bombs, measured in a fresh process ----------------------

# The client runs in a child process: one call answered normally first (every import, pool and
# buffer in place), then one bomb; the growth of the peak resident set (ru_maxrss) between them
# is what the bomb cost.
_CHILD = r"""
import asyncio, json, resource, sys
import httpx
from fastevents import AsyncEventClient, BadProtocolException, EventClient

kind, ok_url, bomb_url = sys.argv[1:4]

def send(url):
    if kind.startswith("sync"):
        http = httpx.Client() if kind == "sync-user-httpx" else None
        with EventClient(url, 30, client=http) as client:
            return client.send_event("n", 1)

    async def go():
        http = httpx.AsyncClient() if kind == "async-user-httpx" else None
        async with AsyncEventClient(url, 30, client=http) as client:
            return await client.send_event("n", 1)

    return asyncio.run(go())

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

for _ in range(2):
    assert send(ok_url).name == "n:response"
before = peak_kib()
try:
    send(bomb_url)
    outcome = "answered"
except BadProtocolException as exc:
    outcome = str(exc)[:200]
print(json.dumps({"growth_kib": peak_kib() - before, "outcome": outcome}))
"""

BOMBS = {
    # one layer: 128 MiB of zeros in about 130 KB (httpx inflated it 64 KB of input at a time)
    "gzip": (lambda: gzipped_zeros(128), "gzip"),
    # two layers: 256 MiB of zeros in under 1 KB (the 1.8 KB held 2 GiB)
    "gzip-gzip": (lambda: gzip(gzipped_zeros(256)), "gzip, gzip"),
}


@pytest.mark.slow
@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize("kind", sorted(SENDERS))
def test_a_decompression_bomb_costs_at_most_about_max_answer(kind: str, bomb: str) -> None:
    make, encoding = BOMBS[bomb]
    body = make()
    with RawServer(answering(gzip(OK_ANSWER), "gzip")) as ok, RawServer(answering(body, encoding)) as hostile:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, ok.url, hostile.url],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"] != "answered"
    # max_answer is 4 MiB: the decoded part kept, once joined, and the socket's buffers.
    assert report["growth_kib"] < 32 * 1024, report


# --- the async client's total timeout is exact ----------------------------------------------------


class Silent:
    """Accepts connections and reads requests, never answers; :meth:`close` stops it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/events"
        self.conns: list[socket.socket] = []

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        while True:
            conn, _ = await loop.sock_accept(self.sock)
            self.conns.append(conn)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [5.0, 5.3, 6.7])
def test_async_total_timeout_of_five_seconds_or_more_holds_within_a_tenth(seconds: float) -> None:
    silent = Silent()

    async def go() -> float:
        server = asyncio.get_running_loop().create_task(silent.serve())
        try:
            async with AsyncEventClient(silent.url, seconds) as client:
                start = time.monotonic()
                with pytest.raises(TimeoutException):
                    await client.send_event("n", 1)
                return time.monotonic() - start
        finally:
            server.cancel()

    try:
        elapsed = asyncio.run(go())
    finally:
        silent.close()
    assert seconds - 0.01 <= elapsed < seconds + 0.1, elapsed
