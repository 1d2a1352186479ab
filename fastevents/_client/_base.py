"""Clients: send one event over HTTP, get a :class:`ResponseEvent` back.

Promises both clients keep (README, "Sending events"):

- ``timeout`` is one total per call, counted once the call holds a connection slot;
- at most ``max_connections`` calls are in flight; the others queue in the client for up to
  ``pool_timeout`` seconds (default: ``timeout``), then fail with :class:`TimeoutException`;
- no redirect is ever followed: a 3xx is a :class:`FailedDependencyException`, so the
  envelope (``auth`` included) only ever goes to the URL the client was given;
- answers over ``max_answer`` bytes are refused (:class:`BadProtocolException`) without
  being read whole, and without decompressing more than that: a ``gzip`` or ``deflate``
  answer is inflated as it arrives, a bounded piece at a time (:class:`_Body`), and a stack
  of encodings (``gzip, gzip``: a few KB that inflate to GBs) or an encoding the client did
  not ask for is refused;
- idle pooled connections expire after :data:`KEEPALIVE_EXPIRY` seconds, below the idle
  timeout of common servers, so a call is never sent on a connection the server is closing;
- payloads are written by the package's one encoder, so numbers keep their exact text.

httpx and aiohttp are imported when a client is first built, never by ``import fastevents``.
Transport errors of every library are translated in one place, :class:`_TransportErrors`.
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import zlib
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import msgspec

from .._context import current_event
from .._errors import (
    BadProtocolException,
    EventClientError,
    EventConnectionError,
    FailedDependencyException,
    TimeoutException,
)
from .._model import ResponseEvent
from .._observe import ClientCall, client_ended, client_observers, client_started
from .._wire import encode, fresh_id

if TYPE_CHECKING:
    from typing import Self

    import httpx

__all__ = [
    "AiohttpTransport",
    "AsyncEventClient",
    "AsyncTransport",
    "EventClient",
    "EventConnectionError",
    "HttpxTransport",
]

DEFAULT_TIMEOUT = 15.0
#: Largest answer a client reads (bytes, after decompression): 4 MiB.
DEFAULT_MAX_ANSWER = 4 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 100
#: Seconds an idle pooled connection is kept: below uvicorn's 5 s and gunicorn's 2 s
#: keep-alive, so the server never closes a connection just as a call is sent on it.
KEEPALIVE_EXPIRY = 1.0
_KEPT = 64 * 1024  # how much of a refused answer a BadProtocolException keeps as .body
_JSON = "application/json"
#: What every client asks for, whatever its library would: the codings :class:`_Body` inflates.
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Outgoing(msgspec.Struct, rename="camel", gc=False):
    # The request envelope as written to the wire, in the protocol's key order.
    name: str
    version: int
    id: str
    flow_id: str
    payload: Any
    identity: Any
    auth: Any
    metadata: Any


_EMPTY: dict[str, Any] = {}

#: The active ``fastevents.testing.MockEvents``, if any: it answers every client's calls
#: in place of the network. One global check per call, ``None`` outside tests.
_mock: Any = None


def _ids(id: str | None, flow_id: str | None) -> tuple[str, str]:
    """Explicit ids win, else the current event's, else fresh UUIDs."""
    event = current_event.get()
    if event is not None:
        if id is None:
            id = event.id
        if flow_id is None:
            flow_id = event.flow_id
    return (fresh_id() if id is None else id), (fresh_id() if flow_id is None else flow_id)


def _observed_call(
    url: str,
    name: str,
    version: int,
    id: str | None,
    flow_id: str | None,
    metadata: dict[str, Any] | None,
    headers: Mapping[str, str] | None,
) -> ClientCall:
    """The call client observers see (and may add headers and metadata to), started."""
    id, flow_id = _ids(id, flow_id)
    call = ClientCall(
        name, version, id, flow_id, url, {k.lower(): v for k, v in (headers or {}).items()}, dict(metadata or {})
    )
    client_started(call)
    return call


