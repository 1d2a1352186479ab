"""The answers off the hot path: errors, unusual handler results, and their log records.

Both dispatch cores (compiled and pure Python) call into this module, so every error
answer and every log line is written in exactly one place.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from msgspec import Raw

from ._errors import EventException, PayloadValidationError, field_error
from ._wire import ENVELOPE_KEYS, EventErrorType, EventFields, diagnose_envelope, encode

logger = logging.getLogger("fastevents")
_BAD_REQUEST = EventErrorType.BAD_REQUEST._value_
_GENERIC = EventErrorType.GENERIC._value_

_encode = encode
_decode = msgspec.json.decode

# An answer's bytes around its values, keys in ENVELOPE_KEYS' order (both dispatch cores
# read them from here): ANSWER_HEAD % (name, version) is b'{"name":<name>,"version":<n>,"id":',
# then the id, FLOW_KEY, the flowId, PAYLOAD_KEY, the payload, and TAIL: the request's
# identity, auth and metadata are never echoed (b',"identity":{},"auth":{},"metadata":{}}').
_NAME_KEY, _VERSION_KEY, _ID_KEY, _FLOW_ID_KEY, _PAYLOAD_KEY, *_NOT_ECHOED = (
    b'"%s":' % key.encode() for key in ENVELOPE_KEYS
)
ANSWER_HEAD = b"{" + _NAME_KEY + b"%s," + _VERSION_KEY + b"%d," + _ID_KEY
FLOW_KEY = b"," + _FLOW_ID_KEY
PAYLOAD_KEY = b"," + _PAYLOAD_KEY
TAIL = b"".join(b"," + key + b"{}" for key in _NOT_ECHOED) + b"}"
#: Typed errors: ``expected=True`` is part of normal operation (INFO), others WARNING.
ERROR_LOG_LEVEL = {True: logging.INFO, False: logging.WARNING}
#: Answers the client caused (``badProtocol``, ``eventNotFound``, ``badRequest``): a
#: hostile client can cause one per request, so they stay below the default WARNING.
CLIENT_LOG_LEVEL = logging.INFO
#: Longest text of a received value (name, id, detail) written to a log record.
LOG_VALUE_LIMIT = 200


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def log_text(value: Any) -> Any:
    """A received value as it may appear in a log record: bounded in length, and with
    every non-printable character (newlines, ANSI escapes, Unicode line breaks and format
    characters) written as an escape, so a value from the wire can neither start a fake log
    line nor reach a terminal. Backslashes are doubled, so escapes stay unambiguous."""
    if not isinstance(value, str):
        return value
    if len(value) > LOG_VALUE_LIMIT:
        value = f"{value[:LOG_VALUE_LIMIT]}...(+{len(value) - LOG_VALUE_LIMIT} chars)"
    if value.isprintable() and "\\" not in value:
        return value
    return "".join(map(_escape, value))


def answer(name: str, version: int, id_raw: Raw, flow_raw: Raw, payload: bytes) -> bytes:
    """Assemble one answer envelope, keys in protocol order."""
    return b"".join((ANSWER_HEAD % (_encode(name), version), id_raw, FLOW_KEY, flow_raw, PAYLOAD_KEY, payload, TAIL))


def _text(raw: Raw) -> str:
    try:
        value = _decode(raw)
    except Exception:  # pragma: no cover - the raw ids were checked to be JSON strings
        return "?"
    return value if isinstance(value, str) else "?"


def _log(
    level: int,
    outcome: str,
    name: str | None,
    version: Any,
    id_raw: Raw,
    flow_raw: Raw,
    detail: str = "",
    exc_info: BaseException | None = None,
) -> None:
    if not logger.isEnabledFor(level):
        return
    name, detail = log_text(name), log_text(detail)
    event_id, flow_id = log_text(_text(id_raw)), log_text(_text(flow_raw))
    logger.log(
        level,
        "event %s v%s answered %s%s (id=%s flowId=%s)",
        name,
        version,
        outcome,
        f": {detail}" if detail else "",
        event_id,
        flow_id,
        exc_info=exc_info,
        extra={
            "event_name": name,
            "event_version": version,
            "event_id": event_id,
            "flow_id": flow_id,
            "outcome": outcome,
        },
    )


def bad_protocol(body: Any, reason: tuple[str | None, str] | None = None, ids: tuple[Raw, Raw] | None = None) -> bytes:
    """``badProtocol``: the body is not a valid envelope. ``reason``/``ids`` when known."""
    if reason is None or ids is None:
        property_name, message, id_raw, flow_raw = diagnose_envelope(body)
        reason = reason or (property_name, message)
        ids = ids or (id_raw, flow_raw)
    payload = _encode(
        {"code": "INVALID_COMMUNICATION_PROTOCOL", "parameters": {"propertyName": reason[0], "message": reason[1]}}
    )
    _log(CLIENT_LOG_LEVEL, "badProtocol", None, None, ids[0], ids[1], f"{reason[0] or 'body'}: {reason[1]}")
    return answer("badProtocol", 1, ids[0], ids[1], payload)


def not_found(name: str, version: int, id_raw: Raw, flow_raw: Raw) -> bytes:
    """``eventNotFound``: no handler for (name, version)."""
    payload = _encode({"code": "NO_EVENT_HANDLER_FOUND", "parameters": {"event": name, "version": version}})
    _log(CLIENT_LOG_LEVEL, "eventNotFound", name, version, id_raw, flow_raw)
    return answer("eventNotFound", 1, id_raw, flow_raw, payload)


_UNDECODABLE = {"name": "", "errorType": "invalid", "message": "payload could not be decoded"}


def bad_request(name: str, version: int, id_raw: Raw, flow_raw: Raw, exc: Exception) -> bytes:
    """``<name>:badRequest``: the payload does not match the handler's schema.

    The same answer a :class:`PayloadValidationError` gets, built without one: this is
    the one error answer that busy services see often.
    """
    # Else: deeper than the decoder allows, or not decodable into the schema at all.
    field = field_error(exc) if isinstance(exc, msgspec.ValidationError) else _UNDECODABLE
    payload = _encode({"code": PayloadValidationError.code, "parameters": {"fields": [field]}})
    _log(CLIENT_LOG_LEVEL, _BAD_REQUEST, name, version, id_raw, flow_raw, PayloadValidationError.code)
    return answer(f"{name}:{_BAD_REQUEST}", version, id_raw, flow_raw, payload)


def error(name: str, version: int, id_raw: Raw, flow_raw: Raw, exc: BaseException) -> bytes:
    """The answer to a handler that raised: typed for :class:`EventException`, else generic.

    Nothing of an unexpected exception reaches the wire: its text and traceback go to the
    ``fastevents`` logger only.
    """
    if isinstance(exc, EventException):
        try:
            payload = _encode({"code": exc.code, "parameters": exc.parameters})
        except Exception as enc_exc:  # parameters that JSON cannot hold
            return error(name, version, id_raw, flow_raw, enc_exc)
        suffix = exc.type._value_ if isinstance(exc.type, EventErrorType) else str(exc.type)
        _log(ERROR_LOG_LEVEL[exc.expected], suffix, name, version, id_raw, flow_raw, exc.code)
        return answer(f"{name}:{suffix}", version, id_raw, flow_raw, payload)
    _log(logging.ERROR, _GENERIC, name, version, id_raw, flow_raw, f"unhandled {type(exc).__name__}", exc_info=exc)
    return answer(f"{name}:{_GENERIC}", version, id_raw, flow_raw, b'{"code":"UNHANDLED_ERROR","parameters":{}}')


def sent_as_is(name: str, version: int, id_raw: Raw, flow_raw: Raw, value: EventFields) -> bytes:
    """A handler that returned an event (a ``ResponseEvent`` from ``EventBuilder``, say):
    it is the answer, or a generic error if it cannot be encoded."""
    try:
        return encode(value)
    except Exception as exc:
        return error(name, version, id_raw, flow_raw, exc)
