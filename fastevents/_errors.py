"""Exceptions: the ones handlers raise to answer with an error event, and the client's.

::

    ValueError
     └── InvalidEnvelopeError          bytes that are no envelope (Event.from_json)
    Exception
     ├── EventException                raised by a handler: answered <name>:<type>
     │    └── PayloadValidationError   the payload does not match the schema: badRequest
     └── EventClientError              a client got no protocol answer
          ├── EventConnectionError     unreachable, or the connection broke
          ├── TimeoutException         no answer in time
          ├── FailedDependencyException  a non-2xx HTTP status (3xx included)
          └── BadProtocolException     an answer that is no response event
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import msgspec

from ._wire import EventErrorType

__all__ = [
    "BadProtocolException",
    "EventClientError",
    "EventConnectionError",
    "EventException",
    "FailedDependencyException",
    "InvalidEnvelopeError",
    "PayloadValidationError",
    "TimeoutException",
]


class InvalidEnvelopeError(ValueError):
    """The bytes are not an events-protocol envelope."""

    def __init__(self, property_name: str | None, message: str) -> None:
        self.property_name = property_name
        self.message = message
        super().__init__(f"{property_name}: {message}" if property_name else message)


def _error_type(value: Any) -> EventErrorType | str:
    if isinstance(value, EventErrorType):
        return value
    text = str(value)
    found = EventErrorType.from_suffix(text)
    return text if found is EventErrorType.UNKNOWN else found


class EventException(Exception):
    """Raise from a handler to answer ``<name>:<type>`` with ``{"code", "parameters"}``.

    ``code`` and ``type`` come from the arguments, else from the class attributes
    ``code``/``type`` (or the old package's ``_CODE``/``_TYPE``), else ``GENERIC_ERROR`` and
    :attr:`EventErrorType.GENERIC`. ``expected=True`` marks an outcome that is part of
    normal operation: it is logged at INFO instead of WARNING.
    """

    code: str = ""
    type: EventErrorType | str = ""
    _CODE: ClassVar[str | None] = None
    _TYPE: ClassVar[EventErrorType | str | None] = None

    def __init__(
        self,
        code: str | None = None,
        parameters: dict[str, Any] | None = None,
        *,
        type: EventErrorType | str | None = None,
        expected: bool = False,
    ) -> None:
        cls = self.__class__
        if parameters is None and isinstance(code, dict):  # the old package's EventException(parameters)
            code, parameters = None, code
        self.code = code or cls.code or cls._CODE or "GENERIC_ERROR"
        self.type = _error_type(type or cls.type or cls._TYPE or EventErrorType.GENERIC)
        self.parameters: dict[str, Any] = dict(parameters) if parameters else {}
        self.expected = expected
        super().__init__(self.code)

    @property
    def event_error_type(self) -> EventErrorType | str:
        """The old package's name for :attr:`type`."""
        return self.type

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(code={self.code!r}, parameters={self.parameters!r}, "
            f"type={str(self.type)!r}, expected={self.expected!r})"
        )


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD = re.compile(r"^Object (?:(?P<missing>missing required)|contains unknown) field `(?P<field>[^`]*)`")


def field_error(exc: msgspec.ValidationError) -> dict[str, str]:
    """One ``{"name", "errorType", "message"}`` entry from a msgspec validation error."""
    message = str(exc)
    match = _AT.search(message)
    path = match.group("path").lstrip(".") if match else ""
    text = message[: match.start()] if match else message
    field = _FIELD.match(text)
    if field:
        kind = "missing" if field.group("missing") else "unknown"
        path = f"{path}.{field.group('field')}" if path else field.group("field")
    elif text.startswith("Expected `"):
        kind = "type" if ", got `" in text else "constraint"
    else:
        kind = "invalid"
    return {"name": path, "errorType": kind, "message": text}


class PayloadValidationError(EventException):
    """The payload does not match the handler's schema: a ``badRequest`` answer."""

    code = "MISSING_FIELDS"
    type = EventErrorType.BAD_REQUEST

    @classmethod
    def from_validation_error(cls, exc: msgspec.ValidationError) -> Self:
        return cls(parameters={"fields": [field_error(exc)]}, expected=True)


class EventClientError(Exception):
    """Base of the client-side failures (no protocol answer was received)."""


class EventConnectionError(EventClientError):
    """The server could not be reached, or the connection broke before an answer."""


class TimeoutException(EventClientError):
    """The server did not answer in time."""


class FailedDependencyException(EventClientError):
    """The server answered with a non-2xx HTTP status; ``status`` and ``body`` are kept."""

    def __init__(self, message: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class BadProtocolException(EventClientError):
    """The answer was not a valid response envelope; the raw ``body`` is kept."""

    def __init__(self, message: str, *, body: bytes = b"") -> None:
        super().__init__(message)
        self.body = body
