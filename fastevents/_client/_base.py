"""What every client shares, written once in :class:`BaseClient`: the envelope, the capped
answer read (:class:`_Body`), the limits and the error mapping (:class:`_TransportErrors`).

The clients' promises (one total ``timeout``, queued slots, no redirect followed, answers and
their decompression capped at ``max_answer``, idle connections expired, exact numbers) are
told once, in :class:`~fastevents.EventClient`'s docstring and docs/clients.md. Bytes move
through transports (``_httpx.py``, ``_aiohttp.py``, NATS, the testing kit's), which import
their library when first built, never by ``import fastevents``.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, runtime_checkable
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
from .._wire import EventFields, encode, fresh_id

__all__ = ["AsyncTransport", "BaseClient", "Transport"]

DEFAULT_TIMEOUT = 15.0
#: Largest answer a client reads (bytes, after decompression): 4 MiB.
DEFAULT_MAX_ANSWER = 4 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 100
#: Seconds an idle pooled connection is kept: below uvicorn's 5 s and gunicorn's 2 s
#: keep-alive, so the server never closes a connection just as a call is sent on it.
KEEPALIVE_EXPIRY = 1.0
_KEPT = 64 * 1024  # how much of a refused answer a BadProtocolException keeps as .body
#: What every client asks for, whatever its library would: the codings :class:`_Body` inflates.
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


#: The request envelope as written to the wire: EventFields' fields, so the wire's one key
#: order, with no defaults and no GC tracking (built and encoded once per call).
_Outgoing: Any = msgspec.defstruct(
    "_Outgoing", [(f.name, Any) for f in msgspec.structs.fields(EventFields)], rename="camel", gc=False, module=__name__
)

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


def _envelope(
    name: str, version: int, payload: Any, id: str | None, flow_id: str | None, identity: Any, auth: Any, metadata: Any
) -> bytes:
    """The request body (ids: :func:`_ids`), by the package's one encoder, the server's too: a
    forwarded payload keeps every number's exact text (``2.50``, ``1e400``)."""
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

    def __init__(self, url: str, cap: int, length: int | None, encoding: str | None) -> None:
        if length is not None and length > cap:  # declared too long: refused before any read
            raise _too_big(url, cap, f"Content-Length: {length}")
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


def _queue_timeout(url: str, waited: float, slots: int) -> TimeoutException:
    return TimeoutException(
        f"no answer from {url}: waited for a free connection for {waited:g} s "
        f"(all {slots} max_connections busy; see pool_timeout)"
    )


def _classify(exc: BaseException, url: str, limit: float) -> EventClientError | None:
    """The client-side failure for a transport's exception (httpx, httpcore, aiohttp, sockets);
    None for the client's own failures and anything else (a bug, a cancellation).

    Only libraries already imported are looked at: an exception cannot come from one that is not.
    """
    if not isinstance(exc, Exception) or isinstance(exc, EventClientError):
        return None
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
        or (httpx is not None and isinstance(exc, httpx.HTTPError))  # TransportError, and the rest
        or (httpcore is not None and isinstance(exc, (httpcore.NetworkError, httpcore.ProtocolError)))
        or (aiohttp is not None and isinstance(exc, aiohttp.ClientError))
    ):
        return EventConnectionError(f"cannot reach {url}: {exc!r}")
    return None


class _TransportErrors:
    """Raises the client-side failure (:func:`_classify`) of a transport's exception (a class:
    it runs on every call, and costs a fraction of a generator-based context manager)."""

    __slots__ = ("limit", "url")

    def __init__(self, url: str, limit: float) -> None:
        self.url = url
        self.limit = limit

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        mapped = None if exc is None else _classify(exc, self.url, self.limit)
        if mapped is not None:
            raise mapped from exc


def _lowered(base: dict[str, str], extra: Mapping[str, str] | None) -> dict[str, str]:
    """``base`` updated with ``extra``, its names in lower case (HTTP's, and NATS' as we send them)."""
    merged = dict(base)
    if extra:
        merged.update({k.lower(): v for k, v in extra.items()})
    return merged


