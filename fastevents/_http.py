"""ASGI's HTTP side in one place: the types, a request's scope, and answers.

The answers the ASGI app and its catalogue pages send (a refusal, a page, the health
probe) are built and sent here: :func:`respond` sends the two messages,
:func:`plain_headers` / :func:`json_headers` lay out the headers, :func:`refuse_method`
answers 405 for any method but ``GET`` and ``HEAD``. The app's ``POST`` answer writes out
what :func:`respond` sends rather than calling it: that path is hot, and a call costs
there. :func:`http_scope` builds a request's scope for in-process use (tests, benchmarks).
A leaf: it imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

__all__ = [
    "Message",
    "Receive",
    "Scope",
    "Send",
    "get_body",
    "http_scope",
    "json_headers",
    "plain_headers",
    "refuse_method",
    "respond",
    "respond_plain",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def http_scope(
    method: str,
    path: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    root_path: str = "",
    client: tuple[str, int] = ("127.0.0.1", 50000),
    server: tuple[str, int] = ("127.0.0.1", 8000),
) -> dict[str, Any]:
    """An ASGI 3 ``http`` scope for one in-process request (no server involved)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": root_path,
        "query_string": b"",
        "headers": list(headers),
        "client": client,
        "server": server,
        "state": {},
    }


def plain_headers(text: bytes, extra: Headers | None = None) -> Headers:
    """The headers of a plain-text answer (a refusal, a 404...)."""
    return [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(text)),
        *(extra or ()),
    ]


def json_headers(body: bytes, cache_control: bytes) -> Headers:
    """The headers of a JSON document served by ``GET`` (the catalogue, the health probe)."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"cache-control", cache_control),
    ]


async def respond(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Send one whole answer: its start, then its body in one message."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_plain(send: Send, status: int, text: bytes, extra: Headers | None = None) -> None:
    """Send a plain-text answer (``extra`` headers after its own)."""
    await respond(send, status, plain_headers(text, extra), text)


async def refuse_method(scope: Scope, send: Send) -> bool:
    """Answer 405 (``Allow: GET, HEAD``) unless the request is a ``GET`` or a ``HEAD``;
    whether it did. A ``HEAD`` is then answered with the headers alone (see
    :func:`get_body`)."""
    if scope["method"] in ("GET", "HEAD"):
        return False
    await respond_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
    return True


def get_body(scope: Scope, body: bytes) -> bytes:
    """What a ``GET`` answer sends as its body: nothing for a ``HEAD``."""
    return b"" if scope["method"] == "HEAD" else body