def _envelope(
    name: str, version: int, payload: Any, id: str | None, flow_id: str | None, identity: Any, auth: Any, metadata: Any
) -> bytes:
    """The request body: explicit ids win, else the current event's, else fresh UUIDs.

    Written by the package's encoder, the server's too: a received payload forwarded as is
    keeps every number's exact text (``2.50``, ``1E5``, ``1e400``), and a ``Decimal`` is a
    JSON number.
    """
    if id is None or flow_id is None:
        id, flow_id = _ids(id, flow_id)
    outgoing = _Outgoing(
        name,
        version,
        id,
        flow_id,
        _EMPTY if payload is None else payload,
        _EMPTY if identity is None else identity,
        _EMPTY if auth is None else auth,
        _EMPTY if metadata is None else metadata,
    )
    try:
        return encode(outgoing)
    except NotImplementedError:  # the encoder's hook saying "unsupported type"
        raise TypeError(f"event {name!r} holds a value JSON cannot represent") from None


def _answer(url: str, status: int, body: bytes) -> ResponseEvent:
    """Classify one HTTP answer: a ResponseEvent, or a client-side failure (3xx included)."""
    if not 200 <= status < 300:
        raise FailedDependencyException(f"{url} answered HTTP {status}", status=status, body=body)
    try:
        return ResponseEvent.from_json(body)
    except Exception as exc:
        raise BadProtocolException(f"{url} answered a body that is not a response event: {exc}", body=body) from None


def _too_big(url: str, cap: int, what: str, head: bytes = b"") -> BadProtocolException:
    return BadProtocolException(
        f"{url} answered {what}, over max_answer={cap} bytes: refused, not read", body=head[:_KEPT]
    )


class _Body:
    """An answer's body as it arrives: decoded (``Content-Encoding``), never past the cap.

    Each piece is inflated with ``max_length`` set to what the cap has left, so a
    decompression bomb costs at most ``max_answer`` bytes (plus the piece) before it is
    refused. One coding at most: nobody asked for a stack of them (the clients send
    ``Accept-Encoding: gzip, deflate``), and a stack only amplifies.
    """

    __slots__ = ("cap", "chunks", "coding", "inflate", "size", "url")

    def __init__(self, url: str, cap: int, encoding: str | None) -> None:
        self.url = url
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.inflate: Any = None
        self.coding = ""
        if encoding:
            codings = [c for c in (part.strip().lower() for part in encoding.split(",")) if c and c != "identity"]
            if len(codings) > 1:
                raise BadProtocolException(
                    f"{url} answered Content-Encoding: {encoding[:100]}: stacked encodings are refused"
                )
            if codings:
                self.coding = codings[0]
                wbits = _WBITS.get(self.coding)
                if wbits is None:
                    raise BadProtocolException(
                        f"{url} answered Content-Encoding: {encoding[:100]}, which was not asked for"
                    )
                self.inflate = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> None:
        """Add one piece as received; raise once the decoded body passes the cap."""
        if self.inflate is None:
            self._add(data)
            return
        try:
            out = self.inflate.decompress(data, self.cap + 1 - self.size)
        except zlib.error as exc:
            if self.coding == "deflate" and not self.chunks and self.size == 0:
                # "deflate" is often sent raw, without the zlib wrapper (httpx and aiohttp
                # accept both): one more try that way, from the start.
                self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                self.coding = "raw deflate"
                self.feed(data)
                return
            raise self._unreadable(exc) from None
        self._add(out)  # max_length was what the cap has left: a full output is past it

    def finish(self) -> bytes:
        """The whole decoded body."""
        if self.inflate is not None:
            try:
                self._add(self.inflate.flush())  # what zlib still holds: less than a window
            except zlib.error as exc:
                raise self._unreadable(exc) from None
        chunks = self.chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _add(self, data: bytes) -> None:
        if not data:
            return
        self.chunks.append(data)
        self.size += len(data)
        if self.size > self.cap:
            raise _too_big(self.url, self.cap, f"more than {self.cap} bytes", b"".join(self.chunks)[:_KEPT])

    def _unreadable(self, exc: Exception) -> BadProtocolException:
        return BadProtocolException(f"{self.url} answered a body that is not valid {self.coding}: {exc}")


