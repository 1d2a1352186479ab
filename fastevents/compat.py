"""The old ``events-protocol`` 0.2.4 API, for code that migrates by changing its imports.

Point every ``events_protocol...`` import at this module::

    from fastevents.compat import (CamelPydanticMixin, EventBuilder, EventHandler,
                                   EventProcessor, EventRegister, ResponseEvent)

What differs from 0.2.4 on purpose is listed in the README ("Migrating from events-protocol
0.2.4"). In short: the old package's behaviour, without its defects.

* :class:`Event`, :class:`RequestEvent` and :class:`ResponseEvent` are the fastevents classes
  with the old ``to_json()`` (text, not bytes), an ``event.user`` that is never ``None`` and
  ``ResponseEvent.from_event(event, event_type)``. Handlers registered here receive a
  :class:`RequestEvent` of this module; what they return is answered as fastevents does.
* :class:`EventBuilder` takes the old ``response_for(event, payload, event_type)``.
* :class:`EventContextHolder` takes the old ``with_context(id, flow_id, name, version)``.
* :class:`CamelPydanticMixin` is a :class:`fastevents.CamelStruct` with the old
  ``to_dict()``, ``to_json()``, ``from_json()`` and construction from camelCase keys.
* Registrations go to one module-level router, :data:`default_router`, and names must meet
  the old naming standard, checked against the whole name. Unlike the old package, a second
  registration of the same (name, version) raises instead of silently replacing the first.

New code should use :class:`fastevents.EventRouter` and :class:`fastevents.EventProcessor`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import msgspec

from . import _builder, _client, _context, _model, _processor
from ._context import EventContext
from ._errors import EventException, PayloadValidationError
from ._model import CamelStruct, RedirectPayload, User
from ._router import EventRouter
from ._wire import EventErrorType, EventFields, EventSuccessType, encode

if TYPE_CHECKING:
    from typing import Self

    import httpx  # the client imports it when one is built, not at import time

__all__ = [
    "AsyncEventHandler",
    "AsyncEventProcessor",
    "CamelPydanticMixin",
    "CamelStruct",
    "Event",
    "EventBuilder",
    "EventClient",
    "EventContext",
    "EventContextHolder",
    "EventDiscovery",
    "EventErrorType",
    "EventException",
    "EventFailedDependencyException",
    "EventHandler",
    "EventNotFoundException",
    "EventParsingException",
    "EventProcessor",
    "EventRegister",
    "EventSuccessType",
    "EventTimeoutException",
    "MessagebleEventException",
    "MissingEventInformationException",
    "RedirectPayload",
    "RequestEvent",
    "ResponseEvent",
    "User",
    "default_router",
]

#: Where ``EventRegister.register_event()`` and ``EventDiscovery.add`` register.
default_router = EventRouter(validate_names=True)


# --- events ---------------------------------------------------------------------------

E = TypeVar("E", bound=_model.Event)
_FIELDS = EventFields.__struct_fields__
_SLOTS = tuple(EventFields.__dict__[field] for field in _FIELDS)


def _rebuild(cls: type[E], event: _model.Event) -> E:
    """``event`` as a ``cls``, sharing its slots as they are (still undecoded when received)."""
    return cls(**{field: slot.__get__(event) for field, slot in zip(_FIELDS, _SLOTS, strict=True)})


class Event(_model.Event):
    """:class:`fastevents.Event` as 0.2.4 showed it: ``to_json()`` is text, ``user`` never ``None``."""

    def to_json(self) -> str:  # type: ignore[override]  # the old package's type
        """The canonical wire form, as text."""
        return encode(self).decode()

    @property
    def user(self) -> User:  # never None, as in 0.2.4
        """``identity.user`` as a :class:`~fastevents.compat.User`; ``User(None, None)`` without one."""
        return super().user or User(None, None)


class RequestEvent(Event, _model.RequestEvent):
    """An event sent to a handler."""


class ResponseEvent(Event, _model.ResponseEvent):
    """An answer; :meth:`from_event` takes the old ``event_type`` argument."""

    @classmethod
    def from_event(
        cls, event: _model.Event, event_type: EventSuccessType | EventErrorType | str = EventSuccessType.SUCCESS
    ) -> ResponseEvent:
        """The answer ``<name>:<event_type>`` to ``event``: its version, ids and payload.

        Unlike 0.2.4 the answer does not carry the request's ``identity``, ``auth`` or
        ``metadata``: answers never echo them.
        """
        answer = _rebuild(cls, event)
        answer.name = f"{event.name}:{event_type}"
        answer.identity, answer.auth, answer.metadata = {}, {}, {}
        return answer


class EventBuilder(_builder.EventBuilder):
    """:class:`fastevents.EventBuilder` whose answers are this module's :class:`ResponseEvent`."""

    @staticmethod
    def response_for(
        event: _model.Event,
        payload: Any = None,
        event_type: EventSuccessType | EventErrorType | str = EventSuccessType.SUCCESS,
        loggable: bool = True,
        *,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ResponseEvent:
        """``<name>:<event_type>`` (``<name>:response`` by default) carrying ``payload``.

        ``loggable`` is accepted for old call sites and ignored, as 0.2.4 ignored it.
        """
        answer = _builder.EventBuilder.response_for(event, payload, identity=identity, auth=auth, metadata=metadata)
        answer.name = f"{event.name}:{event_type}"
        return _rebuild(ResponseEvent, answer)

    @staticmethod
    def redirect_for(
        event: _model.Event,
        redirect: RedirectPayload | str,
        query_parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ResponseEvent:
        """``<name>:redirect`` (see :meth:`fastevents.EventBuilder.redirect_for`)."""
        return _rebuild(ResponseEvent, _builder.EventBuilder.redirect_for(event, redirect, query_parameters, **kwargs))

    @staticmethod
    def error_for(
        event: _model.Event | EventException, exception: EventException | _model.Event, *args: Any, **kwargs: Any
    ) -> ResponseEvent:
        """``<name>:<type>``, either argument order (see :meth:`fastevents.EventBuilder.error_for`).

        The old trailing ``id_flow`` and ``loggable`` arguments are accepted and ignored.
        """
        return _rebuild(ResponseEvent, _builder.EventBuilder.error_for(event, exception, **kwargs))


class EventContextHolder(_context.EventContextHolder):
    """:class:`fastevents.EventContextHolder`; ``with_context`` also takes the old arguments.

    ``with_context(event)`` makes an event current; the old
    ``with_context(id, flow_id, event_name, event_version, user_id=None, user_type=None)``
    makes current an event with those values (outgoing client calls then reuse ``id`` and
    ``flow_id``). Unlike 0.2.4, the outer context is restored when the block ends.
    """

    @staticmethod
    @contextlib.contextmanager
    def with_context(
        event: _model.Event | str | None,
        flow_id: str | None = None,
        event_name: str | None = None,
        event_version: int | None = None,
        user_id: Any = None,
        user_type: Any = None,
    ) -> Iterator[EventContext]:
        """Make ``event`` (or an event with the old arguments' values) current in a ``with`` block."""
        current = _context_event(event, flow_id, event_name, event_version, user_id, user_type)
        with _context.EventContextHolder.with_context(current) as context:
            yield context

    @staticmethod
    @contextlib.asynccontextmanager
    async def with_async_context(
        event: _model.Event | str | None,
        flow_id: str | None = None,
        event_name: str | None = None,
        event_version: int | None = None,
        user_id: Any = None,
        user_type: Any = None,
    ) -> AsyncIterator[EventContext]:
        """``with_context`` for ``async with``."""
        current = _context_event(event, flow_id, event_name, event_version, user_id, user_type)
        async with _context.EventContextHolder.with_async_context(current) as context:
            yield context


def _context_event(
    event: _model.Event | str | None,
    flow_id: str | None,
    event_name: str | None,
    event_version: int | None,
    user_id: Any,
    user_type: Any,
) -> _model.Event:
    if isinstance(event, _model.Event):
        return event
    identity = {"user": {"id": user_id, "type": user_type}} if user_id is not None or user_type is not None else {}
    # msgspec does not check types on construction: a missing name or version reads back as None.
    fields: dict[str, Any] = {"name": event_name, "version": event_version, "id": event, "flow_id": flow_id}
    return RequestEvent(**fields, identity=identity)


# --- schemas --------------------------------------------------------------------------


def _validation_error(name: str, kind: str, message: str) -> PayloadValidationError:
    return PayloadValidationError(
        parameters={"fields": [{"name": name, "errorType": kind, "message": message}]}, expected=True
    )


class _CamelMeta(msgspec.StructMeta):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        # Build from keyword arguments spelled either way (first_name= or firstName=), checked
        # and converted like a decoded payload: nested objects become their Structs.
        names, wire = cls.__struct_fields__, cls.__struct_encode_fields__
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes at most {len(names)} positional arguments")
        to_wire = dict(zip(names, wire, strict=True))
        data = dict(zip(wire, args, strict=False))
        for key, value in kwargs.items():
            key = to_wire.get(key, key)
            if key in data:
                raise TypeError(f"{cls.__name__} got multiple values for {key!r}")
            data[key] = value
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise PayloadValidationError.from_validation_error(exc) from None


def _plain(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return {
            key: _plain(getattr(value, name))
            for name, key in zip(value.__struct_fields__, value.__struct_encode_fields__, strict=True)
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class CamelPydanticMixin(CamelStruct, metaclass=_CamelMeta):
    """Base for payload schemas written for 0.2.4: a :class:`fastevents.CamelStruct` that
    also has the old ``to_dict()``, ``to_json()``, ``from_json()`` and ``from_object()``.

    Construction takes keyword arguments by attribute name or by camelCase key
    (``MySchema(**payload)``), and checks them: a mismatch raises
    :class:`fastevents.PayloadValidationError` (a ``badRequest`` answer when a handler lets
    it through), where 0.2.4 raised its own ``ValidationError``. Values are not coerced
    (``1`` is no ``str``), except numbers sent as text.
    """

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain values, keyed as on the wire (camelCase); nested schemas too."""
        return cast("dict[str, Any]", _plain(self))

    def to_json(self) -> str:
        """The schema as JSON text, keyed as on the wire."""
        return encode(self).decode()

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """Read JSON text; raise :class:`fastevents.PayloadValidationError` if it does not fit."""
        try:
            value = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise _validation_error("json", "invalid", str(exc)) from None
        if not isinstance(value, dict):
            raise _validation_error("", "type", f"Expected `object`, got `{type(value).__name__}`")
        return cls(**value)

    @classmethod
    def from_object(cls, obj: CamelPydanticMixin) -> Self:
        """Another schema's values, as this schema."""
        return cls(**obj.to_dict())


# --- exceptions -----------------------------------------------------------------------


class MessagebleEventException(EventException):
    """An :class:`~fastevents.EventException` built from one message: ``parameters`` is
    ``{"message": message}`` (the old package's spelling of the name is kept)."""

    def __init__(
        self,
        message: str | None = None,
        parameters: dict[str, Any] | None = None,
        *,
        type: EventErrorType | str | None = None,
        expected: bool = False,
    ) -> None:
        if isinstance(message, dict) and parameters is None:  # EventException(parameters) style
            message, parameters = None, message
        if parameters is None and message is not None:
            parameters = {"message": message}
        super().__init__(None, parameters, type=type, expected=expected)


class EventNotFoundException(MessagebleEventException):
    code = "EVENT_NOT_FOUND"
    type = EventErrorType.NOT_FOUND


class MissingEventInformationException(EventException):
    code = "MISSING_FIELDS"
    type = EventErrorType.BAD_REQUEST


class EventParsingException(EventException):
    code = "INVALID_COMMUNICATION_PROTOCOL"
    type = EventErrorType.BAD_PROTOCOL


class EventFailedDependencyException(MessagebleEventException):
    code = "FAILED_DEPENDENCY"


class EventTimeoutException(MessagebleEventException):
    code = "EVENT_TIMEOUT"


# --- handlers and registration -----------------------------------------------------------


class EventHandler:
    """Old-style handler: ``handle`` is a classmethod taking the event; ``_SCHEMA`` types it."""

    _SCHEMA: ClassVar[Any] = None

    @classmethod
    def handle(cls, event: RequestEvent) -> Any:
        raise NotImplementedError(f"{cls.__name__}.handle")

    @classmethod
    def parse_event(cls, event: _model.Event) -> Any:
        """The payload decoded into ``_SCHEMA``; a ``badRequest`` answer when it does not match."""
        return event.payload_as(cls._SCHEMA) if cls._SCHEMA is not None else event.payload


class AsyncEventHandler(EventHandler):
    """Old-style handler whose ``handle`` is ``async``."""


def _answer(result: Any) -> Any:
    # This module's events write text; the dispatch cores send an Event's bytes.
    return _rebuild(_model.ResponseEvent, result) if isinstance(result, Event) else result


def _route(handle: Callable[[RequestEvent], Any]) -> Callable[[_model.Event], Any]:
    """``handle`` as a route: it gets a :class:`RequestEvent` of this module."""
    if inspect.iscoroutinefunction(handle):

        async def route_async(event: _model.Event) -> Any:
            return _answer(await handle(_rebuild(RequestEvent, event)))

        return route_async

    def route(event: _model.Event) -> Any:
        result = handle(_rebuild(RequestEvent, event))
        if inspect.isawaitable(result):  # a sync function that returns an awaitable

            async def later() -> Any:
                return _answer(await result)

            return later()
        return _answer(result)

    return route


class EventDiscovery:
    """The old registry interface over :data:`default_router`."""

    _handlers: ClassVar[dict[tuple[str, int], type[EventHandler]]] = {}

    @classmethod
    def add(cls, event_name: str, event_handler: type[EventHandler], version: int = 1) -> None:
        if not (isinstance(event_handler, type) and issubclass(event_handler, EventHandler)):
            raise TypeError("event_handler must be an EventHandler subclass")
        default_router.add(event_name, version, _route(event_handler.handle))
        cls._handlers[(event_name, version)] = event_handler

    @classmethod
    def get(cls, event_name: str, version: int = 1) -> type[EventHandler]:
        handler = cls._handlers.get((event_name, version))
        if handler is None:
            raise EventNotFoundException(f"Event Name {event_name} of version {version} was not found")
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

    def __init__(
        self,
        url: str,
        timeout: float = _client.DEFAULT_TIMEOUT * 1000,
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(url, timeout / 1000, headers=headers, client=client)
        self._seconds = timeout / 1000
        self.timeout = timeout

    def send_event(
        self,
        name: str,
        version: int,
        payload: Any = None,
        id: str | None = None,
        flow_id: str | None = None,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResponseEvent:
        """Send one event; ``timeout`` in milliseconds (default: the client's). The
        arguments may be positional, in the old order (``id`` and ``flow_id`` after ``payload``)."""
        return _rebuild(
            ResponseEvent,
            super().send_event(
                name,
                version,
                payload,
                id=id,
                flow_id=flow_id,
                identity=identity,
                auth=auth,
                metadata=metadata,
                timeout=self._seconds if timeout is None else timeout / 1000,
                headers=headers,
            ),
        )

    def __repr__(self) -> str:
        return f"<compat.EventClient {self.url} timeout={self.timeout} ms>"
