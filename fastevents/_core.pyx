# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, binding=False, auto_pickle=False
"""The dispatch core, compiled: the twin of ``_core_py.py`` (read that file first).

Same routes, same answers, same calls into ``_answers`` off the hot path, same layers: it
imports only ``_wire``, ``_errors``, ``_context``, ``_sync`` and ``_answers``. What compiling
buys is in the details of the hot path: the event's slots are read at their C offsets, raw
slices are checked without Python objects, the body's ASCII check runs a word at a time,
the current event is set through the C context-variable API, and the answer is assembled
with one allocation and a few ``memcpy``. Each trick that reads another library's memory
layout is checked at import and measured to pay at least 3% of a dispatch (BENCHMARKS.md).
Every Python-visible entry point checks its arguments' types: junk raises TypeError, never
reads memory it should not. ``binding=False`` makes the methods CPython method descriptors,
which check ``self`` (Cython's binding functions do not: ``Dispatcher.dispatch(None, b"")``
read ``None`` as a dispatcher); ``auto_pickle=False`` drops the generated ``__setstate__``,
which indexed its state unchecked. Dispatch time is unchanged (measured, interleaved).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.contextvars cimport PyContextVar_Reset, PyContextVar_Set
from cpython.object cimport PyObject, PyObject_TypeCheck, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from inspect import isawaitable as _isawaitable

from msgspec import Raw

from . import _answers
from ._context import current_event
from ._errors import InvalidEnvelopeError
from ._sync import run_awaitable
from ._wire import (
    AUTH_SLOT, EMPTY_OBJECT_RAW, FLOW_ID_SLOT, ID_SLOT, IDENTITY_SLOT, METADATA_SLOT, NAME_SLOT, NOT_BYTES,
    NOT_UTF8, NULL_BYTE, OBJECT_BYTE, PAYLOAD_SLOT, QUOTE_BYTE, RULES_BY_NUMBER, VERSION_SLOT, EventFields, Rule,
    decode_plain_slow, diagnose_envelope, encode, fresh_id_raw, is_numeric_version,
    MODE_EVENT, MODE_PLAIN, MODE_RAW, MODE_TYPED, MAX_EXACT_NUMBERS, decode_native, too_many_exact_numbers,
)

__all__ = [
    "MODE_EVENT", "MODE_PLAIN", "MODE_RAW", "MODE_TYPED", "Dispatcher", "Pending", "Route",
    "decode_plain_payload", "read_envelope", "scan_numbers",
]

cdef extern from "Python.h":
    int PyObject_GC_IsTracked(object)
    void PyObject_GC_Track(object)


# --- the event's slots, at their C offsets ------------------------------------------------
# msgspec stores Struct fields as member slots; their offsets come from the fields' member
# descriptors (CPython's PyMemberDef), checked once here. Reading a slot at its offset skips
# the attribute lookup through the type's MRO (what it buys: BENCHMARKS.md, "What the
# compiled core's tricks buy", made by benchmarks/core_tricks.py). It is sound only for
# events, so every entry point checks that what it reads is one (``_read`` after the
# caller's decode, ``Pending``).

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    int T_OBJECT_EX

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member


cdef Py_ssize_t _offset(object descriptor) except -1:
    # If msgspec ever stores fields otherwise, refuse to load: the pure core takes over, loudly.
    if type(descriptor) is not _MemberDescriptorType:
        raise ImportError("msgspec Struct fields are not member slots")
    cdef PyMemberDef *member = (<PyMemberDescrObject*><PyObject*>descriptor).d_member
    if member.type != T_OBJECT_EX:
        raise ImportError("unexpected msgspec Struct slot kind")
    return member.offset


cdef object _MemberDescriptorType = type(ID_SLOT)
cdef Py_ssize_t _NAME = _offset(NAME_SLOT), _VERSION = _offset(VERSION_SLOT)
cdef Py_ssize_t _ID = _offset(ID_SLOT), _FLOW_ID = _offset(FLOW_ID_SLOT), _PAYLOAD = _offset(PAYLOAD_SLOT)
cdef Py_ssize_t _IDENTITY = _offset(IDENTITY_SLOT), _AUTH = _offset(AUTH_SLOT), _METADATA = _offset(METADATA_SLOT)


cdef inline object slot_get(object event, Py_ssize_t offset):
    cdef PyObject *value = (<PyObject**>((<char*><PyObject*>event) + offset))[0]
    if value == NULL:  # pragma: no cover - msgspec always fills every field
        raise AttributeError("unset field")
    return <object>value


cdef inline int slot_set(object event, Py_ssize_t offset, object value) except -1:
    cdef PyObject **where = <PyObject**>((<char*><PyObject*>event) + offset)
    cdef PyObject *old = where[0]
    Py_INCREF(value)
    where[0] = <PyObject*>value
    Py_XDECREF(old)
    return 0


# The offsets are about memory; make sure they also read what Python reads.
_probe = EventFields(name="probe", version=7, id="i", flow_id="f", payload=1, identity={}, auth={}, metadata={})
if (slot_get(_probe, _NAME), slot_get(_probe, _VERSION), slot_get(_probe, _ID), slot_get(_probe, _FLOW_ID),
        slot_get(_probe, _PAYLOAD), slot_get(_probe, _METADATA)) != ("probe", 7, "i", "f", 1, {}):
    raise ImportError("msgspec Struct slot layout not understood")
del _probe


# --- everything else the hot path calls, bound once ----------------------------------------

cdef object _decode_plain_slow = decode_plain_slow
cdef object _decode_native = decode_native
cdef object _too_many_exact_numbers = too_many_exact_numbers
cdef Py_ssize_t _MAX_EXACT_NUMBERS = MAX_EXACT_NUMBERS
cdef object _encode = encode
cdef object _current = current_event
cdef object _Raw = Raw
cdef object _EventFields = EventFields
cdef object _bad_protocol = _answers.bad_protocol
cdef object _not_found = _answers.not_found
cdef object _bad_request = _answers.bad_request
cdef object _error = _answers.error
cdef object _sent_as_is = _answers.sent_as_is
cdef object _is_numeric_version = is_numeric_version
cdef object _run_awaitable = run_awaitable
cdef tuple _RULES = RULES_BY_NUMBER
cdef object _EMPTY_OBJECT_RAW = EMPTY_OBJECT_RAW
cdef object _diagnose = diagnose_envelope
cdef object _InvalidEnvelopeError = InvalidEnvelopeError
cdef tuple _NOT_BYTES = NOT_BYTES
cdef tuple _NOT_UTF8 = NOT_UTF8

cdef int _QUOTE = QUOTE_BYTE, _OBJECT = OBJECT_BYTE, _NULL = NULL_BYTE
cdef int _RULE_VERSION = Rule.VERSION, _RULE_ID = Rule.ID, _RULE_FLOW_ID = Rule.FLOW_ID
cdef int _RULE_IDENTITY = Rule.IDENTITY, _RULE_AUTH = Rule.AUTH, _RULE_METADATA = Rule.METADATA

cdef bytes _TAIL = _answers.TAIL
cdef bytes _FLOW_KEY = _answers.FLOW_KEY
cdef bytes _PAYLOAD_KEY = _answers.PAYLOAD_KEY
cdef int _MODE_EVENT = MODE_EVENT
cdef int _MODE_PLAIN = MODE_PLAIN
cdef int _MODE_TYPED = MODE_TYPED
cdef int _MODE_RAW = MODE_RAW


cdef class Route:
    """One registered (name, version): its handler and how to call it."""

    cdef readonly str name
    cdef readonly object version
    cdef readonly object handler
    cdef readonly int mode
    cdef readonly object decoder
    cdef readonly object decode
    cdef readonly bint is_async
    cdef readonly bytes prefix

    def __init__(self, str name not None, version, handler, int mode, decoder, bint is_async):
        if type(version) is not int:
            raise TypeError("Route version must be an int")
        self.name = name
        self.version = version
        self.handler = handler
        self.mode = mode
        self.decoder = decoder
        self.decode = decoder.decode if decoder is not None else None
        self.is_async = is_async
        self.prefix = _answers.ANSWER_HEAD % (_encode(name + ":response"), version)


cdef class Pending:
    """An async handler's call in flight (see ``_core_py.Pending``). Only a dispatcher makes
    them: one built from Python is empty, and ``finish``/``fail`` refuse it."""

    cdef readonly Route route
    cdef readonly object event
    cdef readonly object id_raw
    cdef readonly object flow_raw
    cdef readonly object awaitable
    cdef readonly object token


cdef Pending _pending(Route route, object event, object id_raw, object flow_raw, object awaitable, object token):
    cdef Pending pending = Pending.__new__(Pending)
    pending.route = route
    pending.event = event
    pending.id_raw = id_raw
    pending.flow_raw = flow_raw
    pending.awaitable = awaitable
    pending.token = token
    return pending


# --- raw slices -----------------------------------------------------------------------------
# msgspec's Raw object (its src/msgspec/_core.c): read directly when the probe below finds
# the layout, through the buffer protocol otherwise (what direct reads buy: BENCHMARKS.md,
# "What the compiled core's tricks buy").

ctypedef struct RawObject:
    Py_ssize_t ob_refcnt
    void *ob_type
    void *base
    char *buf
    Py_ssize_t len

cdef bint _RAW_DIRECT = False


cdef inline const unsigned char *_raw_data(object raw, Py_ssize_t *size) except NULL:
    # The bytes of a msgspec.Raw. They stay valid while ``raw`` is referenced.
    cdef Py_buffer view
    if _RAW_DIRECT:
        size[0] = (<RawObject*><void*>raw).len
        return <const unsigned char*>(<RawObject*><void*>raw).buf
    PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
    size[0] = view.len
    PyBuffer_Release(&view)
    return <const unsigned char*>view.buf

cdef bint _raw_layout_known():
    cdef Py_ssize_t size
    cdef const unsigned char *data
    probe = Raw(b'{"probe": [1, 2, 3]}')
    data = _raw_data(probe, &size)  # through the buffer protocol: _RAW_DIRECT is still False
    return (<RawObject*><void*>probe).buf == <char*>data and (<RawObject*><void*>probe).len == size


_RAW_DIRECT = _raw_layout_known()

cdef inline int _first_byte(object raw) except -2:
    cdef Py_ssize_t size
    cdef const unsigned char *data
    if type(raw) is not _Raw:
        return -1
    data = _raw_data(raw, &size)
    return data[0] if size > 0 else -1


cdef object _as_bytes(object body):
    # Text, or a bytes-like body; nothing else (bytes(5) would be five zero bytes).
    if isinstance(body, str):
        try:
            return (<str>body).encode()
        except UnicodeEncodeError:
            return None
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    return None


cdef bytes _assemble(bytes prefix, object id_raw, object flow_raw, bytes payload):
    cdef Py_ssize_t n_id, n_flow
    cdef const unsigned char *id_data = _raw_data(id_raw, &n_id)
    cdef const unsigned char *flow_data = _raw_data(flow_raw, &n_flow)
    cdef Py_ssize_t n_prefix = PyBytes_GET_SIZE(prefix)
    cdef Py_ssize_t n_payload = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t n_tail = PyBytes_GET_SIZE(_TAIL)
    cdef Py_ssize_t n_flow_key = PyBytes_GET_SIZE(_FLOW_KEY)
    cdef Py_ssize_t n_payload_key = PyBytes_GET_SIZE(_PAYLOAD_KEY)
    cdef bytes out = PyBytes_FromStringAndSize(
        NULL, n_prefix + n_id + n_flow_key + n_flow + n_payload_key + n_payload + n_tail
    )
    cdef char *w = PyBytes_AS_STRING(out)
    memcpy(w, PyBytes_AS_STRING(prefix), n_prefix); w += n_prefix
    memcpy(w, id_data, n_id); w += n_id
    memcpy(w, PyBytes_AS_STRING(_FLOW_KEY), n_flow_key); w += n_flow_key
    memcpy(w, flow_data, n_flow); w += n_flow
    memcpy(w, PyBytes_AS_STRING(_PAYLOAD_KEY), n_payload_key); w += n_payload_key
    memcpy(w, PyBytes_AS_STRING(payload), n_payload); w += n_payload
    memcpy(w, PyBytes_AS_STRING(_TAIL), n_tail)
    return out


cdef inline bint _object_or_null(object event, Py_ssize_t slot) except -1:
    # An object, or null, which then reads (and is written back) as {}.
    cdef int first = _first_byte(slot_get(event, slot))
    if first == _NULL:
        slot_set(event, slot, _EMPTY_OBJECT_RAW)
        return True
    return first == _OBJECT


cdef int _check(object event) except -1:
    # The envelope rules a typed decode cannot express, on the raw slices, in place
    # (see _core_py._check): 0, or the first Rule broken.
    cdef object version = slot_get(event, _VERSION)
    cdef int first
    if type(version) is not int:
        if not _is_numeric_version(version):
            return _RULE_VERSION
        slot_set(event, _VERSION, int(version))
    first = _first_byte(slot_get(event, _ID))
    if first != _QUOTE:
        if first != _NULL:
            return _RULE_ID
        slot_set(event, _ID, fresh_id_raw())
    first = _first_byte(slot_get(event, _FLOW_ID))
    if first != _QUOTE:
        if first != _NULL:
            return _RULE_FLOW_ID
        slot_set(event, _FLOW_ID, fresh_id_raw())
    if not _object_or_null(event, _IDENTITY):
        return _RULE_IDENTITY
    if not _object_or_null(event, _AUTH):
        return _RULE_AUTH
    if not _object_or_null(event, _METADATA):
        return _RULE_METADATA
    return 0


cdef inline bint _is_ascii(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    # A word at a time, instead of calling bytes.isascii() (what it buys: BENCHMARKS.md,
    # "What the compiled core's tricks buy": about 3%, at the keep-or-drop line).
    cdef Py_ssize_t i = 0
    cdef uint64_t word, acc = 0
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        acc |= word
        i += 8
    while i < n:
        acc |= p[i]
        i += 1
    return (acc & <uint64_t>0x8080808080808080ULL) == 0

cdef tuple _UNREADABLE = (None, None)


# --- plain payloads: exact numbers at a bounded cost (see _core_py.scan_numbers) -------------

cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef Py_ssize_t _scan(const unsigned char *p, Py_ssize_t n, Py_ssize_t *exact) noexcept nogil:
    # The numbers of a JSON document, and (in exact) how many need exact decoding: the rules
    # of _core_py.scan_numbers, in one pass and no Python object.
    cdef Py_ssize_t i = 0, numbers = 0, whole, start, fraction
    cdef unsigned char c
    cdef bint needs
    exact[0] = 0
    while i < n:
        c = p[i]
        if c == 34:  # a string: skipped, escapes included
            i += 1
            while i < n and p[i] != 34:
                i += 2 if p[i] == 92 else 1
            i += 1
            continue
        if c != 45 and not _is_digit(c):
            i += 1
            continue
        if c == 45:
            i += 1
        start = i
        while i < n and _is_digit(p[i]):
            i += 1
        whole = i - start
        if whole == 0:
            continue  # a lone minus sign: not a number
        numbers += 1
        needs = whole > 4300
        if i < n and p[i] == 46:  # a fraction
            i += 1
            start = i
            while i < n and _is_digit(p[i]):
                i += 1
            fraction = i - start
            if whole + fraction > 15 or (fraction > 1 and p[i - 1] == 48):
                needs = True
            elif whole == 1 and p[start - 2] == 48 and fraction >= 4 and p[start] == 48 and p[start + 1] == 48 \
                    and p[start + 2] == 48 and p[start + 3] == 48:
                needs = True  # below 1e-4: a float writes it with an exponent
        if i < n and (p[i] == 101 or p[i] == 69):  # an exponent
            needs = True
            i += 1
            if i < n and (p[i] == 43 or p[i] == 45):
                i += 1
            while i < n and _is_digit(p[i]):
                i += 1
        if needs:
            exact[0] += 1
    return numbers


def scan_numbers(data):
    """``(numbers, exact)`` in a JSON document (see ``_core_py.scan_numbers``)."""
    cdef Py_buffer view
    cdef Py_ssize_t numbers, exact
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        numbers = _scan(<const unsigned char*>view.buf, view.len, &exact)
    finally:
        PyBuffer_Release(&view)
    return numbers, exact


cdef object _plain_payload(object raw):
    # What decode_plain_payload does, for a Raw slice read in place.
    cdef Py_ssize_t size, numbers, exact
    cdef const unsigned char *data
    if type(raw) is _Raw:
        data = _raw_data(raw, &size)
        numbers = _scan(data, size, &exact)
    else:
        numbers, exact = scan_numbers(raw)
    if exact == 0:
        return _decode_native(raw)
    if numbers > _MAX_EXACT_NUMBERS:
        raise _too_many_exact_numbers(numbers)
    return _decode_plain_slow(raw)


def decode_plain_payload(data):
    """A plain payload's value, exact numbers at a bounded cost (see ``_core_py``)."""
    return _plain_payload(data)


