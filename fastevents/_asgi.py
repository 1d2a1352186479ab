"""The ASGI app: ``POST /events`` answered by an :class:`EventProcessor`, no framework needed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from . import _observe
from ._http import (
    Receive,
    Scope,
    Send,
    get_body,
    json_headers,
    refuse_method,
    respond,
    respond_plain,
)
from ._processor import EventProcessor
from ._router import EventRouter

logger = logging.getLogger("fastevents")

__all__ = ["EventsApp", "asgi_app"]

# Media types accepted besides ``application/*+json``; an absent or empty Content-Type is
# accepted too (docs/protocol.md §4). Anything else is a 415 -- ``text/plain`` on purpose:
# browsers send it cross-origin without a CORS preflight (a "simple" request, ``fetch``,
# ``navigator.sendBeacon``, a form), so accepting it would let any web page a user visits
# fire events at an internal endpoint. JSON types need a preflight, which we never answer.
_ACCEPTED_MEDIA_TYPES = frozenset({"", "application/json", "text/json"})
# The charsets a JSON body may declare (``Content-Type: ...; charset=``), by lowercase
# label, with the codec that transcodes it; ``None`` for UTF-8, processed as sent. An
# explicit table, not ``codecs.lookup``: that also finds codecs that are no text encoding
# or that decode in more than linear time (``idna``, ``punycode``, ``utf-7``,
# ``unicode-escape``, ``rot13``, ``base64``, ``zlib``, ``uu``, ``hex``...), all answered 415
# before the body is read. Each codec here decodes in linear time, in C (BENCHMARKS.md).
_CHARSETS: dict[str, str | None] = {
    **dict.fromkeys(("utf-8", "utf8"), None),
    **dict.fromkeys(("utf-16", "utf16"), "utf-16"),
    **dict.fromkeys(("utf-16le", "utf-16-le"), "utf-16-le"),
    **dict.fromkeys(("utf-16be", "utf-16-be"), "utf-16-be"),
    **dict.fromkeys(("utf-32", "utf32"), "utf-32"),
    **dict.fromkeys(("utf-32le", "utf-32-le"), "utf-32-le"),
    **dict.fromkeys(("utf-32be", "utf-32-be"), "utf-32-be"),
    **dict.fromkeys(("us-ascii", "ascii"), "ascii"),
    **dict.fromkeys(("iso-8859-1", "iso8859-1", "iso_8859-1", "latin-1", "latin1"), "latin-1"),
    **dict.fromkeys(("iso-8859-15", "iso8859-15", "iso_8859-15", "latin-9", "latin9"), "iso8859-15"),
    **dict.fromkeys(("windows-1252", "cp1252"), "cp1252"),
}
_UNSUPPORTED = object()
_MISSING = object()
_CONTENT_TYPE_CACHE_SIZE = 64


def _parse_content_type(value: bytes) -> Any:
    """``None`` for UTF-8 JSON, a codec name for JSON in another charset, else ``_UNSUPPORTED``."""
    media_type, _, params = value.decode("latin-1").partition(";")
    media_type = media_type.strip().lower()
    if media_type not in _ACCEPTED_MEDIA_TYPES and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return _UNSUPPORTED
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip('"').strip().lower()
    if not charset:
        return None
    return _CHARSETS.get(charset, _UNSUPPORTED)


_CLOSE = [(b"connection", b"close")]
_TOO_LARGE: Any = object()

#: The answers given before an event is processed, as (status, text, extra headers): the
#: ASGI app sends them through ``send``, ``fastevents serve``'s direct path writes the same.
REFUSE_400 = (400, b"Bad Request", None)
REFUSE_413 = (413, b"Content Too Large", _CLOSE)
REFUSE_415 = (415, b"Unsupported Media Type", None)
REFUSE_503 = (503, b"Service Unavailable", _CLOSE)
#: The Content-Type header of an answered event (its Content-Length follows it).
EVENT_CONTENT_TYPE = (b"content-type", b"application/json")


def decode_body(body: bytes, charset: str | None) -> bytes | str:
    """The body to process: as received, or transcoded from the declared ``charset``."""
    if charset is None:
        return body
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, ValueError):
        # Not text in the declared charset: processed as sent, so a body that is not UTF-8
        # JSON either is answered ``badProtocol``.
        return body


async def _read_rest(receive: Receive, first: bytes, max_body: int) -> Any:
    """The whole body after its first chunk; ``None`` on disconnect, ``_TOO_LARGE`` past ``max_body``."""
    chunks = [first]
    size = len(first)
    while size <= max_body:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if size <= max_body else _TOO_LARGE
    return _TOO_LARGE


class _ClientGone(Exception):
    """The client disconnected while its handler waited; the handler has been cancelled."""


class _DisconnectWatch:
    """A task awaiting ``receive()``, which a server answers with ``http.disconnect`` once the
    client has gone (ASGI); it then cancels the request's task."""

    __slots__ = ("client_gone", "done", "receive", "task", "watcher")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.task: Any = asyncio.current_task()
        self.done = False
        self.client_gone = False
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        try:
            while not self.done:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    if not self.done:
                        self.client_gone = True
                        self.task.cancel()
                    return
        except Exception:  # a server whose receive() fails here: stop watching
            return

    def stop(self) -> None:
        self.done = True
        self.watcher.cancel()


