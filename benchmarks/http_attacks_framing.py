"""The HTTP/1.1 framing attacks of ``python -m benchmarks.http_attacks``, and what charsets cost.

Each attack is a coroutine ``(host, port, path, connections, seconds) -> counts`` run in the
attacker process (pinned to the load CPU) while other clients post the README example:

* ``trailer_bomb``: a chunked POST whose last chunk is followed by an endless trailer field;
* ``chunk_extension_bomb``: a chunked POST whose second chunk header has an endless extension;
* ``idna_charset``: POSTs of 1 MiB bodies declaring ``charset=idna`` (a decoder quadratic in
  the body's length, see :func:`charset_costs`), one after another, on at most 8 connections;
* ``pipelining``: at most 16 connections each write batches of four pipelined requests, the
  last of which arrives in two writes 20 ms apart (its body still arriving when the answers
  before it complete), and count the answers (every one must be HTTP 200).

The bombs reconnect whenever the server cuts them off, as :func:`http_attacks._attack` does.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

EXAMPLE = b'{"name": "get:event:example", "version": 1, "payload": {"example": "x"}}'
CHARSET_CONNECTIONS = 8
PIPELINING_CONNECTIONS = 16
PIPELINE_DEPTH = 4
MIB = 1_048_576


def _post(path: bytes, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (path, content_type, len(body))
    ) + body


def _chunked_head(path: bytes) -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        % (path)
    )


async def _endless(
    host: str, port: int, opening: bytes, piece: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    """``connections`` connections each send ``opening`` then ``piece`` forever, reconnecting."""
    end = time.monotonic() + seconds
    counts = {"connections": 0, "closed_by_server": 0, "bytes": 0, "connect_errors": 0}

    async def one(index: int) -> None:
        await asyncio.sleep(index * 0.002)
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                counts["connect_errors"] += 1
                await asyncio.sleep(0.1)
                continue
            counts["connections"] += 1
            try:
                writer.write(opening)
                while time.monotonic() < end:
                    writer.write(piece)
                    counts["bytes"] += len(piece)
                    await writer.drain()
                    if reader.at_eof():
                        raise ConnectionResetError
            except OSError:
                counts["closed_by_server"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one(i) for i in range(connections)))
    return counts


async def trailer_bomb(host: str, port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    opening = _chunked_head(path.encode()) + b"%x\r\n%s\r\n0\r\nX-Trailer: " % (len(EXAMPLE), EXAMPLE)
    return await _endless(host, port, opening, b"a" * 16384, connections, seconds)


async def chunk_extension_bomb(host: str, port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    opening = _chunked_head(path.encode()) + b"%x\r\n%s\r\n1;ext=" % (len(EXAMPLE), EXAMPLE)
    return await _endless(host, port, opening, b"a" * 16384, connections, seconds)


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """One HTTP answer (Content-Length framed); its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def idna_charset(host: str, port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    body = b"xn--" + b"ab" * ((MIB - 4) // 2)
    request = _post(path.encode(), body, b"application/json; charset=idna")
    end = time.monotonic() + seconds
    counts: dict[str, Any] = {"connections": 0, "closed_by_server": 0, "requests": 0, "answered_415": 0}
    latencies: list[float] = []

    async def one() -> None:
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            counts["connections"] += 1
            try:
                while time.monotonic() < end:
                    started = time.perf_counter()
                    writer.write(request)
                    counts["requests"] += 1
                    status = await asyncio.wait_for(_read_answer(reader), max(0.1, end - time.monotonic()))
                    latencies.append(time.perf_counter() - started)
                    counts["answered_415"] += status == 415
                    if status == 415:  # answered before the body was read: the server closes
                        raise ConnectionResetError
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                counts["closed_by_server"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one() for _ in range(min(connections, CHARSET_CONNECTIONS))))
    latencies.sort()
    counts["answer_p50_ms"] = latencies[len(latencies) // 2] * 1000 if latencies else None
    return counts


async def pipelining(host: str, port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    one_request = _post(path.encode(), EXAMPLE)
    batch_head = one_request * (PIPELINE_DEPTH - 1) + one_request[:-5]
    batch_tail = one_request[-5:]
    end = time.monotonic() + seconds
    counts: dict[str, Any] = {"connections": 0, "closed_by_server": 0, "sent": 0, "answered": 0}

    async def one() -> None:
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            counts["connections"] += 1
            try:
                while time.monotonic() < end:
                    writer.write(batch_head)
                    await writer.drain()
                    await asyncio.sleep(0.02)
                    writer.write(batch_tail)
                    counts["sent"] += PIPELINE_DEPTH
                    for _ in range(PIPELINE_DEPTH):
                        if await asyncio.wait_for(_read_answer(reader), 5.0) == 200:
                            counts["answered"] += 1
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                counts["closed_by_server"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one() for _ in range(min(connections, PIPELINING_CONNECTIONS))))
    return counts


#: attack name -> coroutine, in the order the table shows them.
ATTACKS: dict[str, Callable[[str, int, str, int, float], Awaitable[dict[str, Any]]]] = {
    "trailer_bomb": trailer_bomb,
    "chunk_extension_bomb": chunk_extension_bomb,
    "idna_charset": idna_charset,
    "pipelining": pipelining,
}


def attack_cell(kind: str, attack: dict[str, Any]) -> str | None:
    """The table's attacker cell for a framing attack (``None``: the default cell)."""
    if kind == "pipelining":
        return (
            f"{attack['connections']:,} ({attack['closed_by_server']:,}); {attack['answered']:,} of "
            f"{attack['sent']:,} pipelined requests answered 200"
        )
    if kind == "idna_charset":
        p50 = attack.get("answer_p50_ms")
        return (
            f"{attack['connections']:,} ({attack['closed_by_server']:,}); {attack['answered_415']:,} of "
            f"{attack['requests']:,} 1 MiB requests answered 415" + (f", p50 {p50:.1f} ms" if p50 is not None else "")
        )
    return None


# --- what transcoding an allowed charset costs (fastevents serve, 1 MiB bodies) --------------------


def _exchange(host: str, port: int, request: bytes) -> tuple[int, float]:
    """One request on a fresh connection: (status, seconds to the whole answer)."""
    with socket.create_connection((host, port), timeout=60) as sock:
        started = time.perf_counter()
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            piece = sock.recv(1 << 20)
            if not piece:
                break
            rest += piece
        return int(lines[0].split()[1]), time.perf_counter() - started


def charset_costs(host: str, port: int, path: str, rounds: int = 15) -> dict[str, Any]:
    """Median time to answer a 1 MiB event in each allowed charset against UTF-8, interleaved;
    and, in process, how the refused ``idna``/``punycode`` decoders grow with the input."""
    from fastevents._asgi import _CHARSETS

    codecs = sorted({codec for codec in _CHARSETS.values() if codec is not None})
    requests: dict[str, tuple[bytes, bytes]] = {}
    for codec in codecs:
        text = "déjà vu " if codec != "ascii" else "deja vu "
        empty = json.dumps({"name": "get:event:example", "version": 1, "payload": {"example": ""}})
        # As long as the longer of its two encodings stays within 1 MiB (a BOM counted once).
        repeat = min(
            (MIB - len(empty.encode(each))) // (len((text * 2).encode(each)) - len(text.encode(each)))
            for each in (codec, "utf-8")
        )
        event = empty.replace('""', '"%s"' % (text * repeat))
        requests[codec] = (
            _post(path.encode(), event.encode(codec), b"application/json; charset=" + codec.encode()),
            _post(path.encode(), event.encode()),  # the same event in UTF-8, processed as sent
        )
    times: dict[str, tuple[list[float], list[float]]] = {codec: ([], []) for codec in codecs}
    for _ in range(rounds):
        for codec, pair in requests.items():
            for request, samples in zip(pair, times[codec], strict=True):
                status, seconds = _exchange(host, port, request)
                if status != 200:
                    raise RuntimeError(f"a 1 MiB body in {codec} was answered HTTP {status}")
                samples.append(seconds)
    decode_ms = {}
    for codec, (request, _) in requests.items():
        body = request.partition(b"\r\n\r\n")[2]
        best = math.inf
        for _ in range(5):
            started = time.perf_counter()
            body.decode(codec)
            best = min(best, time.perf_counter() - started)
        decode_ms[codec] = {"ms": best * 1000, "bytes": len(body)}
    served = {
        codec: {
            "decode_ms": decode_ms[codec]["ms"],
            "bytes": decode_ms[codec]["bytes"],
            "median_ms": statistics.median(own) * 1000,
            "utf8_median_ms": statistics.median(utf8) * 1000,
            "vs_utf8": statistics.median(a / b for a, b in zip(own, utf8, strict=True)),
        }
        for codec, (own, utf8) in times.items()
    }
    refused: dict[str, dict[str, float]] = {}
    for kib in (32, 64, 128):
        for codec, data in (("idna", b"xn--" + b"ab" * (kib * 512)), ("punycode", b"a-" + b"b" * (kib * 1024))):
            started = time.perf_counter()
            try:
                data.decode(codec)
            except UnicodeError:
                pass
            refused.setdefault(codec, {})[f"{kib} KiB"] = (time.perf_counter() - started) * 1000
    return {"rounds": rounds, "served": served, "refused_decode_ms": refused}


def charset_markdown(costs: dict[str, Any]) -> list[str]:
    lines = [
        "Charsets (`fastevents serve`, the same run): the time to answer an event of up to 1 MiB in each "
        "allowed charset (the text `déjà vu ` repeated, `deja vu ` in ASCII; as long as the longer of "
        "its two encodings stays within 1 MiB), against the same event "
        "sent in UTF-8 (processed as sent, no transcoding), one request per fresh connection, "
        f"{costs['rounds']} interleaved rounds; medians, and the median of the per-round ratios. "
        "*Decoding alone*: the body's `bytes.decode` in process, best of 5.\n",
        "| charset (codec) | body | answered in | the same event in UTF-8 | ratio | decoding alone |",
        "|---|---|---|---|---|---|",
    ]
    for codec, row in costs["served"].items():
        lines.append(
            f"| {codec} | {row['bytes'] / 1024:,.0f} KiB | {row['median_ms']:,.1f} ms | "
            f"{row['utf8_median_ms']:,.1f} ms | {row['vs_utf8']:.2f}x | {row['decode_ms']:.2f} ms |"
        )
    slowest = max(costs["served"].items(), key=lambda item: item[1]["decode_ms"] / item[1]["bytes"])
    per_mib = slowest[1]["decode_ms"] / slowest[1]["bytes"] * MIB
    sizes = list(next(iter(costs["refused_decode_ms"].values())))
    lines += [
        "",
        f"Transcoding is cheap: the slowest allowed codec here ({slowest[0]}) decodes {per_mib:.2f} ms "
        "per MiB; the rest of an answer's time is the event's own work, as in UTF-8.",
        "",
        "Refused with 415 before the body is read, as their decoders grow faster than the input "
        "(in process, one decode each; Python's own codecs):\n",
        "| codec | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for codec, row in costs["refused_decode_ms"].items():
        lines.append(f"| {codec} | " + " | ".join(f"{row[size]:,.0f} ms" for size in sizes) + " |")
    lines.append("")
    return lines
