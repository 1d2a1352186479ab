"""OpenTelemetry for fastevents (the ``otel`` extra): traces that cross services, RPC metrics.

``FastEventsInstrumentor().instrument()`` registers one :class:`fastevents.EventObserver`
(every processor and ASGI app) and one :class:`fastevents.ClientObserver` (every
``EventClient`` and ``AsyncEventClient``); ``uninstrument()`` removes them. Until then nothing
in fastevents imports this module or OpenTelemetry, and dispatch runs its uninstrumented path.
The entry point ``opentelemetry_instrumentor: fastevents`` lets ``opentelemetry-instrument``
do it with no code change.

What is recorded (the RPC semantic conventions, ``rpc.system.name="events"``):

- a SERVER span per answered event, a CLIENT span per sent event, named ``<name>:V<version>``
  like ``rpc.method``. An event no route answers, or a body that is no envelope, has
  ``rpc.method="_OTHER"`` (unknown names cannot blow up cardinality), ``rpc.method_original``
  with what was sent, and the span name ``_OTHER`` too (as the package's API promises; the
  conventions would name it ``events``, their ``{rpc.system.name}``);
- ``rpc.status_code``: the answer's suffix (``response``, ``redirect``, ``badRequest``,
  ``eventNotFound``, ``badProtocol``, ``error``, ``notFound``, ...);
- ``error.type``, only when the event failed: the suffix of every error answer; on a client
  that got no answer, the exception's class (``fastevents.TimeoutException``,
  ``fastevents.EventConnectionError``, ``fastevents.FailedDependencyException``,
  ``fastevents.BadProtocolException``);
- ``events.id``, ``events.flow_id``, ``events.origin`` (``metadata.origin``), and ``enduser.id``
  only with ``record_user_id=True`` (personal data; also ``OTEL_PYTHON_FASTEVENTS_RECORD_USER_ID=true``);
- span status ERROR: on SERVER spans only for failures the server caused (an unhandled
  exception, a timeout, an ``EventException`` not raised with ``expected=True``), with the
  exception recorded on the span; answers the client caused (``badProtocol``,
  ``eventNotFound``, a payload's ``badRequest``) and expected ones are not errors there. On
  CLIENT spans every error answer and every client failure is an error;
- histograms ``rpc.server.call.duration`` and ``rpc.client.call.duration`` (seconds, the
  conventions' advisory buckets) with ``rpc.system.name``, ``rpc.method``,
  ``rpc.status_code`` and ``error.type``. A span lasts exactly the recorded duration.

Trace context: a client injects it with the global propagator into the HTTP headers and into
``metadata.trace`` (a flat object of strings, what the Kotlin implementation reads and
writes; the rest of ``metadata`` is kept). A server parents its span on the active span when
there is one (ASGI instrumentation, an in-process call inside a handler), else on the
context extracted from the HTTP headers, else on the one extracted from ``metadata.trace``.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Collection, Mapping
from time import perf_counter, time_ns
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.metrics import Meter, get_meter
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags, Tracer

from . import _errors, _logfilter
from ._observe import (
    SUCCESS,
    ClientCall,
    ClientObserver,
    EventCall,
    EventObserver,
    add_client_observer,
    add_observer,
    remove_client_observer,
    remove_observer,
)

__all__ = ["DatadogPropagator", "FastEventsInstrumentor"]

# The RPC conventions' names, spelled here: the specification renamed the status attribute
# `rpc.response.status_code` to `rpc.status_code` after its release 1.44.0, and the Python
# semantic-conventions package (0.66b2, release 1.44) still has the old name.
RPC_SYSTEM_NAME = "rpc.system.name"
RPC_METHOD = "rpc.method"
RPC_METHOD_ORIGINAL = "rpc.method_original"
RPC_STATUS_CODE = "rpc.status_code"
ENDUSER_ID = "enduser.id"
EVENTS_ID = "events.id"
EVENTS_FLOW_ID = "events.flow_id"
EVENTS_ORIGIN = "events.origin"
SYSTEM = "events"
OTHER = "_OTHER"
SERVER_DURATION = "rpc.server.call.duration"
CLIENT_DURATION = "rpc.client.call.duration"
#: The advisory bucket boundaries of the RPC duration histograms, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
RECORD_USER_ID_ENV = "OTEL_PYTHON_FASTEVENTS_RECORD_USER_ID"
#: Longest text an attribute taken from the wire keeps (characters): a span held by a slow
#: exporter must not hold a client's 500 KB id with it.
MAX_WIRE_ATTRIBUTE = 256


def _bounded(text: str) -> str:
    """Text from the wire (ids, names, origin, user id, answer suffixes), cut to size.

    The slice is a copy: the span never keeps the received string (nor what holds it) alive.
    """
    return text if len(text) <= MAX_WIRE_ATTRIBUTE else text[:MAX_WIRE_ATTRIBUTE]


_SERVER = SpanKind.SERVER
_CLIENT = SpanKind.CLIENT
_set_span_in_context = trace.set_span_in_context
_get_current_span = trace.get_current_span
_attach = otel_context.attach
_detach = otel_context.detach


class _TraceGetter(Getter[Mapping[str, Any]]):
    """Reads ``metadata.trace``: keys in any case (peers differ), string values only."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            wanted = key.lower()
            for name, item in carrier.items():
                if isinstance(name, str) and name.lower() == wanted:
                    value = item
                    break
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [name for name in carrier if isinstance(name, str)]


