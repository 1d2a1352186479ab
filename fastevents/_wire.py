"""The wire: what every other module builds on, and nothing of the package above it.

- the codec: one encoder and one plain decoder for the whole package (client and server),
  with exact numbers;
- ids: fresh UUID4s;
- the wire's enums: error and success suffixes;
- the storage Struct of an event, its slot descriptors, and the wire (raw) field types;
- the envelope rules: one table, :data:`RULES`, read by both dispatch cores and by the slow
  path that explains a body the typed decode refused.

See docs/protocol.md for the protocol these implement.
"""

from __future__ import annotations

import enum
import json as _stdlib_json
import os
from decimal import Decimal
from typing import Annotated, Any, Union

import msgspec
from msgspec import Meta, Raw

# --- the codec -------------------------------------------------------------------------


class JsonNumber(Decimal):
    """A JSON number that a float would not write back as sent: an exact Decimal that
    also keeps its text, and is encoded as that text again."""

    __slots__ = ("text",)
    text: str


def exact_number(text: str) -> float | Decimal:
    """A JSON number with a fraction or exponent: a float when the float writes back as
    the same text (almost always), else a :class:`JsonNumber`, so that numbers survive a
    handler that passes them through byte for byte (docs/protocol.md §1).

    "Writes back" as the package's encoder writes a float, not as ``repr`` does: ``1e-05``
    and ``1e+16`` are ``repr``'s text, but the encoder writes ``0.00001`` and ``1e16``.
    """
    value = float(text)
    if _float_text(value) == text:
        return value
    number = JsonNumber(text)
    number.text = text
    return number


def _encode_extra(value: Any) -> Any:
    if type(value) is JsonNumber:
        return Raw(value.text.encode())
    raise NotImplementedError  # msgspec's own "unsupported type" error


def _float_text(value: float) -> str:
    return _plain_encode(value).decode()  # inf (from 1e400) is "null": never the text sent


_plain_encode = msgspec.json.Encoder().encode

#: Plain JSON values (payloads without a schema, identity, auth, metadata): exact numbers.
decode_plain = msgspec.json.Decoder(float_hook=exact_number).decode

# Python refuses to turn text of more than 4300 digits into an int (a guard against slow
# conversions), so msgspec refuses such integers. They are kept as exact numbers instead.
_INT_DIGITS_LIMIT = 4000


def _big_integer(text: str) -> int | JsonNumber:
    if len(text) <= _INT_DIGITS_LIMIT:
        return int(text)
    number = JsonNumber(text)
    number.text = text
    return number


def decode_plain_slow(data: Any) -> Any:
    """:func:`decode_plain` for the documents it refuses: integers too long for ``int``.

    Taken only after ``decode_plain`` failed; numbers stay exact (written back as sent).
    Raises what ``decode_plain`` raises when the document is refused for another reason.
    """
    try:
        return decode_plain(data)
    except msgspec.ValidationError as exc:
        try:
            return _stdlib_json.loads(bytes(data), parse_int=_big_integer, parse_float=exact_number)
        except Exception:
            raise exc from None


#: Plain JSON values with numbers as msgspec reads them: what :func:`decode_plain` gives for a
#: document in which every number with a fraction writes back as sent (the cores check that
#: first, in one pass over the bytes: ``scan_numbers``).
decode_native = msgspec.json.Decoder().decode

#: Numbers in one plain payload that may be decoded exactly. Exactness costs a call per number
#: (40 to 100 times msgspec's own decode of a body of numbers), so a payload that needs it
#: (a ``2.50``, a ``1E5``, a 16-digit fraction, an integer past 4300 digits) and holds more
#: numbers than this is answered ``badRequest``; declared payload types are not concerned.
MAX_EXACT_NUMBERS = 4096


def too_many_exact_numbers(count: int) -> msgspec.ValidationError:
    """Why a plain payload was refused (see :data:`MAX_EXACT_NUMBERS`), as the ``badRequest``
    answer says it."""
    return msgspec.ValidationError(
        f"the payload holds {count} numbers, some of which must keep their exact text (2.50, 1E5, "
        f"long digits); at most {MAX_EXACT_NUMBERS} are decoded so: declare the payload's type, "
        "or send such numbers as strings"
    )