def _declared(length: str | None) -> int | None:
    return int(length) if length is not None and length.isdigit() else None


def _queue_timeout(url: str, waited: float, slots: int) -> TimeoutException:
    return TimeoutException(
        f"no answer from {url}: waited for a free connection for {waited:g} s "
        f"(all {slots} max_connections busy; see pool_timeout)"
    )


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"not an http(s) URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")


def _check_limits(timeout: float, max_answer: int, max_connections: int, pool_timeout: float | None) -> None:
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if not isinstance(max_answer, int) or max_answer < 1:
        raise ValueError(f"max_answer must be a positive number of bytes, not {max_answer!r}")
    if not isinstance(max_connections, int) or max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
    if pool_timeout is not None and (not isinstance(pool_timeout, (int, float)) or not pool_timeout >= 0):
        raise ValueError(f"pool_timeout must be None or a number of seconds >= 0, not {pool_timeout!r}")


def _classify(exc: Exception, url: str, limit: float) -> EventClientError | None:
    """The client-side failure for a transport's exception; None for anything else (a bug).

    Only libraries already imported are looked at: an exception cannot come from one that is not.
    """
    loaded = sys.modules
    httpx, httpcore, aiohttp = loaded.get("httpx"), loaded.get("httpcore"), loaded.get("aiohttp")
    if isinstance(exc, TimeoutError) or (  # asyncio.timeout's, aiohttp's ServerTimeoutError
        (httpx is not None and isinstance(exc, httpx.TimeoutException))
        or (httpcore is not None and isinstance(exc, httpcore.TimeoutException))
    ):
        detail = str(exc)
        return TimeoutException(f"no answer from {url} in {limit:g} s" + (f": {detail}" if detail else ""))
    if (
        isinstance(exc, OSError)
        or (httpx is not None and isinstance(exc, httpx.TransportError))
        or (httpcore is not None and isinstance(exc, (httpcore.NetworkError, httpcore.ProtocolError)))
        or (aiohttp is not None and isinstance(exc, aiohttp.ClientError))
    ):
        return EventConnectionError(f"cannot reach {url}: {exc!r}")
    if httpx is not None and isinstance(exc, httpx.HTTPError):
        return EventConnectionError(f"cannot reach {url}: {exc!r}")
    return None


class _TransportErrors:
    """Translate transport errors (httpx, httpcore, aiohttp, sockets) to client-side failures.

    A class rather than a generator-based context manager: it runs on every call, twice for
    the async client, and costs a fraction of one.
    """

    __slots__ = ("limit", "url")

    def __init__(self, url: str, limit: float) -> None:
        self.url = url
        self.limit = limit

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, EventClientError):
            return
        mapped = _classify(exc, self.url, self.limit)
        if mapped is not None:
            raise mapped from exc


