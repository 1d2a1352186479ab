"""The old ``events-protocol`` package's registration style, for migrating code.

Code written for ``events-protocol`` 0.2.4 runs with its imports pointed here and its
schema base class changed from ``CamelPydanticMixin`` to :class:`fastevents.CamelStruct`::

    from fastevents.compat import (EventBuilder, EventHandler, EventProcessor,
                                   EventRegister, ResponseEvent)

Registrations go to one module-level router, :data:`default_router`, and names must meet
the old naming standard, checked against the whole name. Unlike the old package, a second
registration of the same (name, version) raises instead of silently replacing the first.
New code should use :class:`fastevents.EventRouter` and :class:`fastevents.EventProcessor`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from . import _client, _processor
from ._builder import EventBuilder
from ._context import EventContext, EventContextHolder
from ._errors import EventException
from ._model import (
    CamelStruct,
    Event,
    EventErrorType,
    EventSuccessType,
    RedirectPayload,
    RequestEvent,
    ResponseEvent,
)
from ._router import EventRouter

if TYPE_CHECKING:
    import httpx  # the client imports it when one is built, not at import time

__all__ = [
    "AsyncEventHandler",
    "AsyncEventProcessor",
    "CamelStruct",
    "Event",
    "EventBuilder",
    "EventClient",
    "EventContext",
    "EventContextHolder",
    "EventDiscovery",
    "EventErrorType",
    "EventException",
    "EventHandler",
    "EventNotFoundException",
    "EventProcessor",
    "EventRegister",
    "EventSuccessType",
    "MissingEventInformationException",
    "RedirectPayload",
    "RequestEvent",
    "ResponseEvent",
    "default_router",
]

#: Where ``EventRegister.register_event()`` and ``EventDiscovery.add`` register.
default_router = EventRouter(validate_names=True)


class EventNotFoundException(EventException):
    code = "EVENT_NOT_FOUND"
    type = EventErrorType.NOT_FOUND


class MissingEventInformationException(EventException):
    code = "MISSING_FIELDS"
    type = EventErrorType.BAD_REQUEST


class EventHandler:
    """Old-style handler: ``handle`` is a classmethod taking the event; ``_SCHEMA`` types it."""

    _SCHEMA: ClassVar[Any] = None

    @classmethod
    def handle(cls, event: RequestEvent) -> Any:
        raise NotImplementedError(f"{cls.__name__}.handle")

    @classmethod
    def parse_event(cls, event: Event) -> Any:
        """The payload decoded into ``_SCHEMA``; a ``badRequest`` answer when it does not match."""
        return event.payload_as(cls._SCHEMA) if cls._SCHEMA is not None else event.payload


class AsyncEventHandler(EventHandler):
    """Old-style handler whose ``handle`` is ``async``."""


class EventDiscovery:
    """The old registry interface over :data:`default_router`."""

    _handlers: ClassVar[dict[tuple[str, int], type[EventHandler]]] = {}

    @classmethod
    def add(cls, event_name: str, event_handler: type[EventHandler], version: int = 1) -> None:
        if not (isinstance(event_handler, type) and issubclass(event_handler, EventHandler)):
            raise TypeError("event_handler must be an EventHandler subclass")
        default_router.add(event_name, version, event_handler.handle)
        cls._handlers[(event_name, version)] = event_handler

    @classmethod
    def get(cls, event_name: str, version: int = 1) -> type[EventHandler]:
        handler = cls._handlers.get((event_name, version))
        if handler is None:
            raise EventNotFoundException(
                parameters={"message": f"Event Name {event_name} of version {version} was not found"}
            )
        return handler


class EventRegister:
    """Subclass with ``event_name``, ``event_version`` and ``event_handler``, then call
    ``register_event()`` at start-up."""

    event_name: ClassVar[str]
    event_version: ClassVar[int | None] = 1
    event_handler: ClassVar[type[EventHandler]]

    @classmethod
    def register_event(cls) -> None:
        EventDiscovery.add(cls.event_name, cls.event_handler, cls.event_version or 1)


_processor_instance: _processor.EventProcessor | None = None


def _default_processor() -> _processor.EventProcessor:
    global _processor_instance
    if _processor_instance is None:
        _processor_instance = _processor.EventProcessor(default_router)
    return _processor_instance


class EventProcessor:
    """``EventProcessor.process_event(body)``: the old class-level call, text in, text out."""

    @classmethod
    def process_event(cls, raw_event: str | bytes) -> str:
        return _default_processor().process_event(raw_event).decode()


class AsyncEventProcessor:
    """``await AsyncEventProcessor.process_event(body)``, for ``async`` handlers."""

    @classmethod
    async def process_event(cls, raw_event: str | bytes) -> str:
        return (await _default_processor().process_event_async(raw_event)).decode()


class EventClient(_client.EventClient):
    """The old package's client: like :class:`fastevents.EventClient`, but every ``timeout``
    (the constructor's and :meth:`send_event`'s) is in **milliseconds**, as it was in
    ``events-protocol``: ``send_event(..., timeout=1000)`` waits one second, not 1000.

    The default is fastevents' 15 s (15000 ms), not the old 60000. ``timeout`` reads back in
    milliseconds. New code should use :class:`fastevents.EventClient` (seconds).
    """

    def __init__(self, url: str, timeout: float = _client.DEFAULT_TIMEOUT * 1000, *,
                 headers: Mapping[str, str] | None = None, client: httpx.Client | None = None) -> None:
        super().__init__(url, timeout / 1000, headers=headers, client=client)
        self._seconds = timeout / 1000
        self.timeout = timeout

    def send_event(self, name: str, version: int, payload: Any = None, *, id: str | None = None,
                   flow_id: str | None = None, identity: dict[str, Any] | None = None,
                   auth: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
                   timeout: float | None = None,
                   headers: Mapping[str, str] | None = None) -> ResponseEvent:
        """Send one event; ``timeout`` in milliseconds (default: the client's)."""
        return super().send_event(
            name, version, payload, id=id, flow_id=flow_id, identity=identity, auth=auth,
            metadata=metadata, timeout=self._seconds if timeout is None else timeout / 1000,
            headers=headers,
        )

    def __repr__(self) -> str:
        return f"<compat.EventClient {self.url} timeout={self.timeout} ms>"
