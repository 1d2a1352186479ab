"""The dispatch core in pure Python: the reference twin of ``_core.pyx``.

Routes map (name, version) to a handler with its payload decoder and a precomputed answer
prefix. ``Dispatcher.dispatch`` takes request bytes to answer bytes: decode the envelope in
one pass (ids, payload, identity, auth and metadata stay raw), check the raw slices against
the envelope rules (``_wire.RULES``), route, decode the payload straight into the handler's
type, call the handler with the event made current, and assemble the answer around the raw
ids without decoding them. Everything off that path is in ``_answers``.

Both twins are leaves of the package: they import only the layers below them (``_wire``,
``_errors``, ``_context``, ``_sync``, ``_answers``). Keep them in step: a change to one
lands in the other in the same commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from inspect import isawaitable
from typing import Any

import msgspec
from msgspec import Raw

from . import _answers
from ._context import current_event
from ._errors import InvalidEnvelopeError
from ._sync import run_awaitable
from ._wire import (
    AUTH_SLOT,
    EMPTY_OBJECT_RAW,
    FLOW_ID_SLOT,
    ID_SLOT,
    IDENTITY_SLOT,
    MAX_EXACT_NUMBERS,
    METADATA_SLOT,
    MODE_EVENT,
    MODE_PLAIN,
    MODE_RAW,
    MODE_TYPED,
    NOT_BYTES,
    NOT_UTF8,
    NULL_BYTE,
    OBJECT_BYTE,
    PAYLOAD_SLOT,
    QUOTE_BYTE,
    RULES_BY_NUMBER,
    EventFields,
    Rule,
    decode_native,
    decode_plain,
    decode_plain_slow,
    diagnose_envelope,
    encode,
    fresh_id_raw,
    is_numeric_version,
    too_many_exact_numbers,
)

__all__ = [
    "MODE_EVENT",
    "MODE_PLAIN",
    "MODE_RAW",
    "MODE_TYPED",
    "Dispatcher",
    "Pending",
    "Route",
    "decode_plain_payload",
    "read_envelope",
    "scan_numbers",
]

_decode_plain = decode_plain
_encode = encode


# --- plain payloads: exact numbers at a bounded cost --------------------------------------

# A JSON string, or a number (an integer part, maybe a fraction, maybe an exponent).
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"|-?([0-9]++)(?:\.([0-9]++))?+([eE][+-]?[0-9]++)?+')
_BIG_INTEGER_DIGITS = 4300  # past this, msgspec (like int()) refuses an integer


def scan_numbers(data: Any) -> tuple[int, int]:
    """``(numbers, exact)`` in a JSON document: how many numbers it holds, and how many of
    them a float might not write back as sent, so that they need exact decoding.

    A number with a fraction writes back as sent when it has no exponent, at most 15 digits
    (fewer than a double holds), a value of at least 1e-4 unless zero, and no trailing zero
    after its first decimal (``2.5``, ``0.001``, ``10.0``, not ``2.50``); every other one is
    counted in ``exact``, and so are integers too long for ``int``. Strings are skipped.
    (The compiled core runs the same rules in one pass in C.)
    """
    numbers = exact = 0
    for match in _TOKEN.finditer(bytes(data)):
        whole, fraction, exponent = match.groups()
        if whole is None:
            continue  # a string
        numbers += 1
        if fraction is None:
            if exponent is not None or len(whole) > _BIG_INTEGER_DIGITS:
                exact += 1
        elif (
            exponent is not None
            or len(whole) + len(fraction) > 15
            or (len(fraction) > 1 and fraction.endswith(b"0"))
            or (whole == b"0" and fraction.startswith(b"0000"))
        ):
            exact += 1
    return numbers, exact


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def decode_plain_payload(data: Any) -> Any:
    """A plain payload's value, numbers exact (``_wire.decode_plain_slow``), at a bounded cost:
    msgspec's own decode when no number needs more, else at most ``MAX_EXACT_NUMBERS``
    numbers decoded exactly (``ValueError`` past that)."""
    digits = bytes(data).translate(_DIGITS_AS_ZERO)
    if b"0." not in digits and b"0e" not in digits and b"0E" not in digits:
        # No fraction or exponent anywhere (strings included): only an integer too long
        # for msgspec could need more, and msgspec refuses those.
        try:
            return decode_native(data)
        except msgspec.ValidationError:
            pass
    numbers, exact = scan_numbers(data)
    if not exact:
        return decode_native(data)
    if numbers > MAX_EXACT_NUMBERS:
        raise too_many_exact_numbers(numbers)
    return decode_plain_slow(data)


_get_id = ID_SLOT.__get__
_set_id = ID_SLOT.__set__
_get_flow = FLOW_ID_SLOT.__get__
_set_flow = FLOW_ID_SLOT.__set__
_get_payload = PAYLOAD_SLOT.__get__
_set_current = current_event.set
_reset_current = current_event.reset

_TAIL = _answers.TAIL
_FLOW_KEY = _answers.FLOW_KEY
_PAYLOAD_KEY = _answers.PAYLOAD_KEY
# The object-valued slots and the rule each breaks when it holds something else.
_OBJECT_SLOTS = ((IDENTITY_SLOT, Rule.IDENTITY), (AUTH_SLOT, Rule.AUTH), (METADATA_SLOT, Rule.METADATA))


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
        if not isinstance(name, str) or not isinstance(version, int) or not isinstance(mode, int):
            raise TypeError("Route(name: str, version: int, handler, mode: int, decoder, is_async)")
        self.name = name
        self.version = version
        self.handler = handler
        self.mode = mode
        self.decoder = decoder
        self.decode: Callable[[Any], Any] | None = decoder.decode if decoder is not None else None
        self.is_async = bool(is_async)
        # The success answer up to the id, written once here instead of per event.
        self.prefix = _answers.ANSWER_HEAD % (_encode(name + ":response"), version)


class Pending:
    """An async handler's call in flight: what :meth:`Dispatcher.finish` (or ``fail``) needs
    to answer it once its ``awaitable`` is done. Only a dispatcher makes them."""

    __slots__ = ("awaitable", "event", "flow_raw", "id_raw", "route", "token")

    def __init__(self, route: Route, event: Any, id_raw: Raw, flow_raw: Raw, awaitable: Any, token: Any) -> None:
        self.route = route
        self.event = event
        self.id_raw = id_raw
        self.flow_raw = flow_raw
        self.awaitable = awaitable
        self.token = token  # the hooks' token of this call (see Dispatcher.hooks)


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

    A numeric-string version becomes an int; missing or null ids become fresh UUIDs, and
    null objects ``{}``. Returns 0, or the first :class:`~fastevents._wire.Rule` broken.
    """
    version = event.version
    if type(version) is not int:
        if not is_numeric_version(version):
            return Rule.VERSION
        event.version = int(version)
    first = memoryview(_get_id(event))[0]
    if first != QUOTE_BYTE:
        if first != NULL_BYTE:
            return Rule.ID
        _set_id(event, fresh_id_raw())
    first = memoryview(_get_flow(event))[0]
    if first != QUOTE_BYTE:
        if first != NULL_BYTE:
            return Rule.FLOW_ID
        _set_flow(event, fresh_id_raw())
    for slot, rule in _OBJECT_SLOTS:
        first = memoryview(slot.__get__(event))[0]
        if first != OBJECT_BYTE:
            if first != NULL_BYTE:
                return rule
            slot.__set__(event, EMPTY_OBJECT_RAW)  # null reads, and is written back, as {}
    return 0