#: Every encode of fastevents: exact numbers as sent, other Decimals as JSON numbers.
encode = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_extra).encode

NULL_RAW = Raw(b"null")
EMPTY_OBJECT_RAW = Raw(b"{}")
# The first byte of a raw JSON value says what kind of value it is (a raw slice is valid JSON).
QUOTE_BYTE, OBJECT_BYTE, NULL_BYTE = ord('"'), ord("{"), ord("n")


# --- ids --------------------------------------------------------------------------------


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


# --- the wire's enums -------------------------------------------------------------------


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


# --- the storage Struct ----------------------------------------------------------------


class EventFields(msgspec.Struct, kw_only=True, rename="camel"):
    """The storage of every event. Field order is the wire's key order; ``Event`` puts
    properties over the six lazily decoded slots, and reads and writes them through the
    slot descriptors below."""

    name: str
    version: int
    id: str = msgspec.field(default_factory=fresh_id)
    flow_id: str = msgspec.field(default_factory=fresh_id)
    payload: Any = msgspec.field(default_factory=dict)
    identity: dict[str, Any] = msgspec.field(default_factory=dict)
    auth: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


#: The envelope's keys in the protocol's order (docs/protocol.md), as on the wire: the one
#: definition every other rendering (answer bytes, OpenAPI, conformance checks) reads.
ENVELOPE_KEYS: tuple[str, ...] = tuple(field.encode_name for field in msgspec.structs.fields(EventFields))

# Slot descriptors: the stored value as it is (a Raw on a received event).
NAME_SLOT = EventFields.__dict__["name"]
VERSION_SLOT = EventFields.__dict__["version"]
ID_SLOT = EventFields.__dict__["id"]
FLOW_ID_SLOT = EventFields.__dict__["flow_id"]
PAYLOAD_SLOT = EventFields.__dict__["payload"]
IDENTITY_SLOT = EventFields.__dict__["identity"]
AUTH_SLOT = EventFields.__dict__["auth"]
METADATA_SLOT = EventFields.__dict__["metadata"]

#: The field types of a received event: everything but name and version stays raw.
WIRE_ANNOTATIONS: dict[str, Any] = {
    "name": Annotated[str, Meta(min_length=1)],
    "version": Union[Annotated[int, Meta(ge=0)], str],
    "id": Raw,
    "flow_id": Raw,
    "payload": Raw,
    "identity": Raw,
    "auth": Raw,
    "metadata": Raw,
}
#: What a received event holds for a key the body does not have.
WIRE_DEFAULTS: dict[str, Any] = {
    "id": NULL_RAW,
    "flow_id": NULL_RAW,
    "payload": EMPTY_OBJECT_RAW,
    "identity": EMPTY_OBJECT_RAW,
    "auth": EMPTY_OBJECT_RAW,
    "metadata": EMPTY_OBJECT_RAW,
}


# --- routes ----------------------------------------------------------------------------

# How a route's handler is called (the dispatch cores' Route.mode).
MODE_EVENT = 0  # handler(event)
MODE_PLAIN = 1  # handler(event, payload as a plain JSON value)
MODE_TYPED = 2  # handler(event, payload decoded into the route's type)
MODE_RAW = 3  # handler(event, payload as msgspec.Raw, copied off the request buffer)


# --- reading identity -------------------------------------------------------------------


#: An id is an integer of at most this many digits; longer numbers are no integer id.
MAX_ID_DIGITS = 40
_ID_LIMIT = 10**MAX_ID_DIGITS


def user_id_of(value: Any) -> int | str | None:
    """The id a value of ``identity`` holds (see ``Event.user_id``), or ``None``."""
    # An id: an integer of at most MAX_ID_DIGITS digits (numeric text and integral numbers
    # included) or other non-empty text. None for anything that cannot be one: null, empty
    # text, booleans, objects, fractions, and numbers too large to be anyone's id. Every
    # branch is bounded before any conversion, so a number such as 1e1000000 costs
    # microseconds, not the minutes that building its integer would.
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -_ID_LIMIT < value < _ID_LIMIT else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        if 0 < len(digits) <= MAX_ID_DIGITS and digits.isascii() and digits.isdigit():
            return int(text)
        return text or None  # long numeric text stays text: still an id, not a number
    if isinstance(value, float):
        return int(value) if value.is_integer() and -_ID_LIMIT < value < _ID_LIMIT else None
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < MAX_ID_DIGITS
        and value == value.to_integral_value()
    ):
        return int(value)
    return None


