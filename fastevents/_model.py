"""The envelope: events as msgspec Structs, decoded from the wire in one pass.

An event received from the wire is decoded straight into a private subclass of the event
class whose fields are typed :class:`msgspec.Raw`: ``id``, ``flowId``, ``payload``,
``identity``, ``auth`` and ``metadata`` stay undecoded slices of the request until someone
reads them. The public properties below decode a raw slot once, on first read, and keep the
result; an event built by hand (``Event(name=..., payload=...)``) holds plain values and the
same properties hand them back unchanged.
"""

from __future__ import annotations

import enum
import os
import types
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar, Union, cast, overload

import msgspec
from msgspec import Meta, Raw

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "CamelStruct",
    "Event",
    "EventErrorType",
    "EventSuccessType",
    "RedirectPayload",
    "RequestEvent",
    "ResponseEvent",
    "User",
]

T = TypeVar("T")



class JsonNumber(Decimal):
    """A JSON number that a float would not write back as sent: an exact Decimal that
    also keeps its text, and is encoded as that text again."""

    __slots__ = ("text",)
    text: str


def exact_number(text: str) -> float | Decimal:
    """A JSON number with a fraction or exponent: a float when the float writes back as
    the same text (almost always), else a :class:`JsonNumber`, so that numbers survive a
    handler that passes them through byte for byte (PROTOCOL.md section 1)."""
    value = float(text)
    if repr(value) == text:
        return value
    number = JsonNumber(text)
    number.text = text
    return number


def _encode_extra(value: Any) -> Any:
    if type(value) is JsonNumber:
        return Raw(value.text.encode())
    raise NotImplementedError  # msgspec's own "unsupported type" error


#: Plain JSON values (payloads without a schema, identity, auth, metadata): exact numbers.
decode_plain = msgspec.json.Decoder(float_hook=exact_number).decode
#: Every encode of fastevents: exact numbers as sent, other Decimals as JSON numbers.
encode = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_extra).encode
_json_decode = msgspec.json.decode

NULL_RAW = Raw(b"null")
EMPTY_OBJECT_RAW = Raw(b"{}")
# First bytes of a raw JSON value: what kind of value it is (the raw slice is valid JSON).
QUOTE_BYTE, OBJECT_BYTE, NULL_BYTE = ord('"'), ord("{"), ord("n")