_UNREADABLE = (None, None)
_EVENT_TYPES: set[type] = set()  # the event types the decoders were seen to give


def _read(body: Any, decode: Callable[[bytes], Any]) -> Any:
    """The checked event, or ``(reason, ids)`` saying why there is none.

    ``reason`` is ``(property, message)`` and ``ids`` the answer's raw ids, each ``None``
    when only a closer look at the body (``diagnose_envelope``) can tell.
    """
    if type(body) is not bytes:
        body = _as_bytes(body)
        if body is None:
            return NOT_BYTES, (fresh_id_raw(), fresh_id_raw())
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return NOT_UTF8, (fresh_id_raw(), fresh_id_raw())
    try:
        event = decode(body)
    except Exception:
        return _UNREADABLE
    if type(event) not in _EVENT_TYPES:  # a set lookup: isinstance() asks the metaclass
        if not isinstance(event, EventFields):
            raise TypeError(f"the envelope decoder gave {type(event).__name__}, not an event")
        _EVENT_TYPES.add(type(event))
    problem = _check(event)
    if problem:
        return RULES_BY_NUMBER[problem], None
    return event


def read_envelope(data: Any, decode: Callable[[bytes], Any]) -> Any:
    """``decode`` and check one envelope; raise :class:`InvalidEnvelopeError` if it is not one."""
    event = _read(data, decode)
    if type(event) is tuple:
        reason = event[0] or diagnose_envelope(data)[:2]
        raise InvalidEnvelopeError(*reason)
    return event