cdef object _read(object body, object decode):
    # The checked event, or (reason, ids) saying why there is none (see _core_py._read).
    cdef int problem
    if type(body) is not bytes:
        body = _as_bytes(body)
        if body is None:
            return _NOT_BYTES, (fresh_id_raw(), fresh_id_raw())
    if not _is_ascii(<const unsigned char*>PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body)):
        try:
            (<bytes>body).decode()
        except UnicodeDecodeError:
            return _NOT_UTF8, (fresh_id_raw(), fresh_id_raw())
    try:
        event = decode(body)
    except Exception:
        return _UNREADABLE
    # The slots are read at their offsets below. PyObject_TypeCheck, not isinstance(): the
    # latter asks the metaclass's __instancecheck__, 600 instructions a dispatch (callgrind).
    if not PyObject_TypeCheck(event, <PyTypeObject*>_EventFields):
        raise TypeError(f"the envelope decoder gave {type(event).__name__}, not an event")
    problem = _check(event)
    if problem:
        return _RULES[problem], None
    return event


def read_envelope(data, decode):
    """``decode`` and check one envelope; raise InvalidEnvelopeError if it is not one."""
    event = _read(data, decode)
    if type(event) is tuple:
        reason = (<tuple>event)[0] or _diagnose(data)[:2]
        raise _InvalidEnvelopeError(*reason)
    return event


