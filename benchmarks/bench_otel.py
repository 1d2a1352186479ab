"""The cost of tracing: fastevents and FastAPI, each uninstrumented and instrumented, one run.

``taskset -c 1 python -m benchmarks.bench_otel`` prints the "Cost of tracing" table of
BENCHMARKS.md. Every variant answers the README example (``get:event:example`` v1): fastevents'
``EventProcessor.process_event`` (bytes in, bytes out), then in-process ASGI calls (no
sockets) to fastevents' ``asgi_app`` over ``benchmarks.http_app``'s router and to the FastAPI
app of ``benchmarks.http_fastapi_app`` (pydantic v2). Instrumented
means spans and metrics with the SDK: a ``TracerProvider`` whose ``BatchSpanProcessor`` feeds
an exporter that drops everything, and a ``MeterProvider`` with an in-memory reader.
fastevents is instrumented with ``FastEventsInstrumentor`` (a process-wide switch, so it is
turned on and off between rounds), FastAPI the usual way, ``FastAPIInstrumentor.instrument_app``
on a second app instance. Rounds are interleaved; the table gives the best round and the
median of the rounds, in microseconds per event.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

import fastevents
from fastevents._http import http_scope
from fastevents.otel import FastEventsInstrumentor

from . import harness
from .http_app import router
from .pydantic_variant import build_example_processor

BODY = b'{"name":"get:event:example","version":1,"id":"1","flowId":"2","payload":{"example":"x"}}'
EXPECTED = b'"get:event:example:response"'


class DropExporter(SpanExporter):
    """Receives the batches and drops them: the SDK's whole cost, no I/O."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def fastapi_app() -> FastAPI:
    process_event = build_example_processor().process_event
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/events")
    async def events(request: Request) -> Response:
        return Response(process_event(await request.body()), media_type="application/json")

    return app


SCOPE: dict[str, Any] = http_scope(
    "POST", "/events", [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"88")]
)


async def call(app: Any) -> bytes:
    """One in-process ASGI request; returns the answer body."""
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(SCOPE), receive, send)
    return b"".join(chunks)


