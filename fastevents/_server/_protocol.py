"""``fastevents serve``'s HTTP server: uvicorn + httptools, hardened against hostile clients.

Three pieces on top of uvicorn (the measurements behind the choice are in BENCHMARKS.md):

* :class:`HardenedHttpToolsProtocol` -- uvicorn's httptools protocol with the limits of
  :class:`Limits`: a header size cap (431), header and body read deadlines (408), a write
  timeout, a connection cap (a newcomer closes the connection waiting longest for a
  request's headers, or is answered 503 if none is waiting), and a lingering close
  whenever an answer leaves part of a request unread (413, 408, 431, 503), so the client
  can read the answer instead of receiving a reset. A chunked body's framing counts against
  the body size cap and its trailer against the header size cap; a request offering an
  ``Upgrade`` (h2c, websocket) is answered over HTTP/1.1 with its body read as its body.
  Requests that arrive whole in one read -- nearly all of them -- arm no timer beyond
  uvicorn's own keep-alive timer.
* :class:`Server` -- uvicorn's server, exiting 0 after a graceful stop on SIGTERM/SIGINT;
  the connections queued on the listening socket when it stops are accepted and answered.
* :class:`Manager` -- uvicorn's multiprocess supervisor for ``--workers N``, with workers
  that die with it (``PR_SET_PDEATHSIG`` on Linux), that are replaced whenever they die
  after they started, restarts with backoff for a worker that keeps failing to start (then
  exit status 1), and a listening socket that is closed as soon as it stops, so new
  clients are refused rather than queued and then reset.

The uvicorn methods this module copies, replaces or leans on are fingerprinted in
``_uvicorn_contract.py``.

Connections closed or refused by a limit are logged to ``fastevents.serve``: refusals at
WARNING, client timeouts and oversized headers at INFO, each reason at most once every
10 s with a count, so an attack cannot flood the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Generator
from http import HTTPStatus
from typing import Any

import httptools
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import HANDLED_SIGNALS
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from .._asgi import asgi_app
from .._direct import DirectCycle, direct_urls
from .._limits import Limits
from .._router import EventRouter
from .._switch import flag
from .._target import UsageError, load_router
from .._uvicorn_contract import changed as _uvicorn_changes

__all__ = ["Limits", "HardenedHttpToolsProtocol", "Manager", "Server", "ServeConfig", "run"]

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
#: File descriptors kept free for the listening socket, logs and the app's own files.
FD_RESERVE = 64
#: Restarts of a worker that keeps failing to start: after 0.25, 0.5, 1 and 2 s; then give up.
RESTART_DELAYS = (0.25, 0.5, 1.0, 2.0)


_DEFAULT_LIMITS = Limits()


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
        self._disarm()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
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

    # --- the direct path: POST <path> answered without ASGI (fastevents/_direct.py) ---------

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
            self._start_asgi_task(cycle, app)
            self._queued_turn()
            return
        self._waiting[self] = None  # idle, waiting for the next request
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


class _StartupFailure(logging.Filter):
    """Reports a failed lifespan startup in one line, in place of uvicorn's lines about it.

    uvicorn logs the reason, then "Application startup failed. Exiting.", in every worker.
    This filter keeps the reason and, at the second line, logs one line of its own: in the
    first worker to fail only, with ``--workers N`` (``shared``, a flag the manager reads).
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""
        self.shared: Any = None  # ServeConfig.startup_failed, in each process

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("lifespan startup failed: "):
            self.reason = message.removeprefix("lifespan startup failed: ")
            return False
        if message != "Application startup failed. Exiting.":
            return True
        first = True
        if self.shared is not None:
            with self.shared.get_lock():
                first, self.shared.value = not self.shared.value, True
        if first:
            logger.error("the lifespan's startup failed: %s", self.reason or "see the log above")
        return False


_startup_failure = _StartupFailure()


