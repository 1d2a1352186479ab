"""The hardened httptools protocol of ``fastevents serve``: uvicorn's, with the limits of :class:`Limits`.

:class:`HardenedHttpToolsProtocol` -- uvicorn's httptools protocol with the limits of
:class:`Limits`: a header size cap (431), header and body read deadlines (408), a write
timeout, a connection cap (a newcomer closes the connection waiting longest for a
request's headers, or is answered 503 if none is waiting), and a lingering close
whenever an answer leaves part of a request unread (413, 408, 431, 503), so the client
can read the answer instead of receiving a reset. A chunked body's framing counts against
the body size cap and its trailer against the header size cap; a request offering an
``Upgrade`` (h2c, websocket) is answered over HTTP/1.1 with its body read as its body.
Requests that arrive whole in one read -- nearly all of them -- arm no timer beyond
uvicorn's own keep-alive timer.

Connections closed or refused by a limit are logged to ``fastevents.serve``: refusals at
WARNING, client timeouts and oversized headers at INFO, each reason at most once every
10 s with a count, so an attack cannot flood the log.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .. import _observe
from .._limits import Limits
from ._direct import ANSWERED, DirectCycle, FastLane, direct_urls, event_answer, start

__all__ = ["HardenedHttpToolsProtocol", "Limits", "SHUTDOWN_GRACE"]

logger = logging.getLogger("fastevents.serve")

#: After an answer that leaves part of a request unread, the connection stays open this
#: long, reading and discarding what the client still sends, so the client can read the
#: answer; closing at once would reset it, and the reset can destroy the answer. At most
#: :data:`LINGER_MAX_BYTES` are discarded after a 413 (the rest of a body the client may
#: send before it reads), :data:`LINGER_MAX_BYTES_OTHER` after a 408, 431 or 503 (a header
#: bomb or a flood gets little of the server's time).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 1_048_576
LINGER_MAX_BYTES_OTHER = 65_536
#: As the server stops, a connection that has not sent a request yet gets this long (at most
#: --header-timeout) to send its headers: it is answered, with ``Connection: close``.
SHUTDOWN_GRACE = 1.0


_DEFAULT_LIMITS = Limits()
#: Reads in a row that did not hold one whole request before a connection stops trying the
#: fast lane (a client that writes its headers and body apart).
_LANE_TRIES = 3


class _Tally:
    """Log a reason's first occurrence at once, then at most once per interval with a count."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def note(self, level: int, reason: str) -> None:
        self._pending[reason] = self._pending.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last.get(reason, -math.inf) >= self.interval:
            count = self._pending.pop(reason)
            self._last[reason] = now
            logger.log(
                level, "%s (%d connection%s since the last such message)", reason, count, "" if count == 1 else "s"
            )


_tally = _Tally()

_HEADERS, _BODY, _BETWEEN = 1, 2, 0


def _raw_answer(status: int, close: bool = True) -> bytes:
    phrase = HTTPStatus(status).phrase.encode()
    return b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status,
        phrase,
        len(phrase),
        b"connection: close\r\n" if close else b"",
        phrase,
    )


def _waiting_room(server_state: Any) -> dict[Any, None]:
    """A server's connections waiting for a request's headers, the longest waiting first."""
    room: dict[Any, None] | None = getattr(server_state, "fastevents_waiting", None)
    if room is None:
        room = server_state.fastevents_waiting = {}
    return room