def per_dispatch(process_event: Callable[[bytes], bytes], n: int) -> float:
    """Seconds per in-process dispatch (bytes in, bytes out) over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        process_event(BODY)
    return (time.perf_counter() - start) / n


async def per_event(app: Any, n: int) -> float:
    """Seconds per event over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        await call(app)
    return (time.perf_counter() - start) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant and round")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per event under callgrind instead (slow: minutes)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one variant, --calls events: callgrind's run
    args = parser.parse_args(argv)
    if args.instructions:
        count_instructions()
        return

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = FastEventsInstrumentor()
    fe_app = fastevents.asgi_app(router)
    fa_plain = fastapi_app()
    fa_traced = fastapi_app()
    FastAPIInstrumentor.instrument_app(fa_traced, tracer_provider=tracer_provider, meter_provider=meter_provider)

    def fe_on() -> None:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def fe_off() -> None:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()

    variants: list[tuple[str, Any, Callable[[], None]]] = [
        ("fastevents", fe_app, fe_off),
        ("fastevents + FastEventsInstrumentor", fe_app, fe_on),
        ("FastAPI", fa_plain, fe_off),
        ("FastAPI + FastAPIInstrumentor", fa_traced, fe_off),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    processor = fastevents.EventProcessor(router)
    dispatch = {"dispatch": fe_off, "dispatch + FastEventsInstrumentor": fe_on}
    times.update({name: [] for name in dispatch})
    # Where the time goes: the SDK's own work for one event, without fastevents.
    tracer = tracer_provider.get_tracer("bench")
    histogram = meter_provider.get_meter("bench").create_histogram("bench.duration", unit="s")
    start_attributes = {
        "rpc.system.name": "events",
        "rpc.method": "get:event:example:V1",
        "events.id": "1",
        "events.flow_id": "2",
    }
    record_attributes = {
        "rpc.system.name": "events",
        "rpc.method": "get:event:example:V1",
        "rpc.status_code": "response",
    }

    def sdk_span() -> bytes:
        span = tracer.start_span("get:event:example:V1", None, SpanKind.SERVER, start_attributes)
        span.set_attribute("rpc.status_code", "response")
        span.end()
        return b""

    def sdk_record() -> bytes:
        histogram.record(0.001, record_attributes)
        return b""

    parts = {"SDK span (start, 1 attribute, end)": sdk_span, "SDK histogram record": sdk_record}
    times.update({name: [] for name in parts})

    if args.one:
        if args.one in parts:
            part = parts[args.one]
            per_dispatch(lambda _body: part(), 200)
            per_dispatch(lambda _body: part(), args.calls)
            return
        setup = dict(dispatch)[args.one] if args.one in dispatch else next(v[2] for v in variants if v[0] == args.one)
        setup()
        if args.one in dispatch:
            per_dispatch(processor.process_event, 200)
            per_dispatch(processor.process_event, args.calls)
        else:
            app = next(v[1] for v in variants if v[0] == args.one)
            asyncio.run(per_event(app, 200))
            asyncio.run(per_event(app, args.calls))
        fe_off()
        return

    async def run() -> None:
        for name, app, setup in variants:  # warm-up, and every variant answers correctly
            setup()
            assert EXPECTED in await call(app), name
            await per_event(app, args.calls // 4)
        for _ in range(args.rounds):
            for name, app, setup in variants:
                setup()
                times[name].append(await per_event(app, args.calls))
            for name, setup in dispatch.items():
                setup()
                times[name].append(per_dispatch(processor.process_event, args.calls * 4))
            fe_off()
            for name, part in parts.items():
                times[name].append(per_dispatch(lambda _body, part=part: part(), args.calls))  # type: ignore[misc]
        fe_off()

    asyncio.run(run())
    tracer_provider.shutdown()

    def us(seconds: float) -> str:
        return f"{seconds * 1e6:.2f} µs"

    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"Python {sys.version.split()[0]}, {args.rounds} interleaved rounds of {args.calls} calls per variant")
    print()
    rows = (
        ("fastevents, in process (`process_event`)", "dispatch", "dispatch + FastEventsInstrumentor"),
        ("fastevents, ASGI (`asgi_app`)", "fastevents", "fastevents + FastEventsInstrumentor"),
        ("FastAPI + pydantic v2, ASGI", "FastAPI", "FastAPI + FastAPIInstrumentor"),
    )
    print("| app | uninstrumented | instrumented (spans + metrics) | cost of tracing per event | ratio |")
    print("|---|---|---|---|---|")
    for label, plain, traced in rows:
        print(
            f"| {label} | {us(best[plain])} ({us(median[plain])}) | {us(best[traced])} ({us(median[traced])}) "
            f"| {us(best[traced] - best[plain])} ({us(median[traced] - median[plain])}) "
            f"| {best[traced] / best[plain]:.1f}x ({median[traced] / median[plain]:.1f}x) |"
        )
    print()
    print("| the SDK's own work for one event, in the same run | time |")
    print("|---|---|")
    for name in parts:
        print(f"| {name} | {us(best[name])} ({us(median[name])}) |")


VARIANTS = (
    "dispatch",
    "dispatch + FastEventsInstrumentor",
    "fastevents",
    "fastevents + FastEventsInstrumentor",
    "FastAPI",
    "FastAPI + FastAPIInstrumentor",
    "SDK span (start, 1 attribute, end)",
    "SDK histogram record",
)


def count_instructions(low: int = 200, high: int = 1200, names: Sequence[str] = VARIANTS) -> None:
    """Instructions per event of every variant: callgrind runs of ``low`` and ``high`` events
    (after the same warm-up), the difference divided by ``high - low``. Steadier than time on a
    shared machine; startup and imports cancel out."""
    counts: dict[str, float] = {}
    for name in names:
        command = [sys.executable, "-m", "benchmarks.bench_otel", "--one", name]
        counts[name] = harness.instructions_per_call(command, low, high)
        print(f"{name}: {counts[name]:,.0f} instructions per event", flush=True)
    print()
    print("| app | uninstrumented | instrumented | cost of tracing | ratio |")
    print("|---|---|---|---|---|")
    for label, plain, traced in (
        ("fastevents, in process", "dispatch", "dispatch + FastEventsInstrumentor"),
        ("fastevents, ASGI", "fastevents", "fastevents + FastEventsInstrumentor"),
        ("FastAPI + pydantic v2, ASGI", "FastAPI", "FastAPI + FastAPIInstrumentor"),
    ):
        if plain not in counts or traced not in counts:
            continue
        print(
            f"| {label} | {counts[plain]:,.0f} | {counts[traced]:,.0f} | +{counts[traced] - counts[plain]:,.0f} "
            f"| {counts[traced] / counts[plain]:.1f}x |"
        )
    print()
    print("| the SDK's own work for one event | instructions |")
    print("|---|---|")
    for name in VARIANTS[-2:]:
        if name in counts:
            print(f"| {name} | {counts[name]:,.0f} |")


if __name__ == "__main__":
    main()
