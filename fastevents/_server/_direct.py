"""``fastevents serve``'s direct path: ``POST <path>`` answered by the processor, without ASGI.

:class:`~fastevents._server.HardenedHttpToolsProtocol` hands a request to a
:class:`DirectCycle` when its headers are complete and it is a ``POST`` to the events path
of an :class:`~fastevents._asgi.EventsApp` that nothing on the connection is still
answering (no ``Expect: 100-continue``, no ``Upgrade``). Everything else -- other paths and
methods, the health probe, the catalogue, pipelined requests behind an unanswered one --
goes through the ASGI app as before.

A :class:`DirectCycle` stands where uvicorn's ``RequestResponseCycle`` stands: the
protocol's ``on_body`` and ``on_message_complete`` hand it the body and its end, uvicorn's
``connection_lost`` and the protocol's limits call ``message_event.set()`` where the ASGI
app's ``receive()`` would wake for a client gone, and the limits (deadlines, lingering
close, shutdown) read and set the same attributes as on uvicorn's cycle. When the request
is complete its body goes to the processor at once: a
synchronous handler is answered inside the parser callback, with no scope, no
``receive``/``send`` and no task; an ``async`` handler gets one task. The answers are the
ASGI app's, byte for byte (``tests/test_direct.py`` compares them): the refusals, the
header checks and the body decoding are the app's own (``EventsApp.read_headers``,
``decode_body``, ``REFUSE_*``); the bytes are laid out as uvicorn's ``send`` lays them out.
Refusals are written when the ASGI app's task would have run (``loop.call_soon``), so a
refused request whose body is still arriving gets the same lingering close.

Before any of that, a read that holds exactly one whole request on an idle connection
-- nearly every read of a keep-alive client -- may take the :class:`FastLane`: a parser of
its own reads it with the fewest callbacks, and if it is a plain ``POST`` to the events
path that the app accepts as it stands (no refusal, no ``Expect``, no ``Upgrade``, no chunked
framing, kept alive, the server not stopping), it is answered right there, with no cycle.
Anything else the lane has only read, not answered: the same bytes then go to the
protocol's own parser, which serves them as above. A connection whose reads do not hold
whole requests (a client that writes headers and body apart) stops trying the lane.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from .. import _observe
from .._asgi import EVENT_CONTENT_TYPE, REFUSE_413, REFUSE_503, EventsApp, decode_body
from .._http import plain_headers

if TYPE_CHECKING:
    from ._protocol import HardenedHttpToolsProtocol

__all__ = ["ANSWERED", "DirectCycle", "FastLane", "direct_urls", "event_answer", "head", "start"]

logger = logging.getLogger("fastevents.serve")

_CONNECTION_CLOSE = b"connection: close\r\n"
_EVENT_HEAD = b"%s: %s\r\ncontent-length: " % EVENT_CONTENT_TYPE
_KEEP_ALIVE_TAIL = b"%d\r\n\r\n"
_CLOSE_TAIL = b"%d\r\n" + _CONNECTION_CLOSE + b"\r\n"
_INTERNAL_ERROR = (500, b"Internal Server Error", [(b"connection", b"close")])


def direct_urls(app: Any) -> frozenset[bytes]:
    """The request targets the direct path takes for ``app`` (none unless an :class:`EventsApp`):
    its path with and without a trailing ``/``, exactly as sent. A target spelled otherwise
    (a query, percent-escapes) goes through the ASGI app, which answers it the same."""
    if type(app) is not EventsApp:
        return frozenset()
    return frozenset(p.encode("ascii") for p in app._allowed_paths if p and p.isascii() and "%" not in p)


def head(
    status: int, headers: list[tuple[bytes, bytes]], defaults: list[tuple[bytes, bytes]], keep_alive: bool
) -> bytes:
    """An answer's status line and headers, as uvicorn's ``RequestResponseCycle.send`` writes them."""
    lines = [STATUS_LINE[status]]
    close = False
    for name, value in defaults + headers:
        if name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
            close = True
        lines += [name, b": ", value, b"\r\n"]
    if not keep_alive and not close:
        lines.append(_CONNECTION_CLOSE)
    lines.append(b"\r\n")
    return b"".join(lines)


_event_prefix: tuple[Any, bytes] = (None, b"")


def _event_head(defaults: list[tuple[bytes, bytes]]) -> bytes:
    """``head(200, [EVENT_CONTENT_TYPE, ...])`` up to the Content-Length value, kept while
    the server's default headers (the Date, renewed every second) are the same list."""
    global _event_prefix
    if _event_prefix[0] is not defaults:
        _event_prefix = (defaults, head(200, [], defaults, True)[:-2] + _EVENT_HEAD)
    return _event_prefix[1]


