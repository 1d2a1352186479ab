"""The clients over their transports (see ``_base``'s docstring for the map)."""

from __future__ import annotations

from .._errors import EventConnectionError
from ._aiohttp import AiohttpTransport
from ._base import DEFAULT_MAX_ANSWER, DEFAULT_TIMEOUT, KEEPALIVE_EXPIRY, AsyncTransport, BaseClient, Transport
from ._clients import AsyncEventClient, EventClient
from ._httpx import HttpxSyncTransport, HttpxTransport

__all__ = [
    "DEFAULT_MAX_ANSWER",
    "DEFAULT_TIMEOUT",
    "KEEPALIVE_EXPIRY",
    "AiohttpTransport",
    "AsyncEventClient",
    "AsyncTransport",
    "BaseClient",
    "EventClient",
    "EventConnectionError",  # the command line imports it from here
    "HttpxSyncTransport",
    "HttpxTransport",
    "Transport",
]