@types.coroutine
def _resume_watching(coro: Any, pending: Any, receive: Receive) -> Generator[Any, Any, Any]:
    """Finish awaiting ``coro``, suspended at ``pending``, while watching for a client disconnect.

    The caller stepped ``coro`` once itself: a request answered without suspending (every
    sync handler) never gets here and costs no watch. A cancellation for a gone client
    surfaces as :class:`_ClientGone`.
    """
    watch = _DisconnectWatch(receive)
    try:
        while True:
            try:
                value = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation or an error thrown in: to the coroutine
                pending = coro.throw(exc)
            else:
                pending = coro.send(value)
    except StopIteration as done:
        return done.value
    except asyncio.CancelledError:
        if watch.client_gone:
            watch.task.uncancel()
            raise _ClientGone from None
        raise
    finally:
        watch.stop()


def _normal_path(path: str) -> str:
    """A configured path as requests spell it: a leading ``/``, no trailing one (``""``
    for the root)."""
    stripped = path.rstrip("/")
    return "/" + stripped if stripped and not stripped.startswith("/") else stripped


class EventsApp:
    """An ASGI 3 application answering events at one path; see :func:`asgi_app`."""

    __slots__ = (
        "_allowed_paths",
        "_content_types",
        "_other_paths",
        "_process",
        "body_timeout",
        "health_path",
        "max_body",
        "path",
        "processor",
        "state",
    )

    def __init__(
        self,
        router: EventRouter | EventProcessor,
        path: str = "/events",
        max_body: int = 1_048_576,
        body_timeout: float | None = 30.0,
        health_path: str | None = None,
    ) -> None:
        self.processor = router if isinstance(router, EventProcessor) else EventProcessor(router)
        self._process = self.processor.process_event_async
        stripped = _normal_path(path)
        self.path = stripped or "/"
        self._allowed_paths = frozenset({stripped, stripped + "/"})
        self.max_body = int(max_body)
        self.body_timeout = None if body_timeout is None else float(body_timeout)
        # Parsed Content-Type values, keyed by the raw header: clients send the same one
        # again and again, so the common case costs one dict lookup.
        self._content_types: dict[bytes, Any] = {}
        # Answers paths other than the events path (the catalogue pages), else 404.
        self._other_paths: Callable[[Scope, str, Send], Awaitable[None]] | None = None
        self.health_path = _normal_path(health_path) if health_path else None
        #: "serving", or "starting"/"stopping" while the lifespan runs its startup or the
        #: server stops (the health probe answers 503 then); "serving" when no server runs
        #: the lifespan protocol at all.
        self.state = "serving"

    def stopping(self) -> None:
        """The server has begun to stop: the health probe answers 503 from now on."""
        self.state = "stopping"

    def __repr__(self) -> str:
        return (
            f"<EventsApp path={self.path!r} max_body={self.max_body} body_timeout={self.body_timeout} "
            f"{self.processor!r}>"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        root_path = scope.get("root_path")
        if root_path and path.startswith(root_path):  # mounted (Starlette Mount, --root-path)
            path = path[len(root_path) :]
        if path not in self._allowed_paths:
            if self.health_path is not None and path.rstrip("/") == self.health_path:
                return await self._health(scope, send)
            if self._other_paths is not None:
                return await self._other_paths(scope, path, send)
            return await respond_plain(send, 404, b"Not Found")
        if scope["method"] != "POST":
            return await respond_plain(send, 405, b"Method Not Allowed", [(b"allow", b"POST")])
        if _observe.observing():  # observers read trace context from the request's headers
            _observe.request_headers.set({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})

        charset = self.read_headers(scope["headers"])
        if type(charset) is tuple:  # a refusal
            return await respond_plain(send, *charset)
        max_body = self.max_body

        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nobody to answer
            return None
        body: Any = message.get("body", b"")
        if message.get("more_body", False):
            try:
                if self.body_timeout is None:
                    body = await _read_rest(receive, body, max_body)
                else:
                    async with asyncio.timeout(self.body_timeout):
                        body = await _read_rest(receive, body, max_body)
            except TimeoutError:
                return await respond_plain(send, 408, b"Request Timeout", _CLOSE)
            if body is None:
                return None
            if body is _TOO_LARGE:
                return await respond_plain(send, *REFUSE_413)
        elif len(body) > max_body:
            return await respond_plain(send, *REFUSE_413)

        processing = self._process(decode_body(body, charset))
        try:  # one step by hand: done at once unless the handler waits
            answer = processing.send(None)
        except StopIteration as done:
            answer = done.value
        else:
            try:
                answer = await _resume_watching(processing, answer, receive)
            except _ClientGone:  # nobody to answer; the handler was cancelled for that
                return None
            except asyncio.CancelledError:
                if self.state != "stopping":
                    raise  # a caller's timeout or task group: cancellation must propagate
                # Cancelled by the server it is stopping (a shutdown past its grace period): one
                # short answer and a quiet end, instead of a traceback per request in its log.
                with contextlib.suppress(Exception):
                    await respond_plain(send, *REFUSE_503)
                return None
        # What _http.respond() sends, written out: the hot path, where a call costs a few %.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [EVENT_CONTENT_TYPE, (b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})
        return None

    def read_headers(self, headers: list[tuple[bytes, bytes]]) -> Any:
        """The charset of a ``POST`` to the events path (``None``: UTF-8), or its refusal
        (``REFUSE_415``, ``REFUSE_400``, ``REFUSE_413``) from its headers alone, in their order."""
        charset = None
        for key, value in headers:
            if key == b"content-type":
                charset = self._content_types.get(value, _MISSING)
                if charset is _MISSING:
                    charset = _parse_content_type(value)
                    if len(self._content_types) < _CONTENT_TYPE_CACHE_SIZE:
                        self._content_types[value] = charset
                if charset is _UNSUPPORTED:
                    return REFUSE_415
            elif key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return REFUSE_400
                if declared > self.max_body:
                    return REFUSE_413
        return charset

    async def _health(self, scope: Scope, send: Send) -> None:
        # Not an event, and not logged: a load balancer asks every few seconds.
        if await refuse_method(scope, send):
            return None
        serving = self.state == "serving"
        body = b'{"status":"ok"}' if serving else b'{"status":"%s"}' % self.state.encode()
        return await respond(send, 200 if serving else 503, json_headers(body, b"no-store"), get_body(scope, body))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # The router's lifespan (and those of the routers it included) around serving.
        async with contextlib.AsyncExitStack() as stack:
            while True:
                kind = (await receive())["type"]
                if kind == "lifespan.startup":
                    self.state = "starting"
                    try:
                        await stack.enter_async_context(self.processor.router.lifespan_context())
                    except Exception as exc:
                        # The server reports the reason (one line); the traceback at DEBUG.
                        await _lifespan_failed(send, "startup", exc, logging.DEBUG)
                        return
                    self.state = "serving"
                    await send({"type": "lifespan.startup.complete"})
                elif kind == "lifespan.shutdown":
                    self.state = "stopping"
                    try:
                        await stack.aclose()
                    except Exception as exc:
                        await _lifespan_failed(send, "shutdown", exc, logging.ERROR)
                        return
                    await send({"type": "lifespan.shutdown.complete"})
                    return


async def _lifespan_failed(send: Send, phase: str, exc: Exception, level: int) -> None:
    """Tell the server that the lifespan's ``phase`` failed, and why; log it at ``level``."""
    logger.log(level, "fastevents: the lifespan's %s failed", phase, exc_info=exc)
    await send({"type": f"lifespan.{phase}.failed", "message": f"lifespan {phase} failed: {type(exc).__name__}: {exc}"})


def asgi_app(
    router: EventRouter | EventProcessor,
    path: str = "/events",
    max_body: int = 1_048_576,
    body_timeout: float | None = 30.0,
    *,
    catalogue: bool = False,
    health_path: str | None = None,
) -> EventsApp:
    """An ASGI 3 app answering events of ``router`` with ``POST path`` (and ``path/``).

    Every protocol answer, errors included, is HTTP 200 ``application/json``. Transport
    problems keep their HTTP meaning: 404 for another path, 405 (``Allow: POST``) for
    another method, 413 when ``Content-Length`` or the body read so far exceeds
    ``max_body`` bytes (default 1 MiB; reading stops there and the answer carries
    ``Connection: close``, as the rest of the body is never read), 408 when a body sent in
    several parts is not complete ``body_timeout`` seconds (default 30; ``None``: no limit)
    after its first part, 415 for a content type other than JSON
    (absent, ``application/json``, ``application/*+json`` and ``text/json`` are accepted;
    ``text/plain`` is refused, as browsers send it cross-origin without a CORS preflight)
    or a ``charset`` other than UTF-8, UTF-16, UTF-32, ASCII, ISO-8859-1, ISO-8859-15 and
    windows-1252 (a body in one of these is transcoded before processing). Handles the
    lifespan protocol; mountable in any ASGI framework (under a Starlette ``Mount``,
    ``path`` is relative to the mount point).

    While an ``async def`` handler runs, the app watches ``receive()``: a client that
    disconnects gets its handler cancelled. A request cancelled by the server (a shutdown
    past its grace period) is answered 503 and ends without an exception, so the server
    logs one line for all of them rather than a traceback each.

    ``catalogue=True`` also serves ``GET path/catalogue`` (the router's catalogue as JSON)
    and ``GET path/docs`` (a self-contained page to browse and send the events); off by
    default, as it tells anyone who can reach the server what it serves.

    The router's lifespan (``EventRouter(lifespan=...)``, with those of the routers it
    included) runs around serving; a startup that raises fails the server's startup.
    ``health_path="/health"`` answers ``GET`` there with 200 ``{"status":"ok"}`` while
    serving, and 503 before the lifespan's startup has completed and once the server stops.
    """
    app = EventsApp(router, path, max_body, body_timeout, health_path)
    if catalogue:
        from ._catalogue import CataloguePages

        app._other_paths = CataloguePages(app.processor.router, app.path)
    return app
