"""Clients: send one event over HTTP, get a :class:`ResponseEvent` back (docs/protocol.md §3, §4)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import monotonic as _monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx
import msgspec

from ._context import current_event
from ._errors import (
    BadProtocolException,
    EventClientError,
    EventConnectionError,
    FailedDependencyException,
    TimeoutException,
)
from ._model import ResponseEvent
from ._wire import fresh_id

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "AiohttpTransport",
    "AsyncEventClient",
    "AsyncTransport",
    "EventClient",
    "EventConnectionError",
    "HttpxTransport",
]

DEFAULT_TIMEOUT = 15.0
_JSON = "application/json"


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


_encode = msgspec.json.Encoder().encode
_EMPTY: dict[str, Any] = {}

#: The active ``fastevents.testing.MockEvents``, if any: it answers every client's calls
#: in place of the network. One global check per call, ``None`` outside tests.
_mock: Any = None


def _envelope(name: str, version: int, payload: Any, id: str | None, flow_id: str | None,
              identity: Any, auth: Any, metadata: Any) -> bytes:
    """The request body: explicit ids win, else the current event's, else fresh UUIDs."""
    if id is None or flow_id is None:
        event = current_event.get()
        if event is not None:
            if id is None:
                id = event.id
            if flow_id is None:
                flow_id = event.flow_id
        if id is None:
            id = fresh_id()
        if flow_id is None:
            flow_id = fresh_id()
    return _encode(_Outgoing(
        name, version, id, flow_id,
        _EMPTY if payload is None else payload,
        _EMPTY if identity is None else identity,
        _EMPTY if auth is None else auth,
        _EMPTY if metadata is None else metadata,
    ))


def _answer(url: str, status: int, body: bytes) -> ResponseEvent:
    """Classify one HTTP answer: a ResponseEvent, or a client-side failure."""
    if not 200 <= status < 300:
        raise FailedDependencyException(f"{url} answered HTTP {status}", status=status, body=body)
    try:
        return ResponseEvent.from_json(body)
    except Exception as exc:
        raise BadProtocolException(f"{url} answered a body that is not a response event: {exc}",
                                   body=body) from None


def _parse_url(url: str) -> httpx.URL:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return parsed


def _base_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    merged = {"content-type": _JSON}
    if headers:
        merged.update({k.lower(): v for k, v in headers.items()})
    return merged


def _with(base: dict[str, str] | None, extra: Mapping[str, str]) -> dict[str, str]:
    merged = dict(base) if base else {}
    merged.update({k.lower(): v for k, v in extra.items()})
    return merged


class EventClient:
    """Sends events over a pooled :class:`httpx.Client` (keep-alive connections).

    ``timeout`` is in seconds. ``headers`` are sent with every event. Pass ``client`` to use
    your own ``httpx.Client`` (proxies, TLS, auth...): it is used as is and not closed by
    :meth:`close`. Use as a context manager, or call :meth:`close`.

    :meth:`send_event` returns a :class:`ResponseEvent` for every protocol answer, errors
    included, and raises :class:`TimeoutException`, :class:`FailedDependencyException`
    (non-2xx), :class:`BadProtocolException` (unreadable answer) or
    :class:`EventConnectionError`, all :class:`EventClientError`.
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, *,
                 headers: Mapping[str, str] | None = None, client: httpx.Client | None = None) -> None:
        self.url = url
        # Parsed once: httpx parses a str URL again on every request (about 13 us here).
        self._url = _parse_url(url)
        self.timeout = timeout
        self._owns_client = client is None
        if client is None:
            self._client = httpx.Client(timeout=timeout, headers=_base_headers(headers))
            self._headers: dict[str, str] | None = None
            self._timeout: Any = httpx.USE_CLIENT_DEFAULT
        else:
            self._client = client
            self._headers = _base_headers(headers)
            self._timeout = timeout

    def send_event(self, name: str, version: int, payload: Any = None, *, id: str | None = None,
                   flow_id: str | None = None, identity: dict[str, Any] | None = None,
                   auth: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
                   timeout: float | None = None,
                   headers: Mapping[str, str] | None = None) -> ResponseEvent:
        """Send one event and return the answer (see the class docstring for failures)."""
        body = _envelope(name, version, payload, id, flow_id, identity, auth, metadata)
        if _mock is not None:
            return _mock.answer(self.url, body, headers)  # type: ignore[no-any-return]
        call_headers = self._headers
        if headers:
            call_headers = _with(call_headers, headers)
        limit = self.timeout if timeout is None else timeout
        # httpx applies a timeout to each connect/write/read on its own, so a server sending
        # one byte at a time could hold a call for ever: the total is enforced here.
        deadline = _monotonic() + limit
        client = self._client
        try:
            request = client.build_request(
                "POST", self._url, content=body, headers=call_headers,
                timeout=self._timeout if timeout is None else timeout,
            )
            response = client.send(request, stream=True)
            try:
                left = deadline - _monotonic()
                if left <= 0:
                    raise httpx.ReadTimeout("deadline passed", request=request)
                if left < limit - 0.001:
                    # httpx reads the body's read timeout from here when the body starts:
                    # each read may only take the time left (the total, give or take 1 ms).
                    request.extensions["timeout"] = {"connect": left, "read": left, "write": left, "pool": left}
                chunks = []
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    if _monotonic() > deadline:
                        raise httpx.ReadTimeout("deadline passed", request=request)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise TimeoutException(f"no answer from {self.url} in {limit} s: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise EventConnectionError(f"cannot reach {self.url}: {exc!r}") from exc
        return _answer(self.url, response.status_code, chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self) -> None:
        """Close the connection pool (unless the ``httpx.Client`` was given to us)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EventClient {self.url} timeout={self.timeout}>"