def start(
    context: contextvars.Context, app: EventsApp, headers: list[tuple[bytes, bytes]], body: bytes, charset: Any
) -> Any:
    """Dispatch ``body`` in ``context``: the answer's bytes, or an ``async`` handler's outcome.

    ``context`` is the request's own, as a task would have: what handlers and observers set
    in it (the request's headers, the current event, a span) stays with this request.
    """
    if charset is not None:
        body = decode_body(body, charset)  # type: ignore[assignment]
    if _observe.observing():
        return context.run(_start_observed, app, headers, body)
    return context.run(app.processor._start_event, body)


def _start_observed(app: EventsApp, headers: list[tuple[bytes, bytes]], body: bytes | str) -> Any:
    # Observers read trace context from the request's headers.
    _observe.request_headers.set({k.decode("latin-1"): v.decode("latin-1") for k, v in headers})
    return app.processor._start_event(body)


def event_answer(defaults: list[tuple[bytes, bytes]], answer: bytes, keep_alive: bool) -> bytes:
    """An event's answer as it goes on the wire: head, ``Content-Length``, body."""
    prefix = _event_prefix[1] if _event_prefix[0] is defaults else _event_head(defaults)
    return b"".join((prefix, (_KEEP_ALIVE_TAIL if keep_alive else _CLOSE_TAIL) % len(answer), answer))


