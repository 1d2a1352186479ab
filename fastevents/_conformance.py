"""The conformance kit: check any events-protocol server against handler-independent cases.

``fastevents conformance URL`` sends each case of ``conformance_cases.json`` (package data)
to the events endpoint at ``URL`` and prints one PASS/FAIL row per case; it exits 0 only
when every case passes. The cases need no particular handler: they send malformed bodies,
envelopes with missing or mistyped fields, unknown events (``conformance:no_such:event``),
content types and methods, and check what the protocol fixes for them: the bare
``badProtocol`` / ``eventNotFound`` answers with HTTP 200, echoed ids and fresh UUIDs, the
answer's key order, exact numbers, no echo of ``auth``, and 405/413/415.

Requests go out over a minimal HTTP/1.1 client of its own (asyncio streams, one connection
per request), so that every byte sent is the case's: no client adds or fixes headers.

Case format: ``request`` has ``method`` (POST), ``headers`` (``content-type:
application/json`` unless given), the body as ``body`` (text, sent in ``encoding``,
UTF-8 by default), ``body_hex``, ``body_parts`` (``[[text, times], ...]``) or ``oversize``
(that many bytes streamed after a matching Content-Length, stopping when the answer comes),
``path`` (appended to the URL's path) and ``repeat``. ``expect`` has ``status``, ``json``
(the decoded answer, with the markers ``$uuid``, ``$any``, ``{"$not": x}`` and
``{"$has": {...}}`` for objects holding at least those keys; other objects must have
exactly the keys given), ``mentions`` (a text some string of the answer contains),
``key_order`` (keys in the protocol's order), ``absent`` (texts that must not appear in the
body), ``distinct`` (fields that must differ from each other), ``differ`` (fields that must
differ between repeated requests) and ``allow`` (a method the Allow header must list). A
JSON answer must come with ``Content-Type: application/json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import ssl
import sys
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from . import _nats, _wire
from ._errors import EventClientError

__all__ = ["CaseResult", "add_command", "load_cases", "run_cases"]

ENVELOPE_KEYS = list(_wire.ENVELOPE_KEYS)
_CHUNK = 65536


def load_cases() -> list[dict[str, Any]]:
    """The shipped cases (``fastevents/conformance_cases.json``)."""
    text = (resources.files(__package__) / "conformance_cases.json").read_text(encoding="utf-8")
    cases: list[dict[str, Any]] = json.loads(text)["cases"]
    return cases


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class CaseResult:
    """One case's outcome: ``problems`` is empty when it passed."""

    case: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


# --- a minimal HTTP/1.1 client ------------------------------------------------------------------


async def _exchange(url: str, method: str, headers: dict[str, str], body: bytes, oversize: int = 0) -> Reply:
    """One request on a fresh connection (``Connection: close``); the answer as read."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl.create_default_context() if secure else None)
    try:
        length = oversize or len(body)
        host_header = parts.netloc.rsplit("@", 1)[-1]
        head = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", "Connection: close", f"Content-Length: {length}"]
        if oversize:
            head.append("Expect: 100-continue")  # a server may refuse before the body is sent
        head += [f"{key}: {value}" for key, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not oversize:
            writer.write(body)
            await writer.drain()
            return await _read_reply(reader)
        await writer.drain()
        reading = asyncio.ensure_future(_read_reply(reader, interim=True))
        await asyncio.wait({reading}, timeout=1.0)  # as curl does: 1 s for "100 Continue" or an answer
        if reading.done():
            if reading.result().status != 100:
                return reading.result()
            reading = asyncio.ensure_future(_read_reply(reader))
        chunk = b" " * _CHUNK
        sent = 0
        with contextlib.suppress(ConnectionError, OSError):  # the server stopped reading: its answer is what matters
            while sent < oversize and not reading.done():
                writer.write(chunk[: oversize - sent])
                await writer.drain()
                sent += _CHUNK
        return await reading
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await writer.wait_closed()


async def _read_reply(reader: asyncio.StreamReader, *, interim: bool = False) -> Reply:
    """Read one answer; interim (1xx) answers are skipped unless ``interim``."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError):
        raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}") from None
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(chunks)
    elif 100 <= status < 200:
        body = b""
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    if 100 <= status < 200 and not interim:  # an interim answer (100 Continue): the real one follows
        return await _read_reply(reader)
    return Reply(status, headers, body)


# --- checking one case ------------------------------------------------------------------------


