"""The default async transport: an aiohttp keep-alive pool, one session per event loop.

aiohttp is imported when the transport is built, never by ``import fastevents``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from ._base import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_ANSWER,
    DEFAULT_MAX_CONNECTIONS,
    KEEPALIVE_EXPIRY,
    _Body,
    _TransportErrors,
)

__all__ = ["AiohttpTransport"]


async def _closed_with_loop(session: Any) -> AsyncGenerator[None, None]:
    """Keeps ``session`` open until closed: by ``aclose()``, or by ``loop.shutdown_asyncgens()``
    (run by ``asyncio.run``, ``asyncio.Runner`` and pytest-asyncio before they close a loop), on
    its own loop, the only one where its connections can be closed."""
    try:
        yield
    finally:
        await session.close()


class AiohttpTransport:
    """The default transport: an :mod:`aiohttp` keep-alive pool (faster than ``httpx.AsyncClient``
    with many requests in flight; docs/clients.md). A session belongs to the event loop it was
    opened on, so there is one per loop, closed by :meth:`aclose` or its loop's shutdown
    (:func:`_closed_with_loop`)."""

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
                length, encoding = response.content_length, response.headers.get("Content-Encoding")
                decoded = _Body(url, self._max_answer, length, encoding)
                if length is not None and encoding is None:  # within the cap, nothing to decode
                    return response.status, bytes(await response.read())
                async for chunk in response.content.iter_any():
                    decoded.feed(chunk)
                return response.status, decoded.finish()

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
