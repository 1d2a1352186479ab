"""fastevents: a fast, strict implementation of the events protocol.

Envelopes are msgspec Structs decoded in one pass; dispatch runs on a compiled core (with a
pure-Python twin, ``FASTEVENTS_NO_EXTENSIONS=1``); clients pool their connections.
The clients load on first use (PEP 562 ``__getattr__``): ``import fastevents`` imports
neither httpx nor aiohttp, so a server that never sends pays nothing for them.
"""

from typing import TYPE_CHECKING, Any

from ._asgi import asgi_app
from ._builder import EventBuilder
from ._context import EventContext, EventContextHolder
from ._errors import (
    BadProtocolException,
    EventClientError,
    EventConnectionError,
    EventException,
    FailedDependencyException,
    InvalidEnvelopeError,
    PayloadValidationError,
    TimeoutException,
)
from ._impl import COMPILED
from ._logfilter import EventContextFilter
from ._model import CamelStruct, Event, RedirectPayload, RequestEvent, ResponseEvent
from ._observe import (
    ClientCall,
    ClientObserver,
    EventCall,
    EventObserver,
    add_client_observer,
    add_observer,
    remove_client_observer,
    remove_observer,
)
from ._processor import EventProcessor
from ._router import DuplicateEventError, EventHandler, EventRouter
from ._version import __version__ as __version__
from ._wire import EventErrorType, EventSuccessType

if TYPE_CHECKING:
    from ._client import AsyncEventClient, AsyncTransport, EventClient

_CLIENT_NAMES = frozenset({"AsyncEventClient", "AsyncTransport", "EventClient"})


def __getattr__(name: str) -> Any:
    """The clients, imported on first use (with httpx or aiohttp only when one is built)."""
    if name in _CLIENT_NAMES:
        from . import _client

        value = getattr(_client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_CLIENT_NAMES})


__all__ = [
    "add_client_observer",
    "add_observer",
    "ClientCall",
    "ClientObserver",
    "EventCall",
    "EventObserver",
    "remove_client_observer",
    "remove_observer",
    "asgi_app",
    "AsyncEventClient",
    "AsyncTransport",
    "BadProtocolException",
    "CamelStruct",
    "COMPILED",
    "DuplicateEventError",
    "Event",
    "EventBuilder",
    "EventClient",
    "EventClientError",
    "EventConnectionError",
    "EventContext",
    "EventContextFilter",
    "EventContextHolder",
    "EventErrorType",
    "EventException",
    "EventHandler",
    "EventProcessor",
    "EventRouter",
    "EventSuccessType",
    "FailedDependencyException",
    "InvalidEnvelopeError",
    "PayloadValidationError",
    "RedirectPayload",
    "RequestEvent",
    "ResponseEvent",
    "TimeoutException",
]
