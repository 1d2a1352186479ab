"""HTTP/1.1 framing attacks against a real ``fastevents serve``: chunked trailers and chunk
extensions, charsets that are no text encoding, pipelining, and ``Upgrade`` on a POST.

Raw sockets on loopback, short limits so each attack is over in a few seconds; the versions
with other clients under load and their figures are in BENCHMARKS.md
(``python -m benchmarks.http_attacks``).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .helpers_http import Server, load, rss_kib, serve_fastevents

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals"),
]

MAX_BODY = 65_536
MAX_HEADER = 8_192
EXAMPLE = b'{"name": "get:event:example", "version": 1, "payload": {"example": "x"}}'
#: A body that is itself an HTTP request: if it were parsed as one, it would be answered 405.
SMUGGLED = b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n"
H2C = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
WEBSOCKET = (
    b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serve_fastevents(
        "--header-timeout",
        "2",
        "--body-timeout",
        "2",
        "--keep-alive-timeout",
        "2",
        "--max-body",
        str(MAX_BODY),
        "--max-header-size",
        str(MAX_HEADER),
        "--log-level",
        "info",
    ) as srv:
        yield srv


def connect(srv: Server, timeout: float = 5.0) -> socket.socket:
    host, port = srv.base.rsplit("//", 1)[1].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def post(body: bytes, extra: bytes = b"", content_type: bytes = b"application/json") -> bytes:
    return (
        b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
        % (content_type, len(body), extra)
    ) + body


def chunked_head(extra: bytes = b"") -> bytes:
    return (
        b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n%s\r\n"
        % (extra)
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def read_until_closed(sock: socket.socket, limit: float = 6.0) -> tuple[bytes, str]:
    """Everything the server sends until it closes: (bytes, "eof" | "reset" | "timeout")."""
    sock.settimeout(limit)
    data = b""
    try:
        while piece := sock.recv(65536):
            data += piece
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "timeout"
    return data, "eof"


def answers(data: bytes) -> list[tuple[int, bytes]]:
    """The HTTP answers in ``data``, in order: (status, body); bodies by their Content-Length."""
    found = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data[:200]
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
        found.append((status, rest[:length]))
        data = rest[length:]
    return found


def event_name(body: bytes) -> str:
    return str(json.loads(body)["name"])


def exchange(srv: Server, parts: list[bytes], pause: float = 0.3) -> tuple[list[tuple[int, bytes]], str]:
    """Send ``parts`` on one connection, ``pause`` s apart; the answers until the server closes."""
    sock = connect(srv)
    try:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)  # let the server read each part on its own
        data, end = read_until_closed(sock)
    finally:
        sock.close()
    return answers(data), end


# --- chunked trailers and chunk extensions ----------------------------------------------------


def endless(sock: socket.socket, piece: bytes, limit: int = 50_000_000) -> int:
    """Send ``piece`` until the server stops taking it (or ``limit`` bytes); the bytes sent."""
    sent = 0
    try:
        while sent < limit:
            sock.sendall(piece)
            sent += len(piece)
    except OSError:
        pass
    return sent


@pytest.mark.parametrize(
    ("opening", "piece", "status"),
    [
        pytest.param(chunk(EXAMPLE) + b"0\r\nX-Trailer: ", b"a" * 16384, 431, id="endless-trailer-field"),
        pytest.param(
            chunk(EXAMPLE) + b"0\r\n", b"X-Trailer: aaaaaaaaaaaaaaaaaaaa\r\n" * 400, 431, id="endless-trailer"
        ),
        pytest.param(chunk(EXAMPLE) + b"1;ext=", b"a" * 16384, 413, id="endless-chunk-extension"),
        pytest.param(b"", b"1;e=%s\r\n \r\n" % (b"a" * 1000), 413, id="one-byte-chunks-long-extensions"),
    ],
)
def test_chunk_framing_is_bounded_and_others_are_served(
    server: Server, opening: bytes, piece: bytes, status: int
) -> None:
    before = rss_kib(server.pid)
    outcome: dict[str, Any] = {}

    def attack() -> None:
        sock = connect(server)
        sock.sendall(chunked_head() + opening)
        outcome["sent"] = endless(sock, piece)
        outcome["answer"], outcome["end"] = read_until_closed(sock)
        sock.close()

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    result = load(server.url, connections=4, seconds=1.5, body=EXAMPLE)
    thread.join(20)
    assert outcome["answer"].startswith(b"HTTP/1.1 %d " % status), outcome
    assert b"connection: close" in outcome["answer"].lower()
    assert outcome["sent"] < 10_000_000  # cut off, not read on
    assert result["errors"] == 0 and result["p99_ms"] < 500, result
    assert rss_kib(server.pid) - before < 50 * 1024
    assert "Traceback" not in server.output()


def test_a_chunked_body_with_extensions_and_a_trailer_is_answered(server: Server) -> None:
    body = chunked_head(b"Trailer: X-Checksum\r\n") + chunk(EXAMPLE[:20])
    rest = b"%x;name=value\r\n%s\r\n" % (len(EXAMPLE) - 20, EXAMPLE[20:]) + b"0\r\nX-Checksum: 1234\r\n\r\n"
    found, _ = exchange(server, [body, rest, LAST])
    assert [(status, event_name(text)) for status, text in found] == [(200, "get:event:example:response")] * 2


# --- charsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "charset",
    ["idna", "punycode", "utf-7", "unicode-escape", "raw-unicode-escape", "rot13", "base64", "zlib", "uu", "hex"],
)
def test_a_charset_that_is_no_text_encoding_is_415_at_once(server: Server, charset: str) -> None:
    body = EXAMPLE + b" " * 200_000
    found, _ = exchange(server, [post(body, content_type=b"application/json; charset=" + charset.encode())], pause=0)
    assert found[0] == (415, b"Unsupported Media Type"), found


@pytest.mark.parametrize("charset", ["utf-16", "UTF-16BE", "utf-32-le", "iso-8859-1", "windows-1252", "us-ascii"])
def test_an_allowed_charset_is_transcoded(server: Server, charset: str) -> None:
    event = {"name": "echo:payload", "version": 1, "payload": {"text": "déjà vu" if "ascii" not in charset else "x"}}
    body = json.dumps(event, ensure_ascii=False).encode(charset)
    answer = httpx.post(server.url, content=body, headers={"content-type": f"application/json; charset={charset}"})
    assert answer.status_code == 200
    assert answer.json()["payload"] == event["payload"]


# --- pipelining -------------------------------------------------------------------------------


def split(request: bytes, at: int) -> tuple[bytes, bytes]:
    return request[:at], request[at:]


#: The last request of a pipeline: the server closes once it is answered.
LAST = post(EXAMPLE, b"Connection: close\r\n")
SLOW = post(b'{"name": "slow:sleep", "version": 1, "payload": {"seconds": 0.4}}')
CHUNKED = chunked_head() + chunk(EXAMPLE[:30]) + chunk(EXAMPLE[30:]) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param([post(EXAMPLE) * 3 + LAST], id="four-in-one-write"),
        pytest.param([CHUNKED * 3 + LAST], id="chunked-in-one-write"),
        pytest.param(
            [post(EXAMPLE) + split(post(EXAMPLE), -10)[0], split(post(EXAMPLE), -10)[1] + LAST],
            id="second-body-split",
        ),
        pytest.param([CHUNKED + split(CHUNKED, -12)[0], split(CHUNKED, -12)[1] + LAST], id="chunked-split"),
        pytest.param(
            [SLOW + split(LAST, -5)[0], split(LAST, -5)[1]], id="body-arriving-when-the-previous-answer-completes"
        ),
        pytest.param([SLOW + split(LAST, 40)[0], split(LAST, 40)[1]], id="headers-split"),
    ],
)
def test_pipelined_requests_are_all_answered_in_order(server: Server, parts: list[bytes]) -> None:
    sent = b"".join(parts).count(b"POST /events")
    found, end = exchange(server, parts, pause=0.6)
    names = [event_name(text) for _, text in found]
    assert len(found) == sent and all(status == 200 for status, _ in found), found
    assert names[-1] == "get:event:example:response", names
    assert end == "eof"


@pytest.mark.parametrize(
    ("split_at", "behind"),
    [(None, 1), (200, 1), (None, 3000)],
    ids=["one-write", "body-split", "many-behind-it"],
)
def test_a_pipelined_413_is_answered_after_the_answers_before_it(
    server: Server, split_at: int | None, behind: int
) -> None:
    # With many requests behind it, some are still unread when the 413 closes the connection:
    # the close must let the client read the answers rather than reset them.
    stream = post(EXAMPLE) + post(EXAMPLE) + post(b"x" * (MAX_BODY + 1)) + post(EXAMPLE) * behind
    first = len(post(EXAMPLE)) * 2 + (split_at or len(stream))
    found, end = exchange(server, [stream[:first], stream[first:]] if split_at else [stream])
    assert [status for status, _ in found] == [200, 200, 413], found
    assert end == "eof"


# --- Upgrade on a POST --------------------------------------------------------------------------


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
@pytest.mark.parametrize("cut", [None, -10, 0], ids=["one-write", "body-split", "body-apart"])
def test_upgrade_on_a_post_reads_the_body_as_the_body(server: Server, upgrade: bytes, cut: int | None) -> None:
    request = post(SMUGGLED, upgrade)
    if cut == 0:
        parts = list(split(request, len(request) - len(SMUGGLED)))
    elif cut:
        parts = list(split(request, cut))
    else:
        parts = [request]
    parts[-1] += post(EXAMPLE)  # a request after it is not parsed either: the connection closes
    found, end = exchange(server, parts)
    assert len(found) == 1 and found[0][0] == 200, found
    assert json.loads(found[0][1])["payload"]["parameters"]["message"] == "body is not valid JSON"
    assert end == "eof"


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_event_offering_an_upgrade_is_answered_over_http_1_1(server: Server, upgrade: bytes, chunked: bool) -> None:
    request = chunked_head(upgrade) + chunk(EXAMPLE) + b"0\r\n\r\n" if chunked else post(EXAMPLE, upgrade)
    found, end = exchange(server, list(split(request, len(request) - 20)))
    assert [(status, event_name(text)) for status, text in found] == [(200, "get:event:example:response")]
    assert end == "eof"


def test_bytes_after_an_upgrade_offer_do_not_replace_its_answer(server: Server) -> None:
    slow = b'{"name": "slow:sleep", "version": 1, "payload": {"seconds": 0.5}}'
    junk = SMUGGLED * (2 * MAX_HEADER // len(SMUGGLED))  # past the header size cap if it were parsed
    found, end = exchange(server, [post(slow, H2C), junk], pause=0.1)
    assert [(status, json.loads(text)["payload"]) for status, text in found] == [(200, {"slept": 0.5})]
    assert end == "eof"


def test_a_pipelined_request_past_a_limit_is_refused_in_its_turn(server: Server) -> None:
    slow = post(b'{"name": "slow:sleep", "version": 1, "payload": {"seconds": 0.5}}')
    trailer = chunked_head() + chunk(EXAMPLE) + b"0\r\nX-Trailer: " + b"a" * (4 * MAX_HEADER)
    found, end = exchange(server, [slow + trailer[:2000], trailer[2000:]], pause=0.1)
    assert [status for status, _ in found] == [200, 431], found
    assert json.loads(found[0][1])["payload"] == {"slept": 0.5}
    assert end == "eof"