# --- async ------------------------------------------------------------------------------


@runtime_checkable
class AsyncTransport(Protocol):
    """How :class:`AsyncEventClient` moves bytes: one POST, answered with (status, body).

    ``send`` raises :class:`TimeoutException` when ``timeout`` (seconds) runs out and an
    :class:`EventClientError` (e.g. :class:`EventConnectionError`) when no answer comes;
    ``aclose`` releases its connections.
    """

    async def send(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout: float) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """The default transport: an :mod:`aiohttp` session with a keep-alive pool.

    Measured several times faster than ``httpx.AsyncClient`` with many requests in flight.
    The session is created on first use, inside the running event loop, and belongs to that
    loop: used from another loop (``asyncio.run`` twice, one loop per test), the old session
    is dropped and a new one opened on the running loop.
    """

    def __init__(self, *, limit: int = 100) -> None:
        import aiohttp  # imported here: only the async client needs it

        self._aiohttp = aiohttp
        self._limit = limit
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, Any] = {}

    def _open(self, loop: asyncio.AbstractEventLoop) -> Any:
        if self._session is not None:
            self._drop()
        aiohttp = self._aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._limit),
            auto_decompress=True,
        )
        self._loop = loop
        return self._session

    def _drop(self) -> None:
        """Let go of a session whose loop is not the running one, without awaiting it.

        Its connections belong to the other loop, usually closed already (nothing can run
        there any more). The session is detached from its connector, so it counts as
        closed (no "Unclosed client session"), and the connector is closed synchronously:
        on a closed loop that only forgets its connections, on an open one it closes them.
        """
        session, loop = self._session, self._loop
        self._session = self._loop = None
        connector = session.connector
        session.detach()
        close = getattr(connector, "_close", None)  # aiohttp's synchronous close
        if close is None:
            return
        if loop is not None and loop.is_running() and not loop.is_closed():
            # Alive in another thread: its connections are closed on that thread.
            try:
                loop.call_soon_threadsafe(close)
                return
            except RuntimeError:  # pragma: no cover - closed in the meantime
                pass
        if loop is not None and loop.is_closed():
            _close_dead_sockets(connector)
        try:
            close()
        except Exception:  # pragma: no cover - best effort: the loop is gone
            pass

    async def send(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout: float) -> tuple[int, bytes]:
        session = self._session
        loop = asyncio.get_running_loop()
        if session is None or loop is not self._loop:
            session = self._open(loop)
        client_timeout = self._timeouts.get(timeout)
        if client_timeout is None:
            client_timeout = self._aiohttp.ClientTimeout(total=timeout)
            if len(self._timeouts) < 16:
                self._timeouts[timeout] = client_timeout
        try:
            async with session.post(url, data=body, headers=headers, timeout=client_timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # includes aiohttp's ServerTimeoutError
            raise TimeoutException(f"no answer from {url} in {timeout} s") from exc
        except (self._aiohttp.ClientError, OSError) as exc:
            raise EventConnectionError(f"cannot reach {url}: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._session is None:
            return
        if self._loop is not asyncio.get_running_loop():
            self._drop()  # opened on another loop: cannot be awaited here
            return
        session = self._session
        self._session = self._loop = None
        await session.close()


def _close_dead_sockets(connector: Any) -> None:
    """Close the sockets of a connector whose event loop is closed (best effort).

    ``transport.close()`` needs the loop, so an asyncio transport left on a closed loop keeps
    its socket open until garbage collection (an "unclosed transport" ResourceWarning).
    ``_call_connection_lost`` is what the loop would have run: it closes the socket now.
    """
    protocols = [proto for idle in getattr(connector, "_conns", {}).values() for proto, _ in idle]
    protocols.extend(getattr(connector, "_acquired", ()))
    for proto in protocols:
        transport = getattr(proto, "transport", None)
        lost = getattr(transport, "_call_connection_lost", None)
        if lost is None:
            continue
        try:
            lost(None)
        except Exception:  # connection_lost may touch the dead loop; the socket is closed anyway
            pass


class HttpxTransport:
    """A transport over an ``httpx.AsyncClient`` (yours: used as is, never closed by us)."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def send(self, url: str, body: bytes, headers: Mapping[str, str],
                   timeout: float) -> tuple[int, bytes]:
        try:
            # httpx times each connect/write/read on its own; the protocol's timeout is a total.
            async with asyncio.timeout(timeout):
                response = await self._client.post(url, content=body, headers=headers, timeout=timeout)
        except TimeoutError as exc:  # asyncio.timeout's
            raise TimeoutException(f"no answer from {url} in {timeout} s") from exc
        except httpx.TimeoutException as exc:
            raise TimeoutException(f"no answer from {url} in time: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise EventConnectionError(f"cannot reach {url}: {exc!r}") from exc
        return response.status_code, response.content

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _default_transport() -> AsyncTransport:
    try:
        return AiohttpTransport()
    except ImportError:  # pragma: no cover - aiohttp is a dependency; a stripped install falls back
        return HttpxTransport()


class AsyncEventClient:
    """The asynchronous twin of :class:`EventClient`: same arguments, ``await send_event(...)``.

    Bytes travel through a pluggable :class:`AsyncTransport`: by default an aiohttp
    keep-alive pool (:class:`AiohttpTransport`); ``client=httpx.AsyncClient(...)`` uses yours
    through :class:`HttpxTransport` (not closed by us); ``transport=`` takes any object with
    ``async send(url, body, headers, timeout) -> (status, body)`` and ``async aclose()``
    (closed by us only when we created it). Use ``async with``, or ``await aclose()``.
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT, *,
                 headers: Mapping[str, str] | None = None, client: httpx.AsyncClient | None = None,
                 transport: AsyncTransport | None = None) -> None:
        if client is not None and transport is not None:
            raise ValueError("pass either client or transport, not both")
        _parse_url(url)
        self.url = url
        self.timeout = timeout
        self._headers = _base_headers(headers)
        self._owns_transport = client is None and transport is None
        if transport is None:
            transport = HttpxTransport(client) if client is not None else _default_transport()
        self.transport: AsyncTransport = transport

    async def send_event(self, name: str, version: int, payload: Any = None, *, id: str | None = None,
                         flow_id: str | None = None, identity: dict[str, Any] | None = None,
                         auth: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
                         timeout: float | None = None,
                         headers: Mapping[str, str] | None = None) -> ResponseEvent:
        """Send one event and return the answer; failures as for :class:`EventClient`."""
        body = _envelope(name, version, payload, id, flow_id, identity, auth, metadata)
        if _mock is not None:
            return await _mock.answer_async(self.url, body, headers)  # type: ignore[no-any-return]
        call_headers = _with(self._headers, headers) if headers else self._headers
        url = self.url
        limit = self.timeout if timeout is None else timeout
        try:
            status, answer = await self.transport.send(url, body, call_headers, limit)
        except EventClientError:
            raise
        except TimeoutError as exc:  # a custom transport that did not translate it
            raise TimeoutException(f"no answer from {url} in {limit} s") from exc
        except OSError as exc:
            raise EventConnectionError(f"cannot reach {url}: {exc!r}") from exc
        return _answer(url, status, answer)

    async def aclose(self) -> None:
        """Close the transport (unless it, or the ``httpx.AsyncClient``, was given to us)."""
        if self._owns_transport:
            await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncEventClient {self.url} timeout={self.timeout} via {type(self.transport).__name__}>"