class ServeConfig(uvicorn.Config):
    """uvicorn's ``Config`` plus :class:`Limits`, the manager's pid (workers die with it) and
    ``direct``: whether ``POST <path>`` takes the direct path (``fastevents/_direct.py``).

    ``startup_failed`` (with ``--workers N``) is shared by the workers and the manager: set by
    the first worker whose lifespan startup fails, which alone reports it.
    """

    def __init__(
        self, app: Any, *, limits: Limits, manager_pid: int | None = None, direct: bool = True, **kwargs: Any
    ) -> None:
        self.limits = limits
        self.manager_pid = manager_pid
        self.startup_failed: Any = None
        self.direct = direct
        super().__init__(app, **kwargs)

    def configure_logging(self) -> None:
        super().configure_logging()
        error_log = logging.getLogger("uvicorn.error")
        if _startup_failure not in error_log.filters:
            error_log.addFilter(_startup_failure)
        _startup_failure.shared = getattr(self, "startup_failed", None)
        level = logging.getLogger("uvicorn.error").level
        package_logger = logging.getLogger("fastevents")
        package_logger.setLevel(level)
        if not any(getattr(h, "_fastevents_serve", False) for h in package_logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
            handler._fastevents_serve = True  # type: ignore[attr-defined]
            package_logger.addHandler(handler)
            package_logger.propagate = False

    def load(self) -> None:
        if self.manager_pid is not None and os.getpid() != self.manager_pid:
            _die_with(self.manager_pid)
        super().load()


def _die_with(parent_pid: int) -> None:
    """Ask Linux to send this worker SIGTERM when its manager dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the manager died before the request took effect
        raise SystemExit(0)


class AppFactory:
    """Builds the events app in each worker (picklable, unlike the app itself)."""

    def __init__(
        self,
        target: str,
        path: str,
        max_body: int,
        catalogue: bool = False,
        health_path: str | None = None,
        also_serve: tuple[Callable[[Any], Any], ...] = (),
    ) -> None:
        self.target = target
        self.path = path
        self.max_body = max_body
        self.catalogue = catalogue
        self.health_path = health_path
        #: Other transports (``fastevents._nats_serve.lifespan``): each, given the app's
        #: processor, a lifespan that serves it, run inside the router's own lifespan.
        self.also_serve = also_serve
        self.app: Any = None  # this process's app, once built

    def __call__(self) -> Any:
        try:
            router = load_router(self.target)
        except UsageError as exc:
            logger.error("%s", exc)
            raise SystemExit(uvicorn.config.STARTUP_FAILURE) from None
        # The protocol enforces the body read deadline from the end of the headers, which
        # the app cannot see, at no cost per request; the app's own timer would be redundant.
        app = self.app = asgi_app(
            router,
            path=self.path,
            max_body=self.max_body,
            body_timeout=None,
            catalogue=self.catalogue,
            health_path=self.health_path,
        )
        for serve in self.also_serve:
            router.include(EventRouter(lifespan=serve(app.processor)))
        # What is loaded now lives as long as the process: frozen out of the collector's
        # scans, it no longer slows every full collection (as gunicorn and Instagram do).
        gc.collect()
        gc.freeze()
        return app


class Server(uvicorn.Server):
    """uvicorn's server; a graceful stop on SIGTERM or SIGINT ends with exit status 0.

    (uvicorn re-raises the signal once stopped, so a lone server would die "by SIGTERM"
    while the workers' manager exits 0.) ``on_started`` is called once it has started: after
    the lifespan startup, listening.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def handle_exit(self, sig: int, frame: Any) -> None:
        # Stopping: the health probe answers 503 from now on, while requests in flight finish.
        factory = self.config.app
        if isinstance(factory, AppFactory) and factory.app is not None:
            factory.app.stopping()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Connections the kernel has queued on the listening socket would be reset when it
        # closes: accept them first (each is then answered, see the protocol's shutdown), and
        # close it right after, with nothing in between (uvicorn closes it again, harmlessly):
        # later ones are refused. A connection that completes its handshake in between would
        # be reset: the gap is kept to a few microseconds.
        queued = _accept_queued(sockets or [])
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        adopting = [loop.create_task(self._adopt(conn)) for conn in queued]
        await super().shutdown(sockets=sockets)
        for task in adopting:
            task.cancel()

    async def _adopt(self, conn: socket.socket) -> None:
        config = self.config

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        try:
            _, adopted = await asyncio.get_running_loop().connect_accepted_socket(protocol, sock=conn)
        except OSError:
            conn.close()
            return
        adopted.shutdown()  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def _accept_queued(sockets: list[socket.socket]) -> list[socket.socket]:
    """The connections waiting in the listening sockets' accept queues, accepted."""
    accepted: list[socket.socket] = []
    for sock in sockets:
        try:
            sock.setblocking(False)
            while True:
                conn, _ = sock.accept()
                conn.setblocking(False)
                accepted.append(conn)
        except OSError:  # BlockingIOError: none left (or out of file descriptors)
            continue
    return accepted


class _Worker(Process):
    """uvicorn's worker process, running :class:`Server`, which reports once it has started.

    The report is one message down a pipe of its own, sent after the lifespan startup, once
    the worker listens. A message outlives its sender, so a worker that dies a moment after
    it started (a request that crashes it) is never taken for one that failed to start, as
    it could be by a health check that polls.
    """

    def __init__(self, config: ServeConfig, sockets: list[Any]) -> None:
        self._started_in, self._started_out = multiprocessing.get_context("spawn").Pipe(duplex=False)
        super().__init__(config, sockets)
        self.launched = 0.0
        #: Starts that failed in a row before this worker's (it carries the count on).
        self.failures = 0
        #: When a worker that failed to start is replaced (the backoff), else None.
        self.restart_at: float | None = None
        self._has_started = False

    @property
    def server(self) -> Server:  # the worker's server (uvicorn's property builds a plain one)
        if self._server is None:
            self._server = Server(config=self.config, on_started=self._report_started)
        return self._server  # type: ignore[return-value]

    def _report_started(self) -> None:  # in the worker
        with contextlib.suppress(OSError):
            self._started_out.send_bytes(b"started")

    def start(self) -> None:
        self.launched = time.monotonic()
        super().start()

    def has_started(self) -> bool:
        """Whether the worker reported its start (it may have died since)."""
        if not self._has_started:
            with contextlib.suppress(OSError, EOFError):
                if self._started_in.poll():
                    self._has_started = self._started_in.recv_bytes() == b"started"
        return self._has_started

    def close_pipes(self) -> None:
        """Once the worker is gone: its pipes' file descriptors are not left to the collector."""
        self.has_started()  # read before the pipe closes
        for conn in (self._started_in, self._started_out, self.parent_conn, self.child_conn):
            conn.close()


class Manager(Multiprocess):
    """uvicorn's multiprocess supervisor with backoff, a give-up and an early socket close.

    A worker that dies after it started is replaced at once, always. One that dies before
    it started is restarted after :data:`RESTART_DELAYS`, then the manager gives up (exit
    status 1), and at once when it exits with uvicorn's ``STARTUP_FAILURE`` status (the app
    cannot be loaded, or its lifespan startup failed: a restart would fail the same way).
    uvicorn's signals all work: SIGTERM, SIGINT (and SIGBREAK) stop, SIGHUP replaces every
    worker, SIGTTIN adds one, SIGTTOU removes one; the other signals it catches are logged
    and ignored.
    """

    processes: list[_Worker]  # type: ignore[assignment]

    def __init__(self, config: ServeConfig, sockets: list[Any]) -> None:
        super().__init__(config, sockets)
        self.exit_code = 0

    def _spawn(self, failures: int = 0) -> _Worker:
        worker = _Worker(self.config, self.sockets)  # type: ignore[arg-type]
        worker.failures = failures
        worker.start()
        return worker

    # uvicorn's init_processes, restart_all and handle_ttin, with workers that report
    # their start (``_uvicorn.COPIED`` fingerprints the originals).

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._spawn())

    def restart_all(self) -> None:
        """Replace each worker, its replacement serving before the old one is stopped."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                new.close_pipes()
                if not self.should_exit.is_set():
                    logger.error("new worker %s was not ready in time; keeping worker %s", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            old.close_pipes()
            self.processes[idx] = new

    def handle_hup(self) -> None:
        logger.warning("received SIGHUP: replacing every worker")
        self.restart_all()

    def handle_ttin(self) -> None:
        logger.warning("received SIGTTIN: adding a worker")
        self.processes_num += 1
        self.processes.append(self._spawn())

    def handle_ttou(self) -> None:
        if self.processes_num <= 1:
            logger.warning("received SIGTTOU: ignored, one worker is the fewest")
            return
        logger.warning("received SIGTTOU: removing a worker")
        self.processes_num -= 1
        worker = self.processes.pop()
        worker.terminate()
        worker.join()
        worker.close_pipes()

    def _ignore(self, name: str, level: int = logging.WARNING) -> None:
        logger.log(level, "received %s: ignored", name)

    def handle_quit(self) -> None:
        self._ignore("SIGQUIT")

    def handle_usr1(self) -> None:
        self._ignore("SIGUSR1")

    def handle_usr2(self) -> None:
        self._ignore("SIGUSR2")

    def handle_winch(self) -> None:  # a terminal's resize: not worth a warning
        self._ignore("SIGWINCH", logging.INFO)

    def _startup_failed(self) -> bool:
        """A worker's lifespan startup failed (it said why): stop, exit status 1, no restart."""
        if not self.config.startup_failed.value:
            return False
        self.exit_code = 1
        self.should_exit.set()
        return True

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set() or self._startup_failed():
            return
        for idx, worker in enumerate(self.processes):
            if worker.restart_at is not None:  # failed to start: waiting for its restart
                if time.monotonic() >= worker.restart_at:
                    self.processes[idx] = self._spawn(worker.failures)
                continue
            if worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            worker.kill()  # hung or dead: make sure it is gone
            worker.join()
            worker.close_pipes()
            if self.should_exit.is_set() or self._startup_failed():
                return
            if worker.has_started():  # it had been serving: replace it at once, always
                logger.warning("worker %s exited with status %s; restarting it", worker.pid, worker.exitcode)
                self.processes[idx] = self._spawn()
                continue
            if worker.exitcode == STARTUP_FAILURE:
                logger.error("worker %s could not start (exit status %d); stopping", worker.pid, STARTUP_FAILURE)
                self.exit_code = 1
                self.should_exit.set()
                return
            failures = worker.failures + 1
            if failures > len(RESTART_DELAYS):
                logger.error(
                    "worker failed to start %d times in a row (last exit status %s); stopping",
                    failures,
                    worker.exitcode,
                )
                self.exit_code = 1
                self.should_exit.set()
                return
            delay = RESTART_DELAYS[failures - 1]
            logger.warning(
                "worker %s exited with status %s %.1f s after it was launched, before it started; "
                "restarting in %g s (attempt %d of %d)",
                worker.pid,
                worker.exitcode,
                time.monotonic() - worker.launched,
                delay,
                failures,
                len(RESTART_DELAYS),
            )
            worker.failures = failures
            worker.restart_at = time.monotonic() + delay

    def terminate_all(self) -> None:
        # The manager's copy of the listening socket closes first: the workers then hold the
        # only copies, and each accepts what is queued when it stops, then closes its own.
        # Once the last one has, new clients are refused, instead of being queued on a socket
        # nobody accepts from (the manager's, were it closed last) and reset when it closes.
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def check_uvicorn() -> None:
    """Warn, once as serving starts, for each uvicorn method ``_server.py`` builds on that changed."""
    for line in _uvicorn_changes():
        logger.warning("%s", line)


def raise_open_file_limit(max_connections: int) -> int:
    """Raise the soft open-file limit to the hard one; the connection cap that fits under it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a POSIX system
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    fitting = max(1, soft - FD_RESERVE)
    if max_connections > fitting:
        logger.warning(
            "--max-connections lowered from %d to %d to fit the open-file limit (%d)", max_connections, fitting, soft
        )
        return fitting
    return max_connections


def run(
    target: str,
    path: str,
    limits: Limits,
    workers: int,
    log_level: str,
    sock: Any,
    *,
    catalogue: bool = False,
    health_path: str | None = None,
    also_serve: tuple[Callable[[Any], Any], ...] = (),
) -> int:
    """Serve ``target`` on the listening socket ``sock`` (``None``: no HTTP, only the
    lifespans of ``also_serve``); the exit status."""
    config = ServeConfig(
        AppFactory(target, path, limits.max_body, catalogue, health_path, also_serve),
        limits=limits,
        manager_pid=os.getpid() if workers > 1 else None,
        # FASTEVENTS_SERVE_ASGI=1: every request through the ASGI app (comparisons, diagnosis)
        direct=not flag("FASTEVENTS_SERVE_ASGI"),
        factory=True,
        loop="auto",  # uvloop when installed (the ``server`` extra)
        http=HardenedHttpToolsProtocol,
        ws="none",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=limits.keep_alive_timeout,
        timeout_graceful_shutdown=limits.shutdown_timeout,
        workers=workers,
    )
    # After the Config, which set up logging: the warnings, if any, go through it.
    check_uvicorn()
    config.limits = dataclasses.replace(limits, max_connections=raise_open_file_limit(limits.max_connections))
    sockets = [] if sock is None else [sock]
    if workers == 1:
        server = Server(config)
        try:
            server.run(sockets=sockets)
        except SystemExit as exc:
            if exc.code != uvicorn.config.STARTUP_FAILURE:
                raise
        return 0 if server.started else 1
    config.startup_failed = multiprocessing.get_context("spawn").Value("b", False)
    manager = Manager(config, sockets=sockets)
    manager.run()
    return manager.exit_code


# httptools is what the protocol builds on; a clear error if an install lacks it.
_ = httptools.HttpRequestParser