def fresh_id() -> str:
    """A random (version 4) UUID as text; about twice as fast as ``str(uuid.uuid4())``."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def fresh_id_raw() -> Raw:
    """A fresh UUID4 as a JSON string, ready to be written to the wire."""
    return Raw(f'"{fresh_id()}"'.encode())


class EventErrorType(enum.StrEnum):
    """Error kinds; each value is the suffix written after ``<name>:`` on the wire."""

    GENERIC = "error"
    BAD_REQUEST = "badRequest"
    BAD_PROTOCOL = "badProtocol"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "notFound"
    FORBIDDEN = "forbidden"
    USER_DENIED = "userDenied"
    RESOURCE_DENIED = "resourceDenied"
    EXPIRED = "expired"
    UNPROCESSABLE = "unprocessable"
    GONE = "gone"
    EVENT_NOT_FOUND = "eventNotFound"
    UNKNOWN = "unknown"

    @classmethod
    def from_suffix(cls, suffix: str) -> EventErrorType:
        """Map a wire suffix (camelCase or the documented snake_case spelling) to a type."""
        return _ERROR_SUFFIXES.get(suffix, cls.UNKNOWN)

    @classmethod
    def is_in(cls, item: Any) -> bool:
        """Whether ``item`` is one of these values (the old package's test)."""
        return _is_value(cls, item)

    @classmethod
    def get_type(cls, error: Any) -> EventErrorType:
        """The old package's :meth:`from_suffix`: ``UNKNOWN`` for anything else."""
        return cls.from_suffix(error) if isinstance(error, str) else cls.UNKNOWN


_ERROR_SUFFIXES: dict[str, EventErrorType] = {t.value: t for t in EventErrorType}
del _ERROR_SUFFIXES["unknown"]  # "unknown" is what we call anything else, not a wire type
_ERROR_SUFFIXES.update(
    bad_request=EventErrorType.BAD_REQUEST,
    not_found=EventErrorType.NOT_FOUND,
    bad_protocol=EventErrorType.BAD_PROTOCOL,
    event_not_found=EventErrorType.EVENT_NOT_FOUND,
    user_denied=EventErrorType.USER_DENIED,
    resource_denied=EventErrorType.RESOURCE_DENIED,
)


class EventSuccessType(enum.StrEnum):
    """Success kinds; each value is the suffix written after ``<name>:`` on the wire."""

    SUCCESS = "response"
    REDIRECT = "redirect"

    @classmethod
    def is_in(cls, item: Any) -> bool:
        """Whether ``item`` is one of these values (the old package's test)."""
        return _is_value(cls, item)

    @classmethod
    def get_type(cls, success: Any) -> EventSuccessType | None:
        """The success type of a wire suffix, or ``None``."""
        return cls._value2member_map_.get(success) if isinstance(success, str) else None  # type: ignore[return-value]


def _is_value(cls: type[enum.Enum], item: Any) -> bool:
    try:
        cls(item)
    except (ValueError, TypeError):
        return False
    return True


class CamelStruct(msgspec.Struct, rename="camel"):
    """Base for payload schemas: snake_case attributes, camelCase keys on the wire."""


class RedirectPayload(CamelStruct):
    """The payload of a ``<name>:redirect`` answer."""

    url: str
    query_parameters: dict[str, Any] = msgspec.field(default_factory=dict)


class _EventFields(msgspec.Struct, kw_only=True, rename="camel"):
    # The storage. Field order is the wire's key order; ``Event`` puts properties over
    # the six lazily decoded slots, and reads and writes them through these descriptors.
    name: str
    version: int
    id: str = msgspec.field(default_factory=fresh_id)
    flow_id: str = msgspec.field(default_factory=fresh_id)
    payload: Any = msgspec.field(default_factory=dict)
    identity: dict[str, Any] = msgspec.field(default_factory=dict)
    auth: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


# Slot descriptors, used by the properties below and by the dispatch core.
ID_SLOT = _EventFields.__dict__["id"]
FLOW_ID_SLOT = _EventFields.__dict__["flow_id"]
PAYLOAD_SLOT = _EventFields.__dict__["payload"]
IDENTITY_SLOT = _EventFields.__dict__["identity"]
AUTH_SLOT = _EventFields.__dict__["auth"]
METADATA_SLOT = _EventFields.__dict__["metadata"]


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
            value = decode_plain(value)
            if value is None and null_is_empty_object:
                value = {}
            store(self, name, value)
        return value

    return property(fget, slot.__set__, doc=doc)


def _user_id(value: Any) -> int | str | None:
    # An id: an integer (numeric text and integral numbers included) or other non-empty
    # text. None for anything that cannot be one: null, empty text, booleans, objects...
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        if digits.isascii() and digits.isdigit():
            return int(text)
        return text or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


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
        return _user_id(self.id)

    @property
    def user_type(self) -> Any:
        return self.type


class Event(_EventFields):
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

        Accepts what PROTOCOL.md accepts: numeric-string versions, missing or null ids
        (filled with fresh UUIDs), missing payload (``{}``), unknown keys (ignored).
        """
        return cast("Self", _read_envelope(data, wire_decoder(cls).decode))

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

        Integers and numeric strings come back as ``int``; any other text (a UUID, say)
        comes back as the text itself, stripped. An empty, boolean, object or array
        ``userId`` is no id, so ``identity.user.id`` is tried next.
        """
        identity = self.identity
        if not isinstance(identity, dict):
            return None
        found = _user_id(identity.get("userId"))
        if found is None:
            user = identity.get("user")
            if isinstance(user, dict):
                found = _user_id(user.get("id"))
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
        return cast("dict[str, Any]", decode_plain(self.to_json()))

    def __eq__(self, other: object) -> bool:
        # By value, whatever has been decoded yet: a received event equals itself after its
        # payload was read, and equals the same event built by hand.
        if not isinstance(other, Event):
            return NotImplemented
        return _public(type(self)) is _public(type(other)) and all(
            getattr(self, field) == getattr(other, field) for field in _EventFields.__struct_fields__
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
        from ._errors import PayloadValidationError  # here, not at the top: _errors imports this module

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

_WIRE_ANNOTATIONS: dict[str, Any] = {
    "name": Annotated[str, Meta(min_length=1)],
    "version": Union[Annotated[int, Meta(ge=0)], str],
    "id": Raw,
    "flow_id": Raw,
    "payload": Raw,
    "identity": Raw,
    "auth": Raw,
    "metadata": Raw,
}
_WIRE_DEFAULTS: dict[str, Any] = {
    "id": NULL_RAW,
    "flow_id": NULL_RAW,
    "payload": EMPTY_OBJECT_RAW,
    "identity": EMPTY_OBJECT_RAW,
    "auth": EMPTY_OBJECT_RAW,
    "metadata": EMPTY_OBJECT_RAW,
}
_wire_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def wire_type(cls: type[Event]) -> type[Event]:
    """A subclass of ``cls`` whose slots are decoded as :class:`msgspec.Raw`."""

    def body(ns: dict[str, Any]) -> None:
        ns["__annotations__"] = dict(_WIRE_ANNOTATIONS)
        ns.update(_WIRE_DEFAULTS)
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


def is_numeric_version(text: str) -> bool:
    """A version sent as text that reads as one: ASCII digits, at most 18 of them."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


class InvalidEnvelopeError(ValueError):
    """The bytes are not an events-protocol envelope."""

    def __init__(self, property_name: str | None, message: str) -> None:
        self.property_name = property_name
        self.message = message
        super().__init__(f"{property_name}: {message}" if property_name else message)


#: Why an envelope that decoded is still not one, by the dispatch cores' problem number.
ENVELOPE_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("", ""),  # 0: no problem
    ("version", "version must be an integer"),
    ("id", "id must be a string"),
    ("flowId", "flowId must be a string"),
    ("identity", "identity must be an object"),
    ("auth", "auth must be an object"),
    ("metadata", "metadata must be an object"),
)


def _read_envelope(data: Any, decode: Any) -> Any:
    # Bound on first use to the dispatch core's reader (the core imports this module).
    global _read_envelope
    from ._impl import core

    _read_envelope = core.read_envelope
    return _read_envelope(data, decode)


_ENVELOPE_KEYS = ("name", "version", "id", "flowId", "identity", "auth", "metadata")


def diagnose_envelope(data: Any) -> tuple[str | None, str, Raw, Raw]:
    """Why ``data`` is not an envelope: ``(property or None, reason, id, flowId)``.

    The slow path, taken only after the typed decode failed. The ids are the request's
    own when they are readable strings, else fresh UUIDs.
    """
    try:
        value = _json_decode(data)
    except RecursionError:
        return None, "body is nested too deeply", fresh_id_raw(), fresh_id_raw()
    except Exception:
        return None, "body is not valid JSON", fresh_id_raw(), fresh_id_raw()
    if not isinstance(value, dict):
        return None, "body is not a JSON object", fresh_id_raw(), fresh_id_raw()
    ids = []
    for key in ("id", "flowId"):
        v = value.get(key)
        ids.append(Raw(encode(v)) if isinstance(v, str) else fresh_id_raw())
    reason: tuple[str | None, str] = (None, "invalid envelope")
    for key in _ENVELOPE_KEYS:
        v = value.get(key)
        if key == "name":
            if not isinstance(v, str) or not v:
                reason = key, "name is required and must be a non-empty string"
                break
        elif key == "version":
            ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or (
                isinstance(v, str) and is_numeric_version(v)
            )
            if not ok:
                reason = key, "version is required and must be an integer"
                break
        elif key in ("id", "flowId"):
            if v is not None and not isinstance(v, str):
                reason = key, f"{key} must be a string"
                break
        elif v is not None and not isinstance(v, dict):
            reason = key, f"{key} must be an object"
            break
    return reason[0], reason[1], ids[0], ids[1]