cdef class Dispatcher:
    """Bytes in, bytes out, over a live routing table ``{(name, version): Route}``."""

    cdef readonly dict table
    cdef readonly object decode
    cdef public object hooks  # see _core_py.Dispatcher
    cdef object __weakref__  # processors' dispatchers are watched weakly (_observe)

    def __init__(self, dict table not None, decode):
        if not callable(decode):
            raise TypeError("Dispatcher(table: dict, decode: callable)")
        self.table = table
        self.decode = decode
        self.hooks = None

    def dispatch(self, body):
        """Answer one request (see ``_core_py.Dispatcher.dispatch``)."""
        return self._dispatch(body, False)

    def dispatch_async(self, body):
        """Answer one request, or hand back a Pending (see ``_core_py``)."""
        return self._dispatch(body, True)

    cdef object _dispatch(self, object body, bint allow_async):
        cdef object event, id_raw, flow_raw, version, name, arg = None, result, token, answer
        cdef object hooks = self.hooks, hook_token = None, problem = None
        cdef Route route
        cdef int mode
        event = _read(body, self.decode)
        if type(event) is tuple:
            answer = _bad_protocol(body, (<tuple>event)[0], (<tuple>event)[1])
            if hooks is not None:
                hooks.begin(None, None).end(answer, None)
            return answer
        id_raw = slot_get(event, _ID)
        flow_raw = slot_get(event, _FLOW_ID)
        version = slot_get(event, _VERSION)
        name = slot_get(event, _NAME)
        found = self.table.get((name, version))
        if found is None:
            answer = _not_found(name, version, id_raw, flow_raw)
            if hooks is not None:
                hooks.begin(event, None).end(answer, None)
            return answer
        route = <Route?>found  # checked: a table of the other core's routes raises, not crashes

        mode = route.mode
        if mode == _MODE_TYPED:
            try:
                arg = route.decode(slot_get(event, _PAYLOAD))
            except Exception as exc:
                problem = exc
        elif mode == _MODE_PLAIN:
            try:
                arg = _plain_payload(slot_get(event, _PAYLOAD))
            except Exception as exc:
                problem = exc
            if problem is None:
                slot_set(event, _PAYLOAD, arg)
                if not PyObject_GC_IsTracked(event):  # it now holds a container: see _model._lazy
                    PyObject_GC_Track(event)
        elif mode == _MODE_RAW:
            arg = slot_get(event, _PAYLOAD).copy()
        if problem is not None:
            answer = _bad_request(route.name, version, id_raw, flow_raw, problem)
            if hooks is not None:
                hooks.begin(event, route).end(answer, problem)
            return answer

        token = PyContextVar_Set(_current, event)
        try:
            if hooks is not None:
                hook_token = hooks.begin(event, route)
            if mode == _MODE_EVENT:
                result = route.handler(event)
            else:
                result = route.handler(event, arg)
            if route.is_async or (type(result) is not dict and _isawaitable(result)):
                if allow_async:
                    return _pending(route, event, id_raw, flow_raw, result, hook_token)
                result = _run_awaitable(result)
        except BaseException as exc:  # whatever a handler raises is its answer; see EventProcessor
            answer = _error(route.name, version, id_raw, flow_raw, exc)
            if hook_token is not None:
                hook_token.end(answer, exc)
            return answer
        finally:
            PyContextVar_Reset(_current, token)
        answer = _finish(route, event, id_raw, flow_raw, result)
        if hook_token is not None:
            hook_token.end(answer, None)
        return answer

    def finish(self, Pending pending not None, result):
        """The answer to ``result``, what the pending handler returned."""
        if pending.route is None:
            raise TypeError("expected a Pending made by a Dispatcher")
        answer = _finish(pending.route, pending.event, pending.id_raw, pending.flow_raw, result)
        if pending.token is not None:  # it began with observers: it ends with the same ones
            pending.token.end(answer, None)
        return answer

    def fail(self, Pending pending not None, exc):
        """The answer to a pending handler that raised ``exc``."""
        if pending.route is None:
            raise TypeError("expected a Pending made by a Dispatcher")
        answer = _error(pending.route.name, slot_get(pending.event, _VERSION), pending.id_raw, pending.flow_raw, exc)
        if pending.token is not None:
            pending.token.end(answer, exc)
        return answer


cdef bytes _finish(Route route, object event, object id_raw, object flow_raw, object result):
    cdef bytes payload
    if type(result) is not dict and isinstance(result, _EventFields):
        return _sent_as_is(route.name, slot_get(event, _VERSION), id_raw, flow_raw, result)
    try:
        payload = _encode(result)
    except BaseException as exc:  # a type JSON cannot hold, or a failing __iter__...
        return _error(route.name, slot_get(event, _VERSION), id_raw, flow_raw, exc)
    return _assemble(route.prefix, id_raw, flow_raw, payload)
