"""The clients: :class:`EventClient` (sync) and :class:`AsyncEventClient` over pluggable transports.

httpx and aiohttp are imported when a client is first built, never by ``import fastevents``.
"""

from __future__ import annotations

from ._base import (
    DEFAULT_MAX_ANSWER,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    KEEPALIVE_EXPIRY,
    AiohttpTransport,
    AsyncEventClient,
    AsyncTransport,
    EventClient,
    EventConnectionError,
    HttpxTransport,
)

__all__ = [
    "DEFAULT_MAX_ANSWER",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TIMEOUT",
    "KEEPALIVE_EXPIRY",
    "AiohttpTransport",
    "AsyncEventClient",
    "AsyncTransport",
    "EventClient",
    "EventConnectionError",
    "HttpxTransport",
]