class _Slots:
    """The connection slots of one event loop: a counter, and a FIFO of calls waiting.

    Lighter than ``asyncio.Semaphore`` on the path every call takes (a free slot is one
    decrement, no await). A released slot passes straight to the first waiter, so ``free``
    is 0 whenever anyone waits.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: deque[asyncio.Future[None]] = deque()

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():  # not cancelled while its task has yet to run
                future.set_result(None)
                return
        self.free += 1

    async def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a slot; False if none came."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        try:
            async with asyncio.timeout(seconds):
                await future
        except BaseException as exc:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot just as we gave up: pass it on
            else:
                future.cancel()
                if future in self.waiters:
                    self.waiters.remove(future)
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True


def _base_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    merged = {"content-type": _JSON}
    if headers:
        merged.update({k.lower(): v for k, v in headers.items()})
    return merged


def _decoding_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """:func:`_base_headers` for a transport that decodes with :class:`_Body`: it asks for
    what :class:`_Body` decodes (unless the caller's headers say otherwise)."""
    return {"accept-encoding": ACCEPT_ENCODING, **_base_headers(headers)}


def _with(base: dict[str, str] | None, extra: Mapping[str, str]) -> dict[str, str]:
    merged = dict(base) if base else {}
    merged.update({k.lower(): v for k, v in extra.items()})
    return merged


class EventClient:
    """Sends events over a pooled :class:`httpx.Client` (keep-alive connections).

    ``timeout`` is the total of one call in seconds, counted from the moment the call has a
    connection slot; it holds even against a server that drips its answer, headers included.
    At most ``max_connections`` calls run at once (threads); a call waits up to
    ``pool_timeout`` seconds (None: up to ``timeout``) for a slot. Answers larger than
    ``max_answer`` bytes are refused. Redirects are never followed. ``headers`` are sent with
    every event.

    Pass ``client`` to use your own ``httpx.Client`` (proxies, TLS, auth...): it is used as is
    and not closed by :meth:`close`; its own pool limits and keep-alive apply, redirects are
    still not followed, and the total timeout is then checked between reads only (a server
    dripping headers is bounded by the per-read timeout).

    :meth:`send_event` returns a :class:`ResponseEvent` for every protocol answer, errors
    included, and raises :class:`TimeoutException`, :class:`FailedDependencyException`
    (non-2xx, 3xx included), :class:`BadProtocolException` (unreadable or too large answer)
    or :class:`EventConnectionError`, all :class:`EventClientError`.
    """

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float | None = None,
    ) -> None:
        _check_url(url)
        _check_limits(timeout, max_answer, max_connections, pool_timeout)
        import httpx

        from ._sync_transport import DeadlineTransport, current_deadline

        self.url = url
        # Parsed once: httpx parses a str URL again on every request (about 13 us here).
        self._url = httpx.URL(url)
        self.timeout = timeout
        self.max_answer = max_answer
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._deadline = current_deadline
        self._owns_client = client is None
        if client is None:
            transport = DeadlineTransport(max_connections=max_connections, keepalive_expiry=KEEPALIVE_EXPIRY)
            self._client = httpx.Client(timeout=timeout, headers=_decoding_headers(headers), transport=transport)
            self._headers: dict[str, str] | None = None
            self._timeout: Any = httpx.USE_CLIENT_DEFAULT
        else:
            self._client = client
            self._headers = _decoding_headers(headers)
            self._timeout = timeout

    def send_event(
        self,
        name: str,
        version: int,
        payload: Any = None,
        *,
        id: str | None = None,
        flow_id: str | None = None,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResponseEvent:
        """Send one event and return the answer (see the class docstring for failures)."""
        if client_observers:
            call = _observed_call(self.url, name, version, id, flow_id, metadata, headers)
            try:
                response = self._send(
                    name, version, payload, call.id, call.flow_id, identity, auth, call.metadata, timeout, call.headers
                )
            except BaseException as exc:
                client_ended(call, None, exc)
                raise
            client_ended(call, response, None)
            return response
        return self._send(name, version, payload, id, flow_id, identity, auth, metadata, timeout, headers)

    def _send(
        self,
        name: str,
        version: int,
        payload: Any,
        id: str | None,
        flow_id: str | None,
        identity: dict[str, Any] | None,
        auth: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        timeout: float | None,
        headers: Mapping[str, str] | None,
    ) -> ResponseEvent:
        body = _envelope(name, version, payload, id, flow_id, identity, auth, metadata)
        if _mock is not None:
            return _mock.answer(self.url, body, headers)  # type: ignore[no-any-return]
        call_headers = self._headers
        if headers:
            call_headers = _with(call_headers, headers)
        limit = self.timeout if timeout is None else timeout
        url = self.url
        slots = self._slots
        with _TransportErrors(url, limit):
            if not slots.acquire(blocking=False):
                wait = limit if self.pool_timeout is None else self.pool_timeout
                if not slots.acquire(timeout=wait):
                    raise _queue_timeout(url, wait, self.max_connections)
            try:
                deadline = monotonic() + limit
                token = self._deadline.set(deadline)
                try:
                    status, answer = self._exchange(body, call_headers, limit, timeout, deadline)
                finally:
                    self._deadline.reset(token)
            finally:
                slots.release()
        return _answer(url, status, answer)

    def _exchange(
        self, body: bytes, headers: dict[str, str] | None, limit: float, timeout: float | None, deadline: float
    ) -> tuple[int, bytes]:
        """One POST, never redirected; the answer read up to ``max_answer`` and the deadline."""
        client = self._client
        request = client.build_request(
            "POST", self._url, content=body, headers=headers, timeout=self._timeout if timeout is None else timeout
        )
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            if not self._owns_client:
                left = deadline - monotonic()
                if left <= 0:
                    raise TimeoutError("the call's total timeout ran out")
                if left < limit - 0.001:
                    # httpx reads the body's read timeout from here when the body starts:
                    # each read may only take the time left (the total, give or take 1 ms).
                    request.extensions["timeout"] = {"connect": left, "read": left, "write": left, "pool": left}
            cap = self.max_answer
            headers = response.headers
            declared = _declared(headers.get("content-length"))
            if declared is not None and declared > cap:
                raise _too_big(self.url, cap, f"Content-Length: {declared}")
            if response.is_stream_consumed:  # read already, and decoded (httpx.MockTransport)
                body = _Body(self.url, cap, None)
                body.feed(response.content)
            else:
                body = _Body(self.url, cap, headers.get("content-encoding"))
                for chunk in response.iter_raw():  # decoded here, within the cap (not by httpx)
                    body.feed(chunk)
                    if monotonic() > deadline:
                        raise TimeoutError("the call's total timeout ran out")
            answer = body.finish()
        finally:
            response.close()
        return response.status_code, answer

    def close(self) -> None:
        """Close the connection pool (unless the ``httpx.Client`` was given to us)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EventClient {self.url} timeout={self.timeout}>"


# --- async ------------------------------------------------------------------------------


@runtime_checkable
class AsyncTransport(Protocol):
    """How :class:`AsyncEventClient` moves bytes: one POST, answered with (status, body).

    ``send`` raises :class:`TimeoutException` when ``timeout`` (seconds) runs out and an
    :class:`EventClientError` (e.g. :class:`EventConnectionError`) when no answer comes;
    ``aclose`` releases its connections. It must not follow redirects. The client queues
    calls (``max_connections``) in front of any transport and refuses answers over
    ``max_answer``; a transport that can stop reading early should too.
    """

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


async def _closed_with_loop(session: Any) -> AsyncGenerator[None, None]:
    """Keeps ``session`` open until closed: by ``aclose()``, or by the loop's shutdown.

    An async generator is finalized by ``loop.shutdown_asyncgens()``, which ``asyncio.run``,
    ``asyncio.Runner`` and pytest-asyncio run before they close a loop: the session then
    closes on its own loop, the only one where its connections can be closed.
    """
    try:
        yield
    finally:
        await session.close()


class AiohttpTransport:
    """The default transport: an :mod:`aiohttp` session with a keep-alive pool.

    Measured several times faster than ``httpx.AsyncClient`` with many requests in flight.
    A session belongs to the event loop it was opened on, so there is one per loop
    (``asyncio.run`` twice, one loop per test): each is closed by :meth:`aclose` or, at the
    latest, when its loop shuts down (``loop.shutdown_asyncgens()``, run by ``asyncio.run``).
    A loop closed without that shutdown leaves its sockets open (asyncio warns).
    """

    def __init__(
        self,
        *,
        limit: int = DEFAULT_MAX_CONNECTIONS,
        max_answer: int = DEFAULT_MAX_ANSWER,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        import aiohttp  # imported here: only the async client needs it

        self._aiohttp = aiohttp
        self._limit = limit
        self._max_answer = max_answer
        self._keepalive = keepalive_expiry
        self._sessions: dict[asyncio.AbstractEventLoop, tuple[Any, AsyncGenerator[None, None]]] = {}
        # The last loop used and its session, read as one value (loops may run in threads).
        self._current: tuple[asyncio.AbstractEventLoop | None, Any] = (None, None)
        self._timeouts: dict[float, Any] = {}

    async def _open(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The running loop's session, opened on first use."""
        for old in [old for old in self._sessions if old.is_closed()]:
            del self._sessions[old]  # closed without its shutdown: nothing can close it now
        entry = self._sessions.get(loop)
        if entry is None:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=self._keepalive)
            # Decoded by _Body within max_answer: aiohttp would inflate a bomb whole.
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, headers={"Accept-Encoding": ACCEPT_ENCODING}
            )
            guard = _closed_with_loop(session)
            await anext(guard)
            entry = self._sessions[loop] = (session, guard)
        self._current = (loop, entry[0])
        return entry[0]

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        current, session = self._current
        if current is not loop:
            session = await self._open(loop)
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:
            # ceil_threshold: aiohttp rounds a timeout of 5 s or more up to a whole second of
            # the loop's clock (up to 1 s late); the documented total is exact.
            client_timeout = self._aiohttp.ClientTimeout(total=timeout, ceil_threshold=math.inf)
            if len(self._timeouts) < 16:
                self._timeouts[timeout] = client_timeout
        with _TransportErrors(url, timeout):
            async with session.post(
                url, data=body, headers=headers, timeout=client_timeout, allow_redirects=False
            ) as response:
                return response.status, await self._read(response, url)

    async def _read(self, response: Any, url: str) -> bytes:
        cap = self._max_answer
        length = response.content_length
        encoding = response.headers.get("Content-Encoding")
        if length is not None:
            if length > cap:
                raise _too_big(url, cap, f"Content-Length: {length}")
            if encoding is None:
                return bytes(await response.read())
        body = _Body(url, cap, encoding)
        async for chunk in response.content.iter_any():
            body.feed(chunk)
        return body.finish()

    async def aclose(self) -> None:
        """Close the running loop's session; ask other live loops to close theirs."""
        running = asyncio.get_running_loop()
        sessions, self._sessions = self._sessions, {}
        self._current = (None, None)
        for loop, (_, guard) in sessions.items():
            if loop is running:
                await guard.aclose()
            elif loop.is_running() and not loop.is_closed():  # another thread's loop: closed there
                asyncio.run_coroutine_threadsafe(guard.aclose(), loop)
            # else: a closed loop (done already, or never possible) or an idle one, whose
            # shutdown closes it