class _Transport:
    """The transport as uvicorn's request cycles see it: ``close()`` lingers while part of a
    request, or a pipelined one, is unread.

    Every other method is the real transport's bound method (no extra call per write).
    """

    def __init__(self, transport: asyncio.Transport, protocol: HardenedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info

    def close(self) -> None:
        self._protocol._close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _RefusedUpgradeBody:
    """The body of a request whose ``Upgrade`` is not taken, read by a parser of its own.

    httptools ends a request offering an upgrade (``Connection: Upgrade``, as ``curl --http2``
    sends over ``http://``) at its headers and hands what follows to whoever takes the
    connection over; uvicorn, which takes over only WebSockets, would drop those bytes or
    parse them as the next request. This stands in as the protocol's parser: a second
    httptools parser, primed with a head that carries only the request's own framing
    headers, reads the body and hands it to the protocol; whatever follows the body is
    discarded unparsed (the connection closes after the answer).
    """

    def __init__(self, protocol: HardenedHttpToolsProtocol, framing: list[tuple[bytes, bytes]]) -> None:
        self._protocol = protocol
        self.done = not framing  # no Content-Length, no Transfer-Encoding: no body
        self._parser = httptools.HttpRequestParser(self)
        if framing:
            head = b"POST / HTTP/1.1\r\nconnection: close\r\n"
            self.feed_data(head + b"".join(b"%s: %s\r\n" % pair for pair in framing) + b"\r\n")

    def feed_data(self, data: bytes) -> None:
        if self.done:
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            if not self.done:  # a malformed body; after a complete one: bytes to discard
                self.done = True
                self._protocol._answer_and_linger(400)

    def should_upgrade(self) -> bool:
        return False

    def on_body(self, body: bytes) -> None:
        if not self.done:
            self._protocol.on_body(body)

    def on_message_complete(self) -> None:
        if not self.done:
            self.done = True
            self._protocol.on_message_complete()

    def on_chunk_header(self) -> None:
        self._protocol.on_chunk_header()

    def on_chunk_complete(self) -> None:
        self._protocol.on_chunk_complete()


class HardenedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of ``config.limits`` (see :class:`Limits`)."""

    _lane: FastLane | None  # the fast lane's parser (set in _init_direct)
    _lane_tries: int
    #: The cycle answering while requests are pipelined behind it (uvicorn keeps only the
    #: newest in ``cycle``): told too when the client leaves. Set only when one is queued.
    _in_flight: Any = None

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # A plain uvicorn Config (``uvicorn --http fastevents._server:HardenedHttpToolsProtocol``)
        # gets the default limits.
        self._limits: Limits = getattr(config, "limits", _DEFAULT_LIMITS)
        self._raw: asyncio.Transport | None = None
        self._state = _BETWEEN
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_state = _BETWEEN
        self._write_deadline: asyncio.TimerHandle | None = None
        self._lingering = False
        self._discarded = 0
        self._discard_limit = LINGER_MAX_BYTES
        self._proxy: _Transport | None = None  # set with the connection
        self._init_direct(config)
        self._answered_at = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        # A body in several reads: its bytes on the wire (data and chunk framing) and
        # those of its trailer; the chunk being read and what the body held at its header.
        self._body_wire = 0
        self._trailer_wire = 0
        self._chunk_open = False
        self._chunk_mark: tuple[bytearray, int] = (bytearray(), 0)
        # Set once a request offered an upgrade not taken: it reads that request's body.
        self._refused: _RefusedUpgradeBody | None = None
        self._stopping = False  # the server stops: the next request is the last one
        self._waiting = _waiting_room(server_state)

    # --- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw = transport
        # What cycles write to and close: their close() lingers when part of a request is unread.
        self._proxy = _Transport(transport, self)
        self.transport = self._proxy  # type: ignore[assignment]
        if len(self.connections) > self._limits.max_connections and not self._make_room():
            _tally.note(
                logging.WARNING,
                f"refused connections: {self._limits.max_connections} open (--max-connections), "
                "every one with a request in progress -- answered 503",
            )
            self._answer_and_linger(503)
            return
        self._waiting[self] = None
        # A new connection must deliver its first request's headers in time.
        self._arm(_HEADERS, self._limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting.pop(self, None)
        running = self._in_flight
        if running is not None and running is not self.cycle and not running.response_complete:
            running.disconnected = True  # as uvicorn tells self.cycle, below
            running.message_event.set()
        self._disarm()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if (
            self._lane_tries
            and self._state == _BETWEEN
            and ((cycle := self.cycle) is None or cycle.response_complete)
            and not (self._lingering or self.pipeline or self._stopping or self.flow.write_paused)
            and self._refused is None
            and self._lane_answered(data)
        ):
            return None
        if self._lingering:  # an answer was sent; the rest of the request is discarded
            self._discarded += len(data)
            if self._discarded > self._discard_limit and self._raw is not None:
                self._raw.close()
            return
        state = self._state
        if state == _HEADERS:
            self._header_bytes += len(data)
            if self._header_bytes > self._limits.max_header_size:
                return self._header_too_large()
        # uvicorn's data_received, inlined (this runs once per request)
        if self.timeout_keep_alive_task is not None:
            self._unset_keepalive_if_required()
        before = self.cycle
        if state == _BODY:
            held = len(before.body)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return None
        except httptools.HttpParserUpgrade as exc:
            if self._should_upgrade():
                if self._raw is not None:
                    self.transport = self._raw  # the WebSocket protocol takes the connection over
                self.handle_websocket_upgrade()
                return None
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self._refuse_upgrade(data[offset:])
        if self._lingering:  # answered by the protocol while parsing (a malformed body)
            return None
        # Where the parser stands, without a parser callback of our own on the hot path:
        # uvicorn makes a new cycle when a request's headers are complete, and drops its
        # more_body when the body is complete.
        cycle = self.cycle
        if cycle is not before:  # a request's headers were completed by this data
            if cycle.more_body and not cycle.response_complete:
                self._body_pending(cycle)
            else:  # the whole request (the common case: one read, one request)
                self._state = _BETWEEN
                if self._deadline is not None:
                    self._disarm()
        elif state == _BODY:
            if not cycle.more_body:
                self._state = _BETWEEN
                self._disarm()
            else:
                self._count_body_wire(cycle, len(data), len(cycle.body) - held)
        elif state == _BETWEEN:  # the first bytes of a request, its headers not complete
            if self._refused is not None and self._refused.done:
                return None  # after a refused upgrade: discarded unparsed until the answer closes
            self._state = _HEADERS
            self._header_bytes = len(data)
            if self._header_bytes > self._limits.max_header_size:
                return self._header_too_large()
            if self._deadline_state != _HEADERS:
                self._arm(_HEADERS, self._limits.header_timeout)
        return None

    def _body_pending(self, cycle: Any) -> None:
        """The headers are in, the body is not: arm its deadline; a close must linger."""
        self._state = _BODY
        self._body_wire = self._trailer_wire = 0
        if self.pipeline:  # queued behind an answer in progress: not read until it is done
            self._disarm()
        else:
            self._arm(_BODY, self._limits.body_timeout)

    def _count_body_wire(self, cycle: Any, received: int, data: int) -> None:
        """Bound what a body still arriving sends besides its data: chunk sizes and extensions
        count against ``max_body`` with the data (413), a trailer against ``max_header_size``
        (431). ``received`` bytes came in, ``data`` of them were body data."""
        if self._chunk_open and data == 0 and self._no_data_since_chunk_header(cycle):
            # No data since the last chunk's header: the zero-size chunk, then the trailer.
            self._trailer_wire += received
        else:
            self._body_wire += received
        if self._body_wire > self._limits.max_body or self._trailer_wire > self._limits.max_header_size:
            if self.pipeline:  # an answer before it is in progress: refused in its turn
                self.flow.pause_reading()
            else:
                self._refuse_body()

    def _refuse_body(self) -> None:
        if self._trailer_wire > self._limits.max_header_size:
            _tally.note(
                logging.INFO,
                f"closed connections: request trailer over {self._limits.max_header_size} bytes "
                "(--max-header-size) -- answered 431",
            )
            self._answer_and_linger(431)
        else:
            _tally.note(
                logging.INFO,
                f"closed connections: request body over {self._limits.max_body} bytes with its chunk framing "
                "(--max-body) -- answered 413",
            )
            self._answer_and_linger(413)

    def _no_data_since_chunk_header(self, cycle: Any) -> bool:
        body, held = self._chunk_mark
        if body is cycle.body:
            return len(body) == held
        if cycle.body:
            return False
        self._chunk_mark = (cycle.body, 0)  # the app took what came before the chunk's header
        return True

    def _refuse_upgrade(self, rest: bytes) -> None:
        """A request offering an upgrade not taken: answered over HTTP/1.1, then the connection closes."""
        _tally.note(
            logging.INFO,
            "served requests offering an Upgrade (h2c, websocket) over HTTP/1.1, closing their connections",
        )
        cycle = self.cycle
        framing = [(name, value) for name, value in self.headers if name in (b"content-length", b"transfer-encoding")]
        if cycle is not None:
            cycle.keep_alive = False
            if framing:
                cycle.more_body = True  # httptools called the request complete at its headers
        body = self._refused = _RefusedUpgradeBody(self, framing)
        self.parser = body  # type: ignore[assignment]
        body.feed_data(rest)

    # --- parser callbacks ------------------------------------------------------------------

    def on_chunk_header(self) -> None:
        # Only chunked bodies call this. Trailer fields are read but not kept: uvicorn would
        # add them to the headers the app already has (HTTP lets a recipient drop them).
        self.headers = []
        self._chunk_open = True
        if self.cycle is not None:
            self._chunk_mark = (self.cycle.body, len(self.cycle.body))

    def on_chunk_complete(self) -> None:
        self._chunk_open = False

    def on_response_complete(self) -> None:
        if self._lingering:  # closed by this answer: what is queued behind it is not answered
            self.server_state.total_requests += 1
            return
        cycle = self.cycle
        if cycle.response_complete and cycle.more_body and self._state == _BODY:
            # Answered before the body was read (413, an early answer): the connection cannot
            # be reused without reading the rest, which is what the answer refused to do. (An
            # earlier pipelined request completing leaves this one's response incomplete.)
            self.server_state.total_requests += 1
            self._linger()
            return
        self._in_flight = self.pipeline[-1][0] if self.pipeline else None  # the one started next
        HttpToolsProtocol.on_response_complete(self)
        if self.timeout_keep_alive_task is not None:  # idle, waiting for the next request
            self._waiting[self] = None
        self._queued_turn()

    def _queued_turn(self) -> None:
        """After an answer: a queued request whose body is still arriving has its turn. What
        it sent meanwhile is judged now, the rest is timed."""
        if self._state == _BODY and not self.pipeline and self._deadline_state != _BODY and not self._lingering:
            if self._body_wire > self._limits.max_body or self._trailer_wire > self._limits.max_header_size:
                self._refuse_body()
            else:
                self._arm(_BODY, self._limits.body_timeout)

    # --- the direct path: POST <path> answered without ASGI (_direct.py) ---------

    def _lane_answered(self, data: bytes) -> bool:
        """Answer ``data`` on the fast lane if it is one whole direct request (``_direct.py``)."""
        lane = self._lane
        if lane is None:
            lane = self._lane = FastLane()
        if not lane.read(data):
            self._lane = None  # its parser may be inside a request: a new one next time
            if lane.begun != 1 or lane.ended != 1:
                self._lane_tries -= 1
            return False
        app = self.app
        if lane.url not in self._direct_urls or lane.parser.get_method() != b"POST":
            return False
        charset = app.read_headers(lane.headers)
        if type(charset) is tuple:  # a refusal: the protocol's parser answers it as ever
            return False
        self._lane_tries = _LANE_TRIES  # whole requests come in single reads here
        if self.timeout_keep_alive_task is not None:
            self._unset_keepalive_if_required()
        if self._deadline is not None:
            self._disarm()
        self._waiting.pop(self, None)
        context = contextvars.copy_context()
        if charset is None and not _observe._observers:  # start()'s common case, inlined
            outcome = context.run(app.processor._start_event, lane.body)
        else:
            outcome = start(context, app, lane.headers, lane.body, charset)
        if type(outcome) is not bytes:  # an async handler: a cycle, as if the parser had read it
            cycle = DirectCycle(self, app, lane.headers, True)
            cycle.more_body = False
            self.cycle = cycle  # type: ignore[assignment]
            cycle.finish_soon(outcome, context)
            return True
        self.cycle = ANSWERED  # type: ignore[assignment]
        self.transport.write(event_answer(self.server_state.default_headers, outcome, True))
        self.server_state.total_requests += 1
        self._idle_from_now()
        return True

    def _init_direct(self, config: uvicorn.Config) -> None:
        # Only for the events app itself, served as fastevents serve serves it: not wrapped in
        # a middleware (uvicorn's trace logging), no access log, no concurrency limit.
        app = self.app
        self._direct_urls = direct_urls(app)
        if not (
            getattr(config, "direct", True)
            and self._direct_urls
            and self.limit_concurrency is None
            and not self.access_log
            and not getattr(config, "reset_contextvars", False)
        ):
            self._direct_urls = frozenset()
        # The fast lane (_direct.FastLane), made on first use; tried while reads hold whole
        # requests, given up after _LANE_TRIES reads in a row that did not.
        self._lane = None
        self._lane_tries = _LANE_TRIES if self._direct_urls else 0

    def on_message_begin(self) -> None:
        # uvicorn builds the ASGI scope here; the direct path needs none, so it is built in
        # on_headers_complete, for the requests that go to the ASGI app.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def _asgi_scope(self) -> None:
        """uvicorn's scope for this request (on_message_begin's), its headers and URL kept."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        HttpToolsProtocol.on_message_begin(self)
        self.url, self.expect_100_continue = url, expect
        self.headers = self.scope["headers"] = headers

    def on_headers_complete(self) -> None:
        # No longer waiting for a request's headers (see _make_room); a server stopping
        # answers this request, the connection's last.
        self._waiting.pop(self, None)
        cycle = self.cycle
        parser = self.parser
        if (
            self.url in self._direct_urls
            and (cycle is None or cycle.response_complete)
            and parser.get_method() == b"POST"
            and not self.expect_100_continue
            and not parser.should_upgrade()
            and not self.flow.write_paused
        ):
            keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive() and not self._stopping
            self.cycle = DirectCycle(self, self.app, self.headers, keep_alive)  # type: ignore[assignment]
            return
        self._asgi_scope()
        HttpToolsProtocol.on_headers_complete(self)
        if len(self.pipeline) == 1 and cycle is not None and cycle is not self.cycle:
            self._in_flight = cycle  # the first request queued: ``cycle`` is the one answering
        if self._stopping:
            self.cycle.keep_alive = False

    def on_body(self, body: bytes) -> None:
        cycle: Any = self.cycle
        if type(cycle) is DirectCycle:
            cycle.body_received(body)
        else:
            HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        cycle: Any = self.cycle
        if type(cycle) is DirectCycle:
            cycle.request_complete()
        else:
            HttpToolsProtocol.on_message_complete(self)

    def direct_answered(self) -> None:
        """A direct cycle's answer is out: uvicorn's on_response_complete, with one idle timer
        per connection instead of one per request (checked when it fires)."""
        self.server_state.total_requests += 1
        if self._lingering:  # closed by this answer: what is queued behind it is not answered
            return
        cycle = self.cycle  # this answer's cycle, or a pipelined request's behind it
        if cycle.response_complete and cycle.more_body and self._state == _BODY:
            self._linger()  # answered before the body was read: see on_response_complete
            return
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._in_flight = cycle
            self._start_asgi_task(cycle, app)
            self._queued_turn()
            return
        self._idle_from_now()

    def _idle_from_now(self) -> None:
        """Idle, waiting for the next request: in the waiting room, the keep-alive timeout running."""
        self._waiting[self] = None
        self._answered_at = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_at(self._answered_at + self.timeout_keep_alive, self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle_timer = None
        cycle = self.cycle
        if (
            self.transport.is_closing()
            or self._state != _BETWEEN
            or (cycle is not None and not cycle.response_complete)
            or self.timeout_keep_alive_task is not None
        ):
            # A request is on its way (its deadlines and answer take over), or the ASGI app
            # answered last (uvicorn's own keep-alive timer runs from that answer).
            return
        due = self._answered_at + self.timeout_keep_alive
        if self.loop.time() < due:  # answered again since the timer was set
            self._idle_timer = self.loop.call_at(due, self._idle_expired)
        else:
            self.timeout_keep_alive_handler()

    # --- the connection cap ----------------------------------------------------------------

    def _make_room(self) -> bool:
        """Close the connection that has waited longest for a request's headers; False if none.

        That is a connection sending its headers slowly or not at all, or an idle keep-alive
        one, whichever began waiting first: the clients that hold every connection open
        without sending a request lose theirs to newcomers, one at a time.
        """
        waiting = self._waiting
        while waiting:
            victim = next(iter(waiting))
            del waiting[victim]
            raw = victim._raw
            if raw is None or raw.is_closing():
                continue
            _tally.note(
                logging.WARNING,
                f"shed connections: {self._limits.max_connections} open (--max-connections) -- "
                "closed the one waiting longest for a request's headers",
            )
            victim._disarm()
            if victim._state == _BETWEEN:
                raw.close()
            else:  # part of a request unread: a reset, and the slot is free at once
                raw.abort()
            return True
        return False

    # --- flow control: the write timeout ---------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self._limits.write_timeout, self._write_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _write_expired(self) -> None:
        self._write_deadline = None
        _tally.note(
            logging.INFO,
            f"closed connections: client read nothing for {self._limits.write_timeout:g} s (--write-timeout)",
        )
        if self._raw is not None:
            self._raw.abort()

    # --- deadlines -------------------------------------------------------------------------

    def _arm(self, state: int, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline_state = state
        self._deadline = self.loop.call_later(seconds, self._expired, state)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._deadline_state = _BETWEEN

    def _expired(self, state: int) -> None:
        self._deadline = None
        self._deadline_state = _BETWEEN
        if self._raw is None or self._raw.is_closing() or self._lingering:
            return
        if state == _HEADERS:
            if self._state == _BETWEEN:  # not a byte of a request: nobody to answer
                if not self._stopping:
                    _tally.note(
                        logging.INFO,
                        f"closed connections: no request within {self._limits.header_timeout:g} s (--header-timeout)",
                    )
                self._raw.close()
                return
            _tally.note(
                logging.INFO,
                f"closed connections: headers not received within "
                f"{self._limits.header_timeout:g} s (--header-timeout) -- answered 408",
            )
        else:
            _tally.note(
                logging.INFO,
                f"closed connections: body not received within "
                f"{self._limits.body_timeout:g} s (--body-timeout) -- answered 408",
            )
        self._answer_and_linger(408)

    def _header_too_large(self) -> None:
        _tally.note(
            logging.INFO,
            f"closed connections: request headers over {self._limits.max_header_size} bytes "
            "(--max-header-size) -- answered 431",
        )
        self._answer_and_linger(431)

    # --- closing ---------------------------------------------------------------------------

    def _answer_and_linger(self, status: int) -> None:
        """Answer ``status`` in place of the app (which sees a disconnect), then linger."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            started = cycle.response_started
            cycle.disconnected = True  # the app's receive() says http.disconnect; its send() is ignored
            cycle.message_event.set()
            if started:  # half an answer is out: nothing sane can follow it
                if self._raw is not None:
                    self._raw.abort()
                return
        if self._raw is not None and not self._raw.is_closing():
            self._raw.write(_raw_answer(status))
        self._linger(LINGER_MAX_BYTES_OTHER)

    def _close(self) -> None:
        """``transport.close()`` as called by uvicorn: linger if part of a request is unread
        (a body, what follows a refused upgrade, pipelined requests not yet read)."""
        if self._raw is None or self._raw.is_closing():
            return
        if self._state != _BETWEEN or self._refused is not None or self.pipeline or self.flow.read_paused:
            self._linger()
        else:
            self._raw.close()

    def _linger(self, max_bytes: int = LINGER_MAX_BYTES) -> None:
        """Send what is buffered and a FIN, discard what the client still sends, close soon."""
        raw = self._raw
        if self._lingering or raw is None or raw.is_closing():
            return
        self._lingering = True
        self._discard_limit = max_bytes
        self._disarm()
        self._unset_keepalive_if_required()
        try:
            raw.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            raw.close()
            return
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, raw.close)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        if self._lingering and self._raw is not None:
            self._raw.close()  # the client has read the answer and closed its side
        return None

    def shutdown(self) -> None:
        """The server stops: finish what was started, answer a request on its way; close the rest.

        A connection that has sent part of a request's headers, or nothing yet on a new
        connection (it arrived as the server stops: its request is surely on the way), is
        answered with ``Connection: close`` if the headers come within their deadline,
        :data:`SHUTDOWN_GRACE` at most for a new connection. Closing it at once, as uvicorn
        does, would reset it. An idle keep-alive connection is closed at once.
        """
        if self._lingering:
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
        elif self._state == _HEADERS or cycle is None:
            self._stopping = True
            if self._state == _BETWEEN:
                self._arm(_HEADERS, min(self._limits.header_timeout, SHUTDOWN_GRACE))
        else:
            self._close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's 400 for an unparsable request, then a lingering close (the rest is unread)."""
        if self._raw is None or self._raw.is_closing():
            return
        text = msg.encode("ascii")
        self._raw.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text)
        )
        self._linger(LINGER_MAX_BYTES_OTHER)


# httptools is what the protocol builds on; a clear error if an install lacks it.
_ = httptools.HttpRequestParser