class Dispatcher:
    """Bytes in, bytes out, over a live routing table ``{(name, version): Route}``.

    ``decode`` reads one envelope into the wire type of the events handlers receive.
    ``hooks`` is ``None`` (nothing is observed, nothing is paid) or an object whose
    ``begin(event, route)`` is called once the envelope is read and routed (``None`` for
    what is unknown), in the handler's context right before the handler, and returns a
    token; ``token.end(answer, exc)`` is called once the answer is built.
    """

    __slots__ = ("__weakref__", "decode", "hooks", "table")

    def __init__(self, table: dict[tuple[str, int], Route], decode: Callable[[bytes], Any]) -> None:
        if not isinstance(table, dict) or not callable(decode):
            raise TypeError("Dispatcher(table: dict, decode: callable)")
        self.table = table
        self.decode = decode
        self.hooks: Any = None

    def dispatch(self, body: Any) -> bytes:
        """Answer one request: the answer bytes. Async handlers are run to completion."""
        return self._dispatch(body, False)  # type: ignore[no-any-return]

    def dispatch_async(self, body: Any) -> bytes | Pending:
        """Answer one request: the answer bytes, or, when the handler gave an awaitable, a
        :class:`Pending` for the caller to await and pass to :meth:`finish` (or :meth:`fail`)."""
        return self._dispatch(body, True)  # type: ignore[no-any-return]

    def _dispatch(self, body: Any, allow_async: bool) -> Any:
        hooks = self.hooks
        event = _read(body, self.decode)
        if type(event) is tuple:
            answer = _answers.bad_protocol(body, event[0], event[1])
            if hooks is not None:
                hooks.begin(None, None).end(answer, None)
            return answer
        id_raw = _get_id(event)
        flow_raw = _get_flow(event)
        version = event.version

        route = self.table.get((event.name, version))
        if route is None:
            answer = _answers.not_found(event.name, version, id_raw, flow_raw)
            if hooks is not None:
                hooks.begin(event, None).end(answer, None)
            return answer
        if type(route) is not Route:
            raise TypeError(f"the routing table holds a {type(route).__name__}, not a Route")

        mode = route.mode
        arg: Any = None
        problem: Exception | None = None
        if mode == MODE_TYPED:
            try:
                arg = route.decode(_get_payload(event))  # type: ignore[misc]  # set in MODE_TYPED
            except Exception as exc:
                problem = exc
        elif mode == MODE_PLAIN:
            try:
                arg = decode_plain_payload(_get_payload(event))
            except Exception as exc:
                problem = exc
            if problem is None:
                event.payload = arg  # the attribute protocol: msgspec starts GC-tracking the event
        elif mode == MODE_RAW:
            arg = _get_payload(event).copy()
        if problem is not None:
            answer = _answers.bad_request(route.name, version, id_raw, flow_raw, problem)
            if hooks is not None:
                hooks.begin(event, route).end(answer, problem)
            return answer

        token = _set_current(event)
        hook_token = None
        try:
            if hooks is not None:
                hook_token = hooks.begin(event, route)
            result = route.handler(event) if mode == MODE_EVENT else route.handler(event, arg)
            if route.is_async or (type(result) is not dict and isawaitable(result)):
                if allow_async:
                    return Pending(route, event, id_raw, flow_raw, result, hook_token)
                result = run_awaitable(result)
        except BaseException as exc:  # whatever a handler raises is its answer; see EventProcessor
            answer = _answers.error(route.name, version, id_raw, flow_raw, exc)
            if hook_token is not None:
                hook_token.end(answer, exc)
            return answer
        finally:
            _reset_current(token)
        answer = _finish(route, event, id_raw, flow_raw, result)
        if hook_token is not None:
            hook_token.end(answer, None)
        return answer

    def finish(self, pending: Pending, result: Any) -> bytes:
        """The answer to ``result``, what the pending handler returned."""
        _check_pending(pending)
        answer = _finish(pending.route, pending.event, pending.id_raw, pending.flow_raw, result)
        if pending.token is not None:  # it began with observers: it ends with the same ones
            pending.token.end(answer, None)
        return answer

    def fail(self, pending: Pending, exc: BaseException) -> bytes:
        """The answer to a pending handler that raised ``exc``."""
        _check_pending(pending)
        answer = _answers.error(pending.route.name, pending.event.version, pending.id_raw, pending.flow_raw, exc)
        if pending.token is not None:
            pending.token.end(answer, exc)
        return answer


def _check_pending(pending: Any) -> None:
    if type(pending) is not Pending or type(pending.route) is not Route:
        raise TypeError(f"expected a Pending made by a Dispatcher, got {type(pending).__name__}")


def _finish(route: Route, event: Any, id_raw: Raw, flow_raw: Raw, result: Any) -> bytes:
    if type(result) is not dict and isinstance(result, EventFields):
        return _answers.sent_as_is(route.name, event.version, id_raw, flow_raw, result)
    try:
        payload = _encode(result)
    except BaseException as exc:  # a type JSON cannot hold, or a failing __iter__...
        return _answers.error(route.name, event.version, id_raw, flow_raw, exc)
    return b"".join((route.prefix, id_raw, _FLOW_KEY, flow_raw, _PAYLOAD_KEY, payload, _TAIL))