class HttpxTransport:
    """A transport over an ``httpx.AsyncClient`` (yours: used as is, never closed by us).

    Redirects are not followed even if your client would. Without a client, one is made with
    ``max_connections`` and :data:`KEEPALIVE_EXPIRY`.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        import httpx

        self._owns_client = client is None
        if client is None:
            limits = httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            )
            client = httpx.AsyncClient(limits=limits)
        self._client = client
        self._max_answer = max_answer

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        client = self._client
        cap = self._max_answer
        with _TransportErrors(url, timeout):
            # httpx times each connect/write/read on its own; the protocol's timeout is a total.
            async with asyncio.timeout(timeout):
                if "accept-encoding" not in headers:  # what _Body decodes, whatever the client's default
                    headers = {**headers, "accept-encoding": ACCEPT_ENCODING}
                request = client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    headers = response.headers
                    declared = _declared(headers.get("content-length"))
                    if declared is not None and declared > cap:
                        raise _too_big(url, cap, f"Content-Length: {declared}")
                    if response.is_stream_consumed:  # read already, and decoded (httpx.MockTransport)
                        decoded = _Body(url, cap, None)
                        decoded.feed(response.content)
                    else:
                        decoded = _Body(url, cap, headers.get("content-encoding"))
                        async for chunk in response.aiter_raw():  # decoded here, within the cap
                            decoded.feed(chunk)
                    answer = decoded.finish()
                finally:
                    await response.aclose()
        return response.status_code, answer

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _default_transport(max_connections: int, max_answer: int) -> AsyncTransport:
    try:
        return AiohttpTransport(limit=max_connections, max_answer=max_answer)
    except ImportError:  # pragma: no cover - aiohttp is a dependency; a stripped install falls back
        return HttpxTransport(max_answer=max_answer, max_connections=max_connections)


class AsyncEventClient:
    """The asynchronous twin of :class:`EventClient`: same arguments, ``await send_event(...)``.

    Bytes travel through a pluggable :class:`AsyncTransport`: by default an aiohttp
    keep-alive pool (:class:`AiohttpTransport`); ``client=httpx.AsyncClient(...)`` uses yours
    through :class:`HttpxTransport` (not closed by us); ``transport=`` takes any object with
    ``async send(url, body, headers, timeout) -> (status, body)`` and ``async aclose()``
    (closed by us only when we created it). Use ``async with``, or ``await aclose()``.

    The queue for connections is the client's own, in front of any transport: at most
    ``max_connections`` calls in flight per event loop, others wait up to ``pool_timeout``
    seconds (None: up to ``timeout``); ``timeout`` counts once a call has its slot. The client
    works from several event loops (one at a time or at once): each gets its own queue and,
    with the default transport, its own session.
    """

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        transport: AsyncTransport | None = None,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float | None = None,
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("pass either client or transport, not both")
        self._check_url(url)
        _check_limits(timeout, max_answer, max_connections, pool_timeout)
        self.url = url
        self.timeout = timeout
        self.max_answer = max_answer
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self._headers = _base_headers(headers)
        self._owns_transport = client is None and transport is None
        if transport is None:
            if client is not None:
                transport = HttpxTransport(client, max_answer=max_answer, max_connections=max_connections)
            else:
                transport = _default_transport(max_connections, max_answer)
        self.transport: AsyncTransport = transport
        self._queues: dict[asyncio.AbstractEventLoop, _Slots] = {}
        # The last loop used and its slots, read as one value (loops may run in threads).
        self._current: tuple[asyncio.AbstractEventLoop | None, _Slots] = (None, _Slots(0))

    #: Refuses a URL the transport cannot reach (the NATS client accepts nats:// instead).
    _check_url = staticmethod(_check_url)

    def _slots(self, loop: asyncio.AbstractEventLoop) -> _Slots:
        """The running loop's connection slots (waiting futures belong to one loop)."""
        for old in [old for old in self._queues if old.is_closed()]:
            del self._queues[old]
        slots = self._queues.get(loop)
        if slots is None:
            slots = self._queues[loop] = _Slots(self.max_connections)
        self._current = (loop, slots)
        return slots

    async def send_event(
        self,
        name: str,
        version: int,
        payload: Any = None,
        *,
        id: str | None = None,
        flow_id: str | None = None,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResponseEvent:
        """Send one event and return the answer; failures as for :class:`EventClient`."""
        if client_observers:
            call = _observed_call(self.url, name, version, id, flow_id, metadata, headers)
            try:
                response = await self._send(
                    name, version, payload, call.id, call.flow_id, identity, auth, call.metadata, timeout, call.headers
                )
            except BaseException as exc:
                client_ended(call, None, exc)
                raise
            client_ended(call, response, None)
            return response
        return await self._send(name, version, payload, id, flow_id, identity, auth, metadata, timeout, headers)

    async def _send(
        self,
        name: str,
        version: int,
        payload: Any,
        id: str | None,
        flow_id: str | None,
        identity: dict[str, Any] | None,
        auth: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        timeout: float | None,
        headers: Mapping[str, str] | None,
    ) -> ResponseEvent:
        body = _envelope(name, version, payload, id, flow_id, identity, auth, metadata)
        if _mock is not None:
            return await _mock.answer_async(self.url, body, headers)  # type: ignore[no-any-return]
        call_headers = _with(self._headers, headers) if headers else self._headers
        url = self.url
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        current, slots = self._current
        if current is not loop:
            slots = self._slots(loop)
        with _TransportErrors(url, limit):
            if slots.free:
                slots.free -= 1
            else:
                wait = limit if self.pool_timeout is None else self.pool_timeout
                if not await slots.wait(wait):
                    raise _queue_timeout(url, wait, self.max_connections)
            try:
                status, answer = await self.transport.send(url, body, call_headers, limit)
            finally:
                slots.release()
        if len(answer) > self.max_answer:  # a custom transport read it all: still refused
            raise _too_big(url, self.max_answer, f"{len(answer)} bytes", answer)
        return _answer(url, status, answer)

    async def aclose(self) -> None:
        """Close the transport (unless it, or the ``httpx.AsyncClient``, was given to us)."""
        if self._owns_transport:
            await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncEventClient {self.url} timeout={self.timeout} via {type(self.transport).__name__}>"