_trace_getter = _TraceGetter()


def _has_span(ctx: Context) -> bool:
    return _get_current_span(ctx).get_span_context().is_valid


def _parent(call: EventCall) -> Context | None:
    """The context a SERVER span starts in: ``None`` (the current one) when a span is active
    or nothing was propagated; else the headers' context, else ``metadata.trace``'s."""
    if _get_current_span().get_span_context().is_valid:
        return None
    headers = call.headers
    if headers:
        ctx = propagate.extract(headers)
        if _has_span(ctx):
            return ctx
    event = call.event
    if event is not None:
        try:
            metadata = event.metadata
        except Exception:  # an unreadable metadata object: the envelope's problem, not ours
            return None
        carrier = metadata.get("trace") if isinstance(metadata, dict) else None
        if isinstance(carrier, dict) and carrier:
            ctx = propagate.extract(carrier, getter=_trace_getter)
            if _has_span(ctx):
                return ctx
    return None


def _start_ns(start: float) -> int:
    """Wall-clock nanoseconds of the ``perf_counter()`` instant ``start``."""
    return time_ns() - int((perf_counter() - start) * 1e9)


def _error_class(exc: BaseException) -> str:
    """A low-cardinality name for an exception's class: the public one for fastevents'."""
    cls = type(exc)
    if cls.__module__ == _errors.__name__ and cls.__name__ in _errors.__all__:  # public as fastevents.<name>
        return f"fastevents.{cls.__name__}"
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _fail(span: Span, exc: BaseException | None) -> None:
    if exc is not None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, _bounded(f"{type(exc).__name__}: {exc}")))
    else:
        span.set_status(Status(StatusCode.ERROR))


