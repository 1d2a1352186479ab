"""The dispatch core in pure Python: the reference twin of ``_core.pyx``.

Routes map (name, version) to a handler with its payload decoder and a precomputed answer
prefix. ``Dispatcher.dispatch`` takes request bytes to answer bytes: decode the envelope in
one pass (ids, payload, identity, auth and metadata stay raw), check the raw slices, route,
decode the payload straight into the handler's type, call the handler with the event made
current, and assemble the answer around the raw ids without decoding them. Everything off
that path is in ``_answers``. Keep the two twins in step: a change to one lands in the other
in the same commit.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

import msgspec
from msgspec import Raw

from . import _answers
from ._context import current_event
from ._model import (
    AUTH_SLOT,
    EMPTY_OBJECT_RAW,
    ENVELOPE_PROBLEMS,
    FLOW_ID_SLOT,
    ID_SLOT,
    IDENTITY_SLOT,
    METADATA_SLOT,
    NULL_BYTE,
    OBJECT_BYTE,
    PAYLOAD_SLOT,
    QUOTE_BYTE,
    Event,
    InvalidEnvelopeError,
    RequestEvent,
    decode_plain,
    decode_plain_slow,
    diagnose_envelope,
    encode,
    fresh_id_raw,
    is_numeric_version,
    wire_decoder,
)

__all__ = ["MODE_EVENT", "MODE_PLAIN", "MODE_RAW", "MODE_TYPED", "Dispatcher", "Route", "read_envelope"]

# How a route's handler is called.
MODE_EVENT = 0  # handler(event)
MODE_PLAIN = 1  # handler(event, payload as a plain JSON value)
MODE_TYPED = 2  # handler(event, payload decoded into the route's type)
MODE_RAW = 3  # handler(event, payload as msgspec.Raw, copied off the request buffer)

_decode_envelope = wire_decoder(RequestEvent).decode
_decode_plain = decode_plain
_encode = encode
_get_id = ID_SLOT.__get__
_set_id = ID_SLOT.__set__
_get_flow = FLOW_ID_SLOT.__get__
_set_flow = FLOW_ID_SLOT.__set__
_get_payload = PAYLOAD_SLOT.__get__
_set_current = current_event.set
_reset_current = current_event.reset

_TAIL = _answers.TAIL
_FLOW_KEY = b',"flowId":'
_PAYLOAD_KEY = b',"payload":'


class Route:
    """One registered (name, version): its handler and how to call it."""

    __slots__ = ("decode", "decoder", "handler", "is_async", "mode", "name", "prefix", "version")

    def __init__(
        self,
        name: str,
        version: int,
        handler: Callable[..., Any],
        mode: int,
        decoder: msgspec.json.Decoder[Any] | None,
        is_async: bool,
    ) -> None:
        self.name = name
        self.version = version
        self.handler = handler
        self.mode = mode
        self.decoder = decoder
        self.decode: Callable[[Any], Any] | None = decoder.decode if decoder is not None else None
        self.is_async = is_async
        # The success answer up to the id, written once here instead of per event.
        self.prefix = b'{"name":%s,"version":%d,"id":' % (_encode(name + ":response"), version)


def _as_bytes(body: Any) -> bytes | None:
    # Text, or a bytes-like body; nothing else (bytes(5) would be five zero bytes).
    if isinstance(body, str):
        try:
            return body.encode()
        except UnicodeEncodeError:  # lone surrogates
            return None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    return None


def _check(event: Any) -> int:
    """Apply the envelope rules a typed decode cannot express, on the raw slices, in place.

    A numeric-string version becomes an int; missing or null ids become fresh UUIDs.
    Returns 0, or the number of the first rule broken (see ``ENVELOPE_PROBLEMS``).
    """
    version = event.version
    if type(version) is not int:
        if not is_numeric_version(version):
            return 1
        event.version = int(version)
    first = memoryview(_get_id(event))[0]
    if first != QUOTE_BYTE:
        if first != NULL_BYTE:
            return 2
        _set_id(event, fresh_id_raw())
    first = memoryview(_get_flow(event))[0]
    if first != QUOTE_BYTE:
        if first != NULL_BYTE:
            return 3
        _set_flow(event, fresh_id_raw())
    for problem, slot in ((4, IDENTITY_SLOT), (5, AUTH_SLOT), (6, METADATA_SLOT)):
        first = memoryview(slot.__get__(event))[0]
        if first != OBJECT_BYTE:
            if first != NULL_BYTE:
                return problem
            slot.__set__(event, EMPTY_OBJECT_RAW)  # null reads, and is written back, as {}
    return 0


_UNREADABLE = (None, None)


def _read(body: Any, decode: Callable[[bytes], Any]) -> Any:
    """The checked event, or ``(reason, ids)`` saying why there is none.

    ``reason`` is ``(property, message)`` and ``ids`` the answer's raw ids, each ``None``
    when only a closer look at the body (``diagnose_envelope``) can tell.
    """
    if type(body) is not bytes:
        body = _as_bytes(body)
        if body is None:
            return (None, "body is not UTF-8 bytes or text"), (fresh_id_raw(), fresh_id_raw())
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return (None, "body is not valid UTF-8"), (fresh_id_raw(), fresh_id_raw())
    try:
        event = decode(body)
    except Exception:
        return _UNREADABLE
    problem = _check(event)
    if problem:
        return ENVELOPE_PROBLEMS[problem], None
    return event


def read_envelope(data: Any, decode: Callable[[bytes], Any]) -> Any:
    """``decode`` and check one envelope; raise :class:`InvalidEnvelopeError` if it is not one."""
    event = _read(data, decode)
    if type(event) is tuple:
        reason = event[0] or diagnose_envelope(data)[:2]
        raise InvalidEnvelopeError(*reason)
    return event


class Dispatcher:
    """Bytes in, bytes out, over a live routing table ``{(name, version): Route}``."""

    __slots__ = ("table",)

    def __init__(self, table: dict[tuple[str, int], Route]) -> None:
        self.table = table

    def dispatch(self, body: Any) -> bytes:
        """Answer one request: the answer bytes. Async handlers are run to completion."""
        return self._dispatch(body, False)  # type: ignore[no-any-return]

    def dispatch_async(self, body: Any) -> Any:
        """Answer one request: the answer bytes, or, when the handler gave an awaitable,
        ``(route, event, id, flowId, awaitable)`` for the caller to await and pass to
        :meth:`finish` (or :meth:`fail`)."""
        return self._dispatch(body, True)

    def _dispatch(self, body: Any, allow_async: bool) -> Any:
        event = _read(body, _decode_envelope)
        if type(event) is tuple:
            return _answers.bad_protocol(body, event[0], event[1])
        id_raw = _get_id(event)
        flow_raw = _get_flow(event)
        version = event.version

        route = self.table.get((event.name, version))
        if route is None:
            return _answers.not_found(event.name, version, id_raw, flow_raw)

        mode = route.mode
        arg: Any = None
        if mode == MODE_TYPED:
            try:
                arg = route.decode(_get_payload(event))  # type: ignore[misc]  # set in MODE_TYPED
            except Exception as exc:
                return _answers.bad_request(route.name, version, id_raw, flow_raw, exc)
        elif mode == MODE_PLAIN:
            try:
                arg = _decode_plain(_get_payload(event))
            except Exception:
                try:  # integers too long for int, kept exact; else a bad request
                    arg = decode_plain_slow(_get_payload(event))
                except Exception as exc:
                    return _answers.bad_request(route.name, version, id_raw, flow_raw, exc)
            event.payload = arg  # the attribute protocol: msgspec starts GC-tracking the event
        elif mode == MODE_RAW:
            arg = _get_payload(event).copy()

        token = _set_current(event)
        try:
            result = route.handler(event) if mode == MODE_EVENT else route.handler(event, arg)
            if route.is_async or (type(result) is not dict and isawaitable(result)):
                if allow_async:
                    return route, event, id_raw, flow_raw, result
                result = _answers.run_awaitable(result)
        except BaseException as exc:  # whatever a handler raises is its answer; see EventProcessor
            return _answers.error(route.name, version, id_raw, flow_raw, exc)
        finally:
            _reset_current(token)
        return self.finish(route, event, id_raw, flow_raw, result)

    def finish(self, route: Route, event: Event, id_raw: Raw, flow_raw: Raw, result: Any) -> bytes:
        """The answer to ``result``, what the handler returned."""
        if type(result) is not dict and isinstance(result, Event):
            return _answers.sent_as_is(route.name, event.version, id_raw, flow_raw, result)
        try:
            payload = _encode(result)
        except BaseException as exc:  # a type JSON cannot hold, or a failing __iter__...
            return _answers.error(route.name, event.version, id_raw, flow_raw, exc)
        return b"".join((route.prefix, id_raw, _FLOW_KEY, flow_raw, _PAYLOAD_KEY, payload, _TAIL))

    def fail(self, route: Route, event: Event, id_raw: Raw, flow_raw: Raw, exc: BaseException) -> bytes:
        """The answer to a handler that raised ``exc``."""
        return _answers.error(route.name, event.version, id_raw, flow_raw, exc)