class Transport(Protocol):
    """How :class:`~fastevents.EventClient` moves bytes: as :class:`AsyncTransport`, without
    ``await``, and ``close`` in place of ``aclose``."""

    def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]: ...

    def close(self) -> None: ...


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


class _Call(msgspec.Struct, gc=False):
    """One call under way: its body and headers, its total, and who answers or observes it.

    Around its exchange and reading (``with call:``), a failure is mapped (:func:`_classify`)
    and told to the observers.
    """

    url: str
    body: bytes
    headers: dict[str, str]
    limit: float
    asked: Any  # the caller's own headers (what a MockEvents records)
    mock: Any  # the MockEvents answering in place of the transport, if any
    observed: Any  # the ClientCall observers see, if any

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            return
        mapped = _classify(exc, self.url, self.limit)
        if self.observed is not None:
            client_ended(self.observed, None, exc if mapped is None else mapped)
        if mapped is not None:
            raise mapped from exc


class BaseClient:
    """One send for every client: settings, envelope, mocks, observers and answer, written once.

    A client's ``send_event`` is its ``_send`` of the call :meth:`_prepare` builds: within the
    call (``with call:``), answered by its mock or moved by the transport within the client's
    connection slots, then read by :meth:`_answer`. Only the waiting (threads or an event
    loop) and ``await`` differ between the sync and the async client.
    """

    #: False for the in-process test clients: client observers and a global MockEvents
    #: leave them alone (they stand for the server's side of a test, not the code's calls).
    _real = True

    @staticmethod
    def _check_url(url: str) -> None:
        """Refuses a URL the transport cannot reach (the NATS client accepts nats:// instead)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise ValueError(f"not an http(s) URL: {url!r} ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")

    def _setup(
        self,
        url: str,
        timeout: float,
        headers: Mapping[str, str] | None,
        max_answer: int,
        max_connections: int,
        pool_timeout: float | None,
    ) -> None:
        self._check_url(url)
        if not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not isinstance(max_answer, int) or max_answer < 1:
            raise ValueError(f"max_answer must be a positive number of bytes, not {max_answer!r}")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        if pool_timeout is not None and (not isinstance(pool_timeout, (int, float)) or not pool_timeout >= 0):
            raise ValueError(f"pool_timeout must be None or a number of seconds >= 0, not {pool_timeout!r}")
        self.url = url
        self.timeout = timeout
        self.max_answer = max_answer
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self._headers = _lowered({"content-type": "application/json"}, headers)
        self._mock: Any = None  # a MockEvents scoped to this client (MockEvents(client)), if active

    def _prepare(
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
    ) -> _Call:
        """The call ``send_event`` was asked for, started for the observers if any."""
        observed = None
        if client_observers and self._real:  # they see the call, and may add headers and metadata
            id, flow_id = _ids(id, flow_id)
            observed = ClientCall(name, version, id, flow_id, self.url, _lowered({}, headers), dict(metadata or {}))
            client_started(observed)
            metadata, headers = observed.metadata, observed.headers
        try:
            body = _envelope(name, version, payload, id, flow_id, identity, auth, metadata)
        except BaseException as exc:
            if observed is not None:
                client_ended(observed, None, exc)
            raise
        mock = self._mock
        if mock is None and self._real:
            mock = _mock
        call_headers = _lowered(self._headers, headers) if headers else self._headers
        return _Call(
            self.url, body, call_headers, self.timeout if timeout is None else timeout, headers, mock, observed
        )

    def _answer(self, call: _Call, status: int, answer: bytes) -> ResponseEvent:
        """The answer moved for ``call``: a ResponseEvent, or a client-side failure."""
        if len(answer) > self.max_answer:  # a custom transport read it all: still refused
            raise _too_big(self.url, self.max_answer, f"{len(answer)} bytes", answer)
        if not 200 <= status < 300:
            raise FailedDependencyException(f"{self.url} answered HTTP {status}", status=status, body=answer)
        try:
            response = ResponseEvent.from_json(answer)
        except Exception as exc:
            raise BadProtocolException(
                f"{self.url} answered a body that is not a response event: {exc}", body=answer
            ) from None
        if call.observed is not None:
            client_ended(call.observed, response, None)
        return response