class _Metric:
    """One duration histogram, with its attribute sets built once per distinct outcome."""

    def __init__(self, meter: Meter, name: str, direction: str) -> None:
        self._record = meter.create_histogram(
            name,
            unit="s",
            description=f"Measures the duration of an {direction} Remote Procedure Call (RPC).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ).record
        self._attributes: dict[tuple[str, str | None, str | None], dict[str, str]] = {}

    def record(self, seconds: float, method: str, status: str | None, error_type: str | None) -> None:
        key = (method, status, error_type)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = {RPC_SYSTEM_NAME: SYSTEM, RPC_METHOD: method}
            if status is not None:
                attributes[RPC_STATUS_CODE] = status
            if error_type is not None:
                attributes[ERROR_TYPE] = error_type
            if len(self._attributes) < 4096:  # bounded: methods are routes or _OTHER
                self._attributes[key] = attributes
        self._record(seconds, attributes)


class _ServerObserver(EventObserver):
    """A SERVER span and a ``rpc.server.call.duration`` measurement per answered event."""

    def __init__(self, tracer: Tracer, meter: Meter, record_user_id: bool) -> None:
        self._start_span = tracer.start_span
        self._metric = _Metric(meter, SERVER_DURATION, "incoming")
        self._record_user_id = record_user_id

    def event_started(self, call: EventCall) -> Any:
        name = call.name
        method = f"{name}:V{call.version}" if call.routed else OTHER
        attributes: dict[str, Any] = {RPC_SYSTEM_NAME: SYSTEM, RPC_METHOD: method}
        if not call.routed and name is not None:
            attributes[RPC_METHOD_ORIGINAL] = _bounded(name if call.version is None else f"{name}:V{call.version}")
        if call.id is not None:
            attributes[EVENTS_ID] = _bounded(call.id)
        if call.flow_id is not None:
            attributes[EVENTS_FLOW_ID] = _bounded(call.flow_id)
        event = call.event
        if event is not None:
            try:
                origin = event.origin
                user_id = event.user_id_as_str if self._record_user_id else None
            except Exception:  # metadata or identity that is no object: nothing to tag
                origin = user_id = None
            if isinstance(origin, str):
                attributes[EVENTS_ORIGIN] = _bounded(origin)
            if user_id is not None:
                attributes[ENDUSER_ID] = _bounded(user_id)
        parent = _parent(call)
        start = _start_ns(call.start)
        span = self._start_span(method, parent, _SERVER, attributes, start_time=start)
        token = _attach(_set_span_in_context(span, parent))
        return span, token, method, start

    def event_ended(self, call: EventCall, state: Any) -> None:
        span, token, method, start = state
        try:
            status = _bounded(call.status)  # a handler may answer any name (a ResponseEvent)
            error_type = None
            span.set_attribute(RPC_STATUS_CODE, status)
            if status not in SUCCESS:
                error_type = status
                span.set_attribute(ERROR_TYPE, status)
                if not call.client_caused and not call.expected:
                    _fail(span, call.exception)
            duration = call.duration
            self._metric.record(duration, method, status, error_type)
            span.end(start + int(duration * 1e9))
        finally:
            _detach(token)


class _ClientObserver(ClientObserver):
    """A CLIENT span, the trace context injected, and a ``rpc.client.call.duration``
    measurement per sent event."""

    def __init__(self, tracer: Tracer, meter: Meter) -> None:
        self._start_span = tracer.start_span
        self._metric = _Metric(meter, CLIENT_DURATION, "outgoing")
        self._servers: dict[str, dict[str, Any]] = {}

    def _server(self, url: str) -> dict[str, Any]:
        """``server.address`` and ``server.port`` of a URL, parsed once per URL."""
        found = self._servers.get(url)
        if found is None:
            found = {}
            try:
                parts = urlsplit(url)
                if parts.hostname:
                    found[SERVER_ADDRESS] = parts.hostname
                    found[SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                pass
            if len(self._servers) < 1024:
                self._servers[url] = found
        return found

    def request_started(self, call: ClientCall) -> Any:
        method = _bounded(f"{call.name}:V{call.version}")  # a name forwarded from a request
        attributes: dict[str, Any] = {RPC_SYSTEM_NAME: SYSTEM, RPC_METHOD: method, **self._server(call.url)}
        if call.id is not None:
            attributes[EVENTS_ID] = _bounded(call.id)
        if call.flow_id is not None:
            attributes[EVENTS_FLOW_ID] = _bounded(call.flow_id)
        metadata = call.metadata
        origin = metadata.get("origin")
        if isinstance(origin, str):
            attributes[EVENTS_ORIGIN] = _bounded(origin)
        start = _start_ns(call.start)
        span = self._start_span(method, None, _CLIENT, attributes, start_time=start)
        ctx = _set_span_in_context(span)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, ctx)
        if carrier:
            call.headers.update(carrier)
            previous = metadata.get("trace")
            metadata["trace"] = {**previous, **carrier} if isinstance(previous, dict) else carrier
        return span, _attach(ctx), method, start

    def request_ended(self, call: ClientCall, state: Any) -> None:
        span, token, method, start = state
        try:
            status = call.status
            exc = call.exception
            error_type = None
            if status is not None:
                status = _bounded(status)  # the answer's suffix, as the server sent it
                span.set_attribute(RPC_STATUS_CODE, status)
                if status not in SUCCESS:
                    error_type = status
            elif exc is not None:
                error_type = _error_class(exc)
            if error_type is not None:
                span.set_attribute(ERROR_TYPE, error_type)
                _fail(span, exc)
            duration = call.duration
            self._metric.record(duration, method, status, error_type)
            span.end(start + int(duration * 1e9))
        finally:
            _detach(token)


def _span_ids() -> tuple[str, str] | None:
    """The current span's ids for :class:`fastevents.EventContextFilter`."""
    ctx = _get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _version() -> str:
    """The installed distribution's version, for the tracer's and meter's scope."""
    try:
        return importlib.metadata.version("fastevents-protocol")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return ""


class FastEventsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and RPC metrics for every fastevents processor, ASGI app and client.

    ``instrument(tracer_provider=None, meter_provider=None, record_user_id=False)``: the
    global providers unless given; ``record_user_id=True`` adds ``enduser.id`` (personal
    data, off by default; ``OTEL_PYTHON_FASTEVENTS_RECORD_USER_ID=true`` for
    ``opentelemetry-instrument``). ``uninstrument()`` puts the uninstrumented path back.
    Like every ``BaseInstrumentor`` it is a singleton.
    """

    _server_observer: _ServerObserver | None = None
    _client_observer: _ClientObserver | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("fastevents-protocol >= 0.1",)

    def _instrument(self, **kwargs: Any) -> None:
        version = _version()
        tracer = trace.get_tracer(__name__, version, kwargs.get("tracer_provider"))
        meter = get_meter(__name__, version, kwargs.get("meter_provider"))
        record_user_id = kwargs.get("record_user_id")
        if record_user_id is None:
            record_user_id = os.environ.get(RECORD_USER_ID_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        self._server_observer = _ServerObserver(tracer, meter, bool(record_user_id))
        self._client_observer = _ClientObserver(tracer, meter)
        add_observer(self._server_observer)
        add_client_observer(self._client_observer)
        _logfilter.span_ids = _span_ids

    def _uninstrument(self, **kwargs: Any) -> None:
        _logfilter.span_ids = None
        if self._server_observer is not None:
            remove_observer(self._server_observer)
            self._server_observer = None
        if self._client_observer is not None:
            remove_client_observer(self._client_observer)
            self._client_observer = None


# --- Datadog's own trace context, for peers that speak nothing else ----------------------------

_MASK64 = (1 << 64) - 1


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


class DatadogPropagator(TextMapPropagator):
    """Reads and writes Datadog's ``x-datadog-*`` keys, what dd-trace injects when W3C trace
    context is off (older agents and tracers). ``OTEL_PROPAGATORS=tracecontext,baggage,datadog``
    (the name is registered as an ``opentelemetry_propagator`` entry point) makes fastevents
    write and read both, in the headers and in ``metadata.trace``.

    Datadog ids are decimal and 64-bit: a 128-bit trace id travels as its low 64 bits, its high
    64 bits in ``x-datadog-tags`` (``_dd.p.tid``, what recent dd-trace versions send), so a
    peer that passes the tags on keeps the whole id. A missing
    ``x-datadog-sampling-priority`` leaves the decision to this side (sampled); ``0`` and ``-1``
    mean dropped, as in dd-trace.
    """

    TRACE_ID = "x-datadog-trace-id"
    PARENT_ID = "x-datadog-parent-id"
    SAMPLING_PRIORITY = "x-datadog-sampling-priority"
    TAGS = "x-datadog-tags"

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        if context is None:
            context = Context()
        try:
            low = int(_first(getter.get(carrier, self.TRACE_ID)) or "")
            span_id = int(_first(getter.get(carrier, self.PARENT_ID)) or "")
        except ValueError:
            return context
        if not (0 < low <= _MASK64 and 0 < span_id <= _MASK64):
            return context
        high = 0
        for tag in (_first(getter.get(carrier, self.TAGS)) or "").split(","):
            key, _, value = tag.partition("=")
            if key.strip() == "_dd.p.tid":
                try:
                    high = int(value.strip(), 16) & _MASK64
                except ValueError:
                    high = 0
        priority = _first(getter.get(carrier, self.SAMPLING_PRIORITY))
        try:
            sampled = priority is None or int(priority) > 0
        except ValueError:
            sampled = True
        flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        span_context = SpanContext((high << 64) | low, span_id, is_remote=True, trace_flags=flags)
        return trace.set_span_in_context(NonRecordingSpan(span_context), context)

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        span_context = _get_current_span(context).get_span_context()
        if not span_context.is_valid:
            return
        setter.set(carrier, self.TRACE_ID, str(span_context.trace_id & _MASK64))
        setter.set(carrier, self.PARENT_ID, str(span_context.span_id))
        setter.set(carrier, self.SAMPLING_PRIORITY, "1" if span_context.trace_flags.sampled else "0")
        high = span_context.trace_id >> 64
        if high:
            setter.set(carrier, self.TAGS, f"_dd.p.tid={high:016x}")

    @property
    def fields(self) -> set[str]:
        return {self.TRACE_ID, self.PARENT_ID, self.SAMPLING_PRIORITY, self.TAGS}
