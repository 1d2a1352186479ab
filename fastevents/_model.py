"""The public event classes: events as msgspec Structs, decoded from the wire in one pass.

An event received from the wire is decoded straight into a private subclass of the event
class whose fields are typed :class:`msgspec.Raw` (``_wire.WIRE_ANNOTATIONS``): ``id``,
``flowId``, ``payload``, ``identity``, ``auth`` and ``metadata`` stay undecoded slices of
the request until someone reads them. The public properties below decode a raw slot once,
on first read, and keep the result; an event built by hand (``Event(name=..., payload=...)``)
holds plain values and the same properties hand them back unchanged.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast, overload

import msgspec
from msgspec import Raw

from ._errors import PayloadValidationError
from ._impl import read_envelope
from ._wire import (
    AUTH_SLOT,
    EMPTY_OBJECT_RAW,
    FLOW_ID_SLOT,
    ID_SLOT,
    IDENTITY_SLOT,
    METADATA_SLOT,
    NULL_BYTE,
    PAYLOAD_SLOT,
    WIRE_ANNOTATIONS,
    WIRE_DEFAULTS,
    EventErrorType,
    EventFields,
    EventSuccessType,
    decode_plain_slow,
    encode,
    user_id_of,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "CamelStruct",
    "Event",
    "RedirectPayload",
    "RequestEvent",
    "ResponseEvent",
    "User",
]

T = TypeVar("T")
_json_decode = msgspec.json.decode


class CamelStruct(msgspec.Struct, rename="camel"):
    """Base for payload schemas: snake_case attributes, camelCase keys on the wire."""


class RedirectPayload(CamelStruct):
    """The payload of a ``<name>:redirect`` answer."""

    url: str
    query_parameters: dict[str, Any] = msgspec.field(default_factory=dict)


def _lazy(slot: Any, null_is_empty_object: bool, doc: str) -> Any:
    get = slot.__get__
    name = slot.__name__
    # Stored through msgspec's attribute protocol, not the bare slot: a received event is
    # not tracked by the garbage collector until it holds a container, and msgspec starts
    # tracking it on this path (a cycle through the event would otherwise never be freed).
    store = msgspec.Struct.__setattr__

    def fget(self: Any) -> Any:
        value = get(self)
        if type(value) is Raw:
            value = decode_plain_slow(value)
            if value is None and null_is_empty_object:
                value = {}
            store(self, name, value)
        return value

    return property(fget, slot.__set__, doc=doc)


class User(NamedTuple):
    """``identity.user``: unpacks as ``(id, type)``, the values as sent.

    :attr:`user_id` reads the id by the rules of :attr:`Event.user_id`; :attr:`user_type`
    is the old package's name for ``type``.
    """

    id: Any
    type: Any

    @property
    def user_id(self) -> int | str | None:
        """The id as an ``int`` when numeric, else the text; ``None`` when it is no id."""
        return user_id_of(self.id)

    @property
    def user_type(self) -> Any:
        return self.type


class Event(EventFields):
    """One events-protocol envelope.

    Build one by hand with keyword arguments (``id`` and ``flow_id`` default to fresh
    UUIDs), or read one with :meth:`from_json`. On a received event ``payload``,
    ``identity``, ``auth`` and ``metadata`` are decoded on first use; ``payload_as(T)``
    decodes the payload straight into ``T`` instead.
    """

    id = _lazy(ID_SLOT, False, "The event's id (text).")
    flow_id = _lazy(FLOW_ID_SLOT, False, "The id shared by every event of one flow (text).")
    payload = _lazy(PAYLOAD_SLOT, False, "The payload as a plain JSON value.")
    identity = _lazy(IDENTITY_SLOT, True, "Who the event is for, as a dict.")
    auth = _lazy(AUTH_SLOT, True, "Credentials, as a dict. Never echoed, never logged.")
    metadata = _lazy(METADATA_SLOT, True, "Metadata (origin, trace context...), as a dict.")

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Self:
        """Read one envelope; raise :class:`~fastevents.InvalidEnvelopeError` if it is not one.

        Accepts what docs/protocol.md §1 accepts: numeric-string versions, missing or null ids
        (filled with fresh UUIDs), missing payload (``{}``), unknown keys (ignored).
        """
        return cast("Self", read_envelope(data, wire_decoder(cls).decode))

    def to_json(self) -> bytes:
        """The canonical wire form: keys in protocol order, camelCase."""
        return encode(self)

    @overload
    def payload_as(self, type: type[T]) -> T: ...
    @overload
    def payload_as(self, type: Any) -> Any: ...  # unions, ``Annotated``...: what mypy cannot spell as type[T]

    def payload_as(self, type: Any) -> Any:
        """The payload decoded straight into ``type`` (a Struct, ``dict``, ``msgspec.Raw``...).

        Raises :class:`~fastevents.PayloadValidationError` (a ``badRequest`` answer when
        left uncaught in a handler) when the payload does not match.
        """
        return _slot_as(self, PAYLOAD_SLOT, type)

    @overload
    def identity_as(self, type: type[T]) -> T: ...
    @overload
    def identity_as(self, type: Any) -> Any: ...

    def identity_as(self, type: Any) -> Any:
        """``identity`` decoded straight into ``type``."""
        return _slot_as(self, IDENTITY_SLOT, type)

    @overload
    def auth_as(self, type: type[T]) -> T: ...
    @overload
    def auth_as(self, type: Any) -> Any: ...

    def auth_as(self, type: Any) -> Any:
        """``auth`` decoded straight into ``type``."""
        return _slot_as(self, AUTH_SLOT, type)

    @property
    def user_id(self) -> int | str | None:
        """``identity.userId``, else ``identity.user.id``; ``None`` when neither holds an id.

        Integers and numeric strings of up to 40 digits come back as ``int``; any other
        text (a UUID, or numeric text longer than that) comes back as the text itself,
        stripped. Null, empty text, booleans, objects, arrays, fractions and numbers beyond
        40 digits (``1e1000000``) are no id, so ``identity.user.id`` is tried next. Reading
        it never raises and never takes more than microseconds, whatever the identity holds.
        """
        identity = self.identity
        if not isinstance(identity, dict):
            return None
        found = user_id_of(identity.get("userId"))
        if found is None:
            user = identity.get("user")
            if isinstance(user, dict):
                found = user_id_of(user.get("id"))
        return found

    @property
    def user_id_as_str(self) -> str | None:
        """:attr:`user_id` as text (``"42"`` for 42, a UUID as it is); ``None`` without one."""
        found = self.user_id
        return None if found is None else str(found)

    @property
    def user(self) -> User | None:
        """``identity.user`` when it is an object: a :class:`User`, which unpacks as ``(id, type)``."""
        identity = self.identity
        user = identity.get("user") if isinstance(identity, dict) else None
        if isinstance(user, dict):
            return User(user.get("id"), user.get("type"))
        return None

    @property
    def user_type(self) -> Any:
        """``identity.user.type``, or ``None``."""
        user = self.user
        return None if user is None else user.type

    @property
    def origin(self) -> Any:
        """``metadata.origin``, or ``None``."""
        metadata = self.metadata
        return metadata.get("origin") if isinstance(metadata, dict) else None

    def to_dict(self) -> dict[str, Any]:
        """The envelope as plain values, keyed as on the wire (``flowId``...)."""
        return cast("dict[str, Any]", decode_plain_slow(self.to_json()))

    def __eq__(self, other: object) -> bool:
        # By value, whatever has been decoded yet: a received event equals itself after its
        # payload was read, and equals the same event built by hand.
        if not isinstance(other, Event):
            return NotImplemented
        return _public(type(self)) is _public(type(other)) and all(
            getattr(self, field) == getattr(other, field) for field in EventFields.__struct_fields__
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like every non-frozen Struct

    def __reduce__(self) -> tuple[Any, ...]:
        # Received events are of a private wire subclass: pickle them as their public class.
        return _from_json, (_public(type(self)), self.to_json())

    def __repr__(self) -> str:
        auth = "{...}" if self.auth else "{}"
        return (
            f"{type(self).__name__}(name={self.name!r}, version={self.version!r}, "
            f"id={self.id!r}, flow_id={self.flow_id!r}, payload={self.payload!r}, "
            f"identity={self.identity!r}, auth={auth}, metadata={self.metadata!r})"
        )


def _public(cls: type) -> type:
    return cast(type, getattr(cls, "_fastevents_public", cls))


def _from_json(cls: type[Event], data: bytes) -> Event:
    return cls.from_json(data)


def _slot_as(event: Event, slot: Any, type: Any) -> Any:
    value = slot.__get__(event)
    if type is Raw:
        return value.copy() if isinstance(value, Raw) else Raw(encode(value))
    try:
        if isinstance(value, Raw):
            if slot is not PAYLOAD_SLOT and memoryview(value)[0] == NULL_BYTE:
                value = EMPTY_OBJECT_RAW  # a null identity or auth reads as {}
            return _json_decode(value, type=type)
        return msgspec.convert(value, type, str_keys=True)
    except msgspec.ValidationError as exc:
        raise PayloadValidationError.from_validation_error(exc) from None


class RequestEvent(Event):
    """An event sent to a handler."""


class ResponseEvent(Event):
    """An answer: success (``<name>:response``), redirect (``<name>:redirect``) or error."""

    @property
    def is_success(self) -> bool:
        return self.name.endswith(":response")

    @property
    def is_redirect(self) -> bool:
        return self.name.endswith(":redirect")

    @property
    def is_error(self) -> bool:
        return not (self.is_success or self.is_redirect)

    @property
    def event_type(self) -> EventSuccessType | EventErrorType:
        """What kind of answer this is, from the name's suffix."""
        if self.is_success:
            return EventSuccessType.SUCCESS
        if self.is_redirect:
            return EventSuccessType.REDIRECT
        return EventErrorType.from_suffix(self.name.rpartition(":")[2])

    @property
    def error_type(self) -> EventErrorType | None:
        """The error kind, or ``None`` for a success or a redirect."""
        event_type = self.event_type
        return event_type if isinstance(event_type, EventErrorType) else None

    @classmethod
    def from_event(cls, event: Event) -> ResponseEvent:
        """The same envelope, as a ResponseEvent (fields are shared, not copied)."""
        return cls(**{f: getattr(event, f) for f in cls.__struct_fields__})


# --- reading from the wire ------------------------------------------------------------

_wire_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def wire_type(cls: type[Event]) -> type[Event]:
    """A subclass of ``cls`` whose slots are decoded as :class:`msgspec.Raw`."""

    def body(ns: dict[str, Any]) -> None:
        ns["__annotations__"] = dict(WIRE_ANNOTATIONS)
        ns.update(WIRE_DEFAULTS)
        ns["__module__"] = cls.__module__
        ns["__qualname__"] = cls.__qualname__
        ns["__doc__"] = cls.__doc__
        ns["_fastevents_public"] = cls  # what it pickles and compares as

    return types.new_class(cls.__name__, (cls,), {}, body)


def wire_decoder(cls: type[Event]) -> msgspec.json.Decoder[Any]:
    """The decoder of ``cls``'s wire type, built once per class."""
    decoder = _wire_decoders.get(cls)
    if decoder is None:
        decoder = _wire_decoders[cls] = msgspec.json.Decoder(wire_type(cls))
    return decoder
