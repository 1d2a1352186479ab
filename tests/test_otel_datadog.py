"""DatadogPropagator: peers on dd-trace without W3C trace context join the same trace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from types import ModuleType

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fastevents import EventProcessor
from fastevents.otel import DatadogPropagator

from .helpers_http import PYTHON, ROOT
from .test_otel import Telemetry, envelope, outcome_router

TRACE_128 = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN = 0x00F067AA0BA902B7


def context_of(trace_id: int, span_id: int, sampled: bool = True) -> object:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))
    return trace.set_span_in_context(span)


def test_inject_writes_decimal_64_bit_ids_and_the_high_bits_in_tags() -> None:
    carrier: dict[str, str] = {}
    DatadogPropagator().inject(carrier, context_of(TRACE_128, SPAN))  # type: ignore[arg-type]
    assert carrier == {
        "x-datadog-trace-id": str(TRACE_128 & (2**64 - 1)),
        "x-datadog-parent-id": str(SPAN),
        "x-datadog-sampling-priority": "1",
        "x-datadog-tags": "_dd.p.tid=4bf92f3577b34da6",
    }


def test_a_128_bit_trace_id_survives_a_round_trip() -> None:
    propagator = DatadogPropagator()
    carrier: dict[str, str] = {}
    propagator.inject(carrier, context_of(TRACE_128, SPAN, sampled=False))  # type: ignore[arg-type]
    extracted = trace.get_current_span(propagator.extract(carrier)).get_span_context()
    assert (extracted.trace_id, extracted.span_id, extracted.is_remote) == (TRACE_128, SPAN, True)
    assert not extracted.trace_flags.sampled


@pytest.mark.parametrize(
    ("carrier", "expected"),
    [
        ({"x-datadog-trace-id": "1234", "x-datadog-parent-id": "5678"}, (1234, 5678, True)),  # older dd-trace
        (
            {"x-datadog-trace-id": "1234", "x-datadog-parent-id": "5678", "x-datadog-sampling-priority": "2"},
            (1234, 5678, True),
        ),
        (
            {"x-datadog-trace-id": "1234", "x-datadog-parent-id": "5678", "x-datadog-sampling-priority": "-1"},
            (1234, 5678, False),
        ),
        ({"x-datadog-trace-id": "abc", "x-datadog-parent-id": "5678"}, None),
        ({"x-datadog-trace-id": "0", "x-datadog-parent-id": "5678"}, None),
        ({"x-datadog-trace-id": str(2**64), "x-datadog-parent-id": "5678"}, None),
        ({"x-datadog-parent-id": "5678"}, None),
        ({}, None),
    ],
)
def test_extract(carrier: dict[str, str], expected: tuple[int, int, bool] | None) -> None:
    span_context = trace.get_current_span(DatadogPropagator().extract(carrier)).get_span_context()
    if expected is None:
        assert not span_context.is_valid
    else:
        assert (span_context.trace_id, span_context.span_id, span_context.trace_flags.sampled) == expected


@pytest.fixture
def datadog_too() -> Iterator[None]:
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), DatadogPropagator()]))
    try:
        yield
    finally:
        propagate.set_global_textmap(previous)


def test_server_joins_a_trace_from_datadog_keys_in_metadata_trace(datadog_too: None, core: ModuleType) -> None:
    # A Kotlin peer on an old dd-trace: x-datadog-* only, in metadata.trace, no headers
    telemetry = Telemetry()
    try:
        carrier = {"x-datadog-trace-id": "1311768467463790320", "x-datadog-parent-id": "81985529216486895"}
        EventProcessor(outcome_router(), core=core).process_event(envelope("echo:payload", metadata={"trace": carrier}))
        (span,) = telemetry.spans()
        assert span.context.trace_id == 1311768467463790320
        assert span.parent is not None and span.parent.span_id == 81985529216486895
    finally:
        telemetry.close()


@pytest.mark.slow
def test_opentelemetry_propagators_finds_datadog_by_name() -> None:
    code = "from opentelemetry import propagate; print(sorted(propagate.get_global_textmap().fields))"
    env = {"OTEL_PROPAGATORS": "tracecontext,datadog", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    fields = json.loads(result.stdout.replace("'", '"'))
    assert {"traceparent", "x-datadog-trace-id", "x-datadog-parent-id"} <= set(fields)