class DirectCycle:
    """One ``POST <path>`` answered straight from the processor (see the module docstring)."""

    __slots__ = (
        "app",
        "body",
        "charset",
        "client_gone",
        "disconnected",
        "headers",
        "keep_alive",
        "more_body",
        "protocol",
        "refused",
        "response_complete",
        "response_started",
        "task",
        "transport",
    )

    def __init__(
        self,
        protocol: HardenedHttpToolsProtocol,
        app: EventsApp,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
    ) -> None:
        self.protocol = protocol
        self.transport: Any = protocol.transport
        self.app = app
        self.headers = headers
        self.body = bytearray()
        self.more_body = True
        self.keep_alive = keep_alive
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.refused = False
        self.client_gone = False
        self.task: asyncio.Task[None] | None = None
        charset = app.read_headers(headers)
        if type(charset) is tuple:
            self.charset = None
            self._refuse_soon(charset)
        else:
            self.charset = charset

    # --- what the protocol calls ---------------------------------------------------------

    def body_received(self, body: bytes) -> None:
        """The parser's on_body."""
        if self.refused or self.response_complete:
            return  # answered already, or about to be: nothing more is kept
        received = self.body
        received += body
        if len(received) > self.app.max_body:
            received.clear()
            self._refuse_soon(REFUSE_413)

    def request_complete(self) -> None:
        """The parser's on_message_complete: the body is whole."""
        self.more_body = False
        if not (self.refused or self.response_complete or self.disconnected):
            self._process()

    @property
    def message_event(self) -> DirectCycle:
        """uvicorn's protocol calls ``cycle.message_event.set()``: see :meth:`set`."""
        return self

    def set(self) -> None:
        """The client is gone (``disconnected``), or a limit answered in the app's place: an
        ``async`` handler still running is running for nobody, and is cancelled."""
        if self.disconnected and self.task is not None and not self.response_complete:
            self.client_gone = True
            self.task.cancel()

    # --- answering -----------------------------------------------------------------------

    def _process(self) -> None:
        context = contextvars.copy_context()
        outcome = start(context, self.app, self.headers, bytes(self.body), self.charset)
        if type(outcome) is bytes:
            self._send_event(outcome)
        else:
            self.finish_soon(outcome, context)

    def finish_soon(self, outcome: Any, context: contextvars.Context) -> None:
        """Await an ``async`` handler's ``outcome`` in one task, then answer."""
        protocol = self.protocol
        self.task = task = protocol.loop.create_task(self._finish(outcome), context=context)
        protocol.tasks.add(task)  # a graceful shutdown waits for it, then cancels it
        task.add_done_callback(protocol.tasks.discard)

    async def _finish(self, outcome: Any) -> None:
        try:
            answer = await self.app.processor._finish_async(outcome)
        except asyncio.CancelledError:
            if self.client_gone:  # nobody to answer; the handler was cancelled for that
                return
            if self.app.state == "stopping":  # a shutdown past its grace period: the ASGI app's answer
                self._send_plain(REFUSE_503)
                return
            logger.error("an event's handler was cancelled by someone else than its client or the server")
            self._send_plain(_INTERNAL_ERROR)
            return
        self._send_event(answer)

    def _send_event(self, answer: bytes) -> None:
        if self.disconnected:
            return
        self.response_started = True
        self.transport.write(event_answer(self.protocol.server_state.default_headers, answer, self.keep_alive))
        self._complete()

    def _refuse_soon(self, refusal: tuple[int, bytes, Any]) -> None:
        self.refused = True
        self.protocol.loop.call_soon(self._send_plain, refusal)

    def _send_plain(self, answer: tuple[int, bytes, Any]) -> None:
        if self.disconnected or self.response_complete:
            return
        status, text, extra = answer
        headers = plain_headers(text, extra)
        if extra is not None and (b"connection", b"close") in extra:
            self.keep_alive = False
        self.response_started = True
        self.transport.write(head(status, headers, self.protocol.server_state.default_headers, self.keep_alive) + text)
        self._complete()

    def _complete(self) -> None:
        """What uvicorn does once an answer is sent: close unless kept alive, then the next request."""
        self.response_complete = True
        if not self.keep_alive:
            self.transport.close()
        self.protocol.direct_answered()


class _Answered:
    """The connection's cycle after a request the lane answered: complete, as uvicorn's last
    cycle is once answered (a shutdown closes the idle connection at once; a client gone has
    nothing to cancel)."""

    __slots__ = ()
    response_complete = True
    response_started = True
    more_body = False
    disconnected = False
    keep_alive = True

    @property
    def message_event(self) -> _Answered:
        return self

    def set(self) -> None:
        return None


ANSWERED = _Answered()


class FastLane:
    """A parser of its own for reads that hold exactly one whole request (module docstring).

    :meth:`read` only parses; the protocol answers what it found, or hands the same bytes to
    its own parser. A lane whose parser stopped anywhere but between two requests (a partial
    request, a parse error, an upgrade) is not used again: the protocol makes a new one.
    """

    __slots__ = ("begun", "body", "ended", "headers", "parser", "plain", "url")

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.begun = self.ended = 0
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.plain = True

    def read(self, data: bytes) -> bool:
        """Parse ``data``; True if it is exactly one whole HTTP/1.1 request, neither chunked
        nor with an ``Expect`` or ``Upgrade``, whose connection is kept alive."""
        self.begun = self.ended = 0
        self.url = self.body = b""
        self.headers = []
        self.plain = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return False
        return self.ended == 1 and self.begun == 1 and self.plain

    def on_message_begin(self) -> None:
        self.begun += 1

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect":
            self.plain = False
        self.headers.append((name, value.rstrip(b" \t")))  # as uvicorn keeps them

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_chunk_header(self) -> None:
        self.plain = False  # chunk framing and trailers are the protocol's to bound

    def on_message_complete(self) -> None:
        # Read here: the parser forgets them once the request is over.
        # (An upgrade the parser would take raises HttpParserUpgrade from feed_data.)
        parser = self.parser
        if not parser.should_keep_alive() or parser.get_http_version() != "1.1":
            self.plain = False
        self.ended += 1