def matches(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Differences between ``actual`` and the marked-up ``expected``; empty when it matches.

    Markers: ``"$any"``, ``"$uuid"``, ``"$nonempty"`` (a non-empty list), ``{"$has": {...}}``
    (at least these keys), ``{"$not": ...}``. The kit's cases and the project's own
    conformance tests (tests/conformance/) read them here, and only here.
    """
    if expected == "$any":
        return []
    if expected == "$nonempty":
        return [] if isinstance(actual, list) and actual else [f"{path} is {_short(actual)}, not a non-empty list"]
    if expected == "$uuid":
        try:
            uuid.UUID(actual)
        except (TypeError, ValueError, AttributeError):
            return [f"{path} is {actual!r}, not a UUID"]
        return []
    if isinstance(expected, dict) and set(expected) == {"$not"}:
        return [f"{path} is {_short(actual)}"] if not matches(actual, expected["$not"], path) else []
    if isinstance(expected, dict) and set(expected) == {"$has"}:
        if not isinstance(actual, dict):
            return [f"{path} is {actual!r}, not an object"]
        problems = []
        for key, value in expected["$has"].items():
            if key not in actual:
                problems.append(f"{path}.{key} is missing")
            else:
                problems += matches(actual[key], value, f"{path}.{key}")
        return problems
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path} is {_short(actual)}, not an object"]
        problems = []
        if set(actual) != set(expected):
            missing = [k for k in expected if k not in actual]
            extra = [k for k in actual if k not in expected]
            problems.append(f"{path} keys: missing {missing}, unexpected {extra}")
        for key, value in expected.items():
            if key in actual:
                problems += matches(actual[key], value, f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path} is {_short(actual)}, expected {_short(expected)}"]
        return [p for i, (a, e) in enumerate(zip(actual, expected, strict=True)) for p in matches(a, e, f"{path}[{i}]")]
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path} is {_short(actual)}, expected {_short(expected)}"]
    return []


def _strings(value: Any) -> list[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _body(request: dict[str, Any]) -> bytes:
    if "body_hex" in request:
        return bytes.fromhex(request["body_hex"])
    if "body_parts" in request:
        text = "".join(part * times for part, times in request["body_parts"])
    else:
        text = request.get("body", "")
    return str(text).encode(request.get("encoding", "utf-8"))


def _check(expect: dict[str, Any], reply: Reply) -> tuple[list[str], Any]:
    problems: list[str] = []
    if reply.status != expect["status"]:
        problems.append(
            f"HTTP {reply.status}, expected {expect['status']}: {_short(reply.body[:120].decode('utf-8', 'replace'))}"
        )
        return problems, None
    if "allow" in expect:
        allowed = [m.strip().upper() for m in reply.headers.get("allow", "").split(",")]
        if expect["allow"] not in allowed:
            problems.append(f"Allow header is {reply.headers.get('allow')!r}, expected it to list {expect['allow']}")
    for text in expect.get("absent", ()):
        if text.encode() in reply.body:
            problems.append(f"the answer contains {text!r}")
    if "json" not in expect:
        return problems, None
    media_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        problems.append(f"Content-Type is {reply.headers.get('content-type')!r}, not application/json")
    try:
        value = json.loads(reply.body)
    except ValueError:
        problems.append(f"the answer is not JSON: {_short(reply.body[:120].decode('utf-8', 'replace'))}")
        return problems, None
    if expect.get("key_order") and isinstance(value, dict) and list(value) != ENVELOPE_KEYS:
        problems.append(f"key order is {list(value)}")
    problems += matches(value, expect["json"])
    if "mentions" in expect and not any(expect["mentions"] in text for text in _strings(value)):
        problems.append(f"no text in the answer names {expect['mentions']!r}: {_short(value)}")
    if isinstance(value, dict):
        fields = expect.get("distinct", [])
        if len({json.dumps(value.get(f)) for f in fields}) < len(fields):
            problems.append(f"{' and '.join(fields)} are equal: {_short(value.get(fields[0]))}")
    return problems, value


def applies_over_nats(case: dict[str, Any]) -> bool:
    """Whether a case means something over NATS: no HTTP method, path, header or status of its own."""
    request, expect = case["request"], case["expect"]
    return (
        expect.get("status") == 200
        and request.get("method", "POST") == "POST"
        and not {"path", "headers", "oversize"} & request.keys()
    )


async def _run_nats(url: str, cases: list[dict[str, Any]], timeout: float) -> list[CaseResult]:
    servers, subject = _nats.parse_url(url)
    if subject is None:
        raise ValueError(f"no subject in {url!r}: expected nats://HOST:PORT/SUBJECT")
    nc = await _nats.connect(servers, "fastevents-conformance", max_reconnect_attempts=0)

    async def exchange(target: str, method: str, headers: dict[str, str], body: bytes, oversize: int = 0) -> Reply:
        """``_exchange`` over NATS request/reply: the reply is the answer body; NATS carries no
        content type, so a plain reply counts as HTTP 200 ``application/json``."""
        try:
            status, answer = await _nats.request(nc, url, subject, body, None, timeout)
        except EventClientError as exc:
            raise ConnectionError(str(exc)) from None
        return Reply(status, {"content-type": "application/json"} if status == 200 else {}, answer)

    try:
        return [await _run_case(url, case, timeout, exchange) for case in cases if applies_over_nats(case)]
    finally:
        await nc.close()


async def _run_case(url: str, case: dict[str, Any], timeout: float, exchange: Any = _exchange) -> CaseResult:
    request, expect = case["request"], case["expect"]
    target = url.rstrip("/") + request["path"] if "path" in request else url
    headers = request.get("headers", {"content-type": "application/json"})
    body = _body(request)
    result = CaseResult(case)
    started = time.perf_counter()
    answers = []
    try:
        for _ in range(int(request.get("repeat", 1))):
            reply = await asyncio.wait_for(
                exchange(target, request.get("method", "POST"), headers, body, int(request.get("oversize", 0))),
                timeout,
            )
            problems, value = _check(expect, reply)
            result.problems += problems
            answers.append(value)
    except TimeoutError:
        result.problems.append(f"no answer within {timeout:g} s")
    except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
        result.problems.append(f"connection failed: {type(exc).__name__}: {exc}")
    for key in expect.get("differ", ()):
        values = [a.get(key) for a in answers if isinstance(a, dict)]
        if len(values) > 1 and len(set(map(json.dumps, values))) < len(values):
            result.problems.append(f"{key} is the same in every answer: {_short(values[0])}")
    result.seconds = time.perf_counter() - started
    return result


async def run_cases(url: str, cases: list[dict[str, Any]] | None = None, timeout: float = 10.0) -> list[CaseResult]:
    """Run ``cases`` (all shipped cases by default) against the events endpoint ``url``, one by one.

    ``nats://HOST:PORT/SUBJECT`` runs, over NATS request/reply, the cases that need no HTTP
    (:func:`applies_over_nats`: all but those of content types, methods, paths and 413).
    """
    cases = cases if cases is not None else load_cases()
    if _nats.is_url(url):
        return await _run_nats(url, cases, timeout)
    return [await _run_case(url, case, timeout) for case in cases]


# --- reporting and the command ------------------------------------------------------------------


def format_table(results: list[CaseResult], *, markdown: bool = False) -> str:
    """One row per case (plain text, or a Markdown table), then the count."""
    passed = sum(r.passed for r in results)
    lines = []
    if markdown:
        lines += ["| case | group | result |", "|---|---|---|"]
        for r in results:
            outcome = "pass" if r.passed else "**fail**: " + "; ".join(r.problems).replace("|", "\\|")
            lines.append(f"| {r.case['title']} | {r.case['group']} | {outcome} |")
    else:
        width = max((len(r.case["id"]) for r in results), default=0)
        for r in results:
            lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.case['id']:<{width}}  {r.case['title']}")
            lines += [f"      {'':<{width}}  - {problem}" for problem in r.problems]
    lines.append(f"{passed} of {len(results)} cases pass")
    return "\n".join(lines)


def add_command(commands: Any) -> None:
    """Add ``conformance`` to the ``fastevents`` command's subparsers."""
    parser = commands.add_parser(
        "conformance",
        help="check any events-protocol server against the protocol's cases",
        description="Send the protocol's handler-independent cases (malformed bodies, missing fields, unknown "
        "events, id echo, key order, numbers, auth never echoed, content types, 405/413/415) to "
        "the events endpoint URL and print one row per case. Exit status: 0 when every case "
        "passes, 1 when any fails, 2 for a usage error.",
    )
    parser.add_argument(
        "url",
        metavar="URL",
        help="the events endpoint, e.g. http://127.0.0.1:8000/events, or nats://HOST:PORT/SUBJECT "
        "(the cases that need no HTTP)",
    )
    parser.add_argument("--timeout", metavar="S", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=_run_command)


def _run_command(args: argparse.Namespace) -> int:
    parts = urlsplit(args.url)
    nats = _nats.is_url(args.url)
    if (parts.scheme not in ("http", "https") and not nats) or not parts.hostname:
        print(f"fastevents: not an http(s) or nats URL: {args.url!r}", file=sys.stderr)
        return 2
    if nats and not parts.path.strip("/"):
        print(f"fastevents: no subject in {args.url!r}: expected nats://HOST:PORT/SUBJECT", file=sys.stderr)
        return 2
    if not math.isfinite(args.timeout) or args.timeout <= 0:  # nan and inf would never time out
        print("fastevents: --timeout must be positive (seconds)", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(run_cases(args.url, timeout=args.timeout))
    except (EventClientError, ImportError) as exc:  # NATS unreachable, or nats-py missing
        print(f"fastevents: {exc}", file=sys.stderr)
        return 1
    if args.json:
        out = [
            {
                "id": r.case["id"],
                "group": r.case["group"],
                "title": r.case["title"],
                "passed": r.passed,
                "problems": r.problems,
            }
            for r in results
        ]
        print(json.dumps({"url": args.url, "results": out}, indent=2, ensure_ascii=False))
    else:
        print(format_table(results, markdown=args.markdown))
        if nats:
            print(f"({len(load_cases()) - len(results)} cases of HTTP itself not run over NATS)")
    return 0 if all(r.passed for r in results) else 1
