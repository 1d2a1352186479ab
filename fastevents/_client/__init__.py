"""The clients over their transports: ``_base`` holds what every client shares, ``_clients``
the sync and async clients, ``_httpx``, ``_aiohttp`` and ``_sync_transport`` the transports,
which import their library when first built, never by ``import fastevents``."""

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
