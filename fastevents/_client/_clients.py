"""The clients: :class:`EventClient` (threads) and :class:`AsyncEventClient` (event loops), each
a :class:`~fastevents._client._base.BaseClient` with its own connection slots and transports.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._model import ResponseEvent
from ._base import (
    DEFAULT_MAX_ANSWER,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    AsyncTransport,
    BaseClient,
    Transport,
    _Call,
    _queue_timeout,
)

if TYPE_CHECKING:
    from typing import Self

    import httpx

__all__ = ["AsyncEventClient", "EventClient"]


class EventClient(BaseClient):
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
    dripping headers is bounded by the per-read timeout). ``transport=`` takes any object with
    ``send(url, body, headers, timeout) -> (status, body)`` and ``close()`` (not closed by us).

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
        transport: Transport | None = None,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float | None = None,
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("pass either client or transport, not both")
        self._setup(url, timeout, headers, max_answer, max_connections, pool_timeout)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._owns_transport = transport is None
        if transport is None:
            from ._httpx import HttpxSyncTransport

            transport = HttpxSyncTransport(
                client, timeout=timeout, headers=self._headers, max_answer=max_answer, max_connections=max_connections
            )
        self.transport: Transport = transport

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
        return self._send(
            self._prepare(name, version, payload, id, flow_id, identity, auth, metadata, timeout, headers)
        )

    def _send(self, call: _Call) -> ResponseEvent:
        """The call answered by its mock, or moved by the transport within a connection slot."""
        with call:
            if call.mock is not None:
                answered = call.mock.answer(self.url, call.body, call.asked)
            else:
                slots = self._slots
                if not slots.acquire(blocking=False):
                    wait = call.limit if self.pool_timeout is None else self.pool_timeout
                    if not slots.acquire(timeout=wait):
                        raise _queue_timeout(self.url, wait, self.max_connections)
                try:
                    answered = self.transport.send(self.url, call.body, call.headers, call.limit)
                finally:
                    slots.release()
            return self._answer(call, *answered)

    def close(self) -> None:
        """Close the connection pool (unless the ``httpx.Client`` or the transport was given to us)."""
        if self._owns_transport:
            self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<EventClient {self.url} timeout={self.timeout}>"


# --- async ------------------------------------------------------------------------------


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


class AsyncEventClient(BaseClient):
    """The asynchronous twin of :class:`EventClient`: same arguments, ``await send_event(...)``.

    Bytes travel through a pluggable :class:`AsyncTransport`: by default an aiohttp
    keep-alive pool (:class:`AiohttpTransport`); ``client=httpx.AsyncClient(...)`` uses yours
    through :class:`HttpxTransport` (not closed by us); ``transport=`` takes any object with
    ``async send(url, body, headers, timeout) -> (status, body)`` and ``async aclose()``
    (closed by us only when we created it). Use ``async with``, or ``await aclose()``.

    The queue for connections (``max_connections``, ``pool_timeout``) is the client's own, in
    front of any transport, one per event loop: the client works from several loops (one at a
    time or at once), each with its own queue and, with the default transport, its own session.
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
        self._setup(url, timeout, headers, max_answer, max_connections, pool_timeout)
        self._owns_transport = client is None and transport is None
        if transport is None and client is None:
            with contextlib.suppress(ImportError):  # aiohttp is a dependency; a stripped install uses httpx
                from ._aiohttp import AiohttpTransport

                transport = AiohttpTransport(limit=max_connections, max_answer=max_answer)
        if transport is None:  # over your httpx.AsyncClient, or a new one
            from ._httpx import HttpxTransport

            transport = HttpxTransport(client, max_answer=max_answer, max_connections=max_connections)
        self.transport: AsyncTransport = transport
        self._queues: dict[asyncio.AbstractEventLoop, _Slots] = {}
        # The last loop used and its slots, read as one value (loops may run in threads).
        self._current: tuple[asyncio.AbstractEventLoop | None, _Slots] = (None, _Slots(0))

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
        """Send one event and return the answer, as :meth:`EventClient.send_event` does."""
        return await self._send(
            self._prepare(name, version, payload, id, flow_id, identity, auth, metadata, timeout, headers)
        )

    async def _send(self, call: _Call) -> ResponseEvent:
        """The call answered by its mock, or moved by the transport within a slot of the running loop."""
        with call:
            if call.mock is not None:
                answered = await call.mock.answer_async(self.url, call.body, call.asked)
            else:
                loop = asyncio.get_running_loop()
                current, slots = self._current
                if current is not loop:
                    slots = self._slots(loop)
                if slots.free:
                    slots.free -= 1
                else:
                    wait = call.limit if self.pool_timeout is None else self.pool_timeout
                    if not await slots.wait(wait):
                        raise _queue_timeout(self.url, wait, self.max_connections)
                try:
                    answered = await self.transport.send(self.url, call.body, call.headers, call.limit)
                finally:
                    slots.release()
            return self._answer(call, *answered)

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