# --- the envelope rules ----------------------------------------------------------------


class Rule(enum.IntEnum):
    """The envelope rules a body can break, in the order they are checked."""

    NAME = 1
    VERSION = 2
    ID = 3
    FLOW_ID = 4
    IDENTITY = 5
    AUTH = 6
    METADATA = 7


#: The one table of envelope rules: what each broken rule answers, as
#: ``(propertyName, message)``. Both dispatch cores and :func:`diagnose_envelope` read it,
#: so a rule gives the same answer on every path.
RULES: dict[Rule, tuple[str, str]] = {
    Rule.NAME: ("name", "name is required and must be a non-empty string"),
    Rule.VERSION: ("version", "version is required and must be an integer"),
    Rule.ID: ("id", "id must be a string"),
    Rule.FLOW_ID: ("flowId", "flowId must be a string"),
    Rule.IDENTITY: ("identity", "identity must be an object"),
    Rule.AUTH: ("auth", "auth must be an object"),
    Rule.METADATA: ("metadata", "metadata must be an object"),
}
#: :data:`RULES` indexed by rule number, for the cores (index 0 is unused).
RULES_BY_NUMBER: tuple[tuple[str, str], ...] = (("", ""), *(RULES[rule] for rule in Rule))

#: Problems of the body as a whole, before any rule applies: ``(None, message)``.
NOT_UTF8 = (None, "body is not valid UTF-8")
NOT_BYTES = (None, "body is not UTF-8 bytes or text")
NOT_JSON = (None, "body is not valid JSON")
TOO_DEEP = (None, "body is nested too deeply")
NOT_OBJECT = (None, "body is not a JSON object")

#: Largest version sent as text: 18 digits always fit a 64-bit integer.
MAX_VERSION_DIGITS = 18


def is_numeric_version(text: str) -> bool:
    """A version sent as text that reads as one: ASCII digits, at most 18 of them."""
    return 0 < len(text) <= MAX_VERSION_DIGITS and text.isascii() and text.isdigit()


def _is_object_or_null(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def _is_string_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


# Each rule as a test of a decoded value, for the slow path only: the cores test the same
# rules on raw slices (first byte), in place.
_HOLDS: dict[Rule, Any] = {
    Rule.NAME: lambda v: isinstance(v, str) and v != "",
    Rule.VERSION: lambda v: (type(v) is int and v >= 0) or (isinstance(v, str) and is_numeric_version(v)),
    Rule.ID: _is_string_or_null,
    Rule.FLOW_ID: _is_string_or_null,
    Rule.IDENTITY: _is_object_or_null,
    Rule.AUTH: _is_object_or_null,
    Rule.METADATA: _is_object_or_null,
}


def diagnose_envelope(data: Any) -> tuple[str | None, str, Raw, Raw]:
    """Why ``data`` is not an envelope: ``(property or None, reason, id, flowId)``.

    The slow path, taken only after the typed decode failed. The ids are the request's
    own when they are readable strings, else fresh UUIDs.
    """
    try:
        value = msgspec.json.decode(data)
    except RecursionError:
        return (*TOO_DEEP, fresh_id_raw(), fresh_id_raw())
    except Exception:
        return (*NOT_JSON, fresh_id_raw(), fresh_id_raw())
    if not isinstance(value, dict):
        return (*NOT_OBJECT, fresh_id_raw(), fresh_id_raw())
    ids = [Raw(encode(v)) if isinstance(v := value.get(key), str) else fresh_id_raw() for key in ("id", "flowId")]
    for rule in Rule:
        prop, message = RULES[rule]
        if not _HOLDS[rule](value.get(prop)):
            return prop, message, ids[0], ids[1]
    return None, "invalid envelope", ids[0], ids[1]
