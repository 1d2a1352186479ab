"""FastEventsInstrumentor: spans, metrics and trace context, with the SDK's in-memory readers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fastevents import (
    AsyncEventClient,
    Event,
    EventClient,
    EventContextFilter,
    EventErrorType,
    EventException,
    EventProcessor,
    EventRouter,
    asgi_app,
)
from fastevents.otel import DURATION_BUCKETS, FastEventsInstrumentor

from .conftest import build_fixture_router


class Telemetry:
    """An SDK tracer and meter provider with in-memory readers, instrumented while alive."""

    def __init__(self, **options: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("tests")
        self.instrumentor = FastEventsInstrumentor()
        self.instrumentor.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def close(self) -> None:
        if self.instrumentor.is_instrumented_by_opentelemetry:
            self.instrumentor.uninstrument()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def spans(self, count: int | None = None, timeout: float = 5.0) -> list[ReadableSpan]:
        """The finished spans; waits (bounded) until there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while count is not None and len(self.exporter.get_finished_spans()) < count:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        (found,) = [s for s in self.spans() if s.name == name]
        return found

    def points(self, metric: str) -> list[tuple[dict[str, Any], HistogramDataPoint]]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        assert m.unit == "s"
                        found.extend((dict(p.attributes or {}), p) for p in m.data.data_points)
        return found


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    try:
        yield telemetry
    finally:
        telemetry.close()


def envelope(name: str, version: int = 1, payload: Any = None, **extra: Any) -> bytes:
    body = {"name": name, "version": version, "id": "id-1", "flowId": "flow-1", "payload": payload or {}}
    body.update(extra)
    return json.dumps(body).encode()


class Expected(EventException):
    code = "NOT_THERE"
    type = EventErrorType.NOT_FOUND


def outcome_router() -> EventRouter:
    router = build_fixture_router()

    @router.event("fail:expected", 1)
    def fail_expected(event: Event) -> Any:
        raise Expected(expected=True)

    return router


# --- server spans ----------------------------------------------------------------------------


def test_answered_event_gets_one_server_span(otel: Telemetry, core: ModuleType) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    body = envelope("echo:payload", 1, {"a": 1}, metadata={"origin": "checkout"}, identity={"userId": 42})
    assert json.loads(processor.process_event(body))["name"] == "echo:payload:response"
    (span,) = otel.spans()
    assert span.name == "echo:payload:V1"
    assert span.kind is SpanKind.SERVER
    assert dict(span.attributes or {}) == {
        "rpc.system.name": "events",
        "rpc.method": "echo:payload:V1",
        "rpc.status_code": "response",
        "events.id": "id-1",
        "events.flow_id": "flow-1",
        "events.origin": "checkout",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None


@pytest.mark.parametrize(
    ("name", "payload", "status", "server_caused"),
    [
        ("fail:unhandled", {}, "error", True),
        ("fail:typed", {}, "badRequest", True),  # an EventException raised without expected=True
        ("fail:forbidden", {}, "forbidden", True),
        ("fail:expected", {}, "notFound", False),
        ("get:event:example", {"wrong": 1}, "badRequest", False),  # the payload: the client's doing
        ("redirect:me", {}, "redirect", False),
    ],
)
def test_outcomes_set_status_code_error_type_and_span_status(
    otel: Telemetry, core: ModuleType, name: str, payload: Any, status: str, server_caused: bool
) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    answer = processor.process_event(envelope(name, 1, payload))
    assert json.loads(answer)["name"] == f"{name}:{status}"
    (span,) = otel.spans()
    attributes = dict(span.attributes or {})
    assert attributes["rpc.status_code"] == status
    assert attributes["rpc.method"] == f"{name}:V1"
    if status == "redirect":
        assert "error.type" not in attributes
    else:
        assert attributes["error.type"] == status
    assert (span.status.status_code is StatusCode.ERROR) is server_caused
    exceptions = [e for e in span.events if e.name == "exception"]
    assert bool(exceptions) is server_caused


def test_unhandled_exception_is_on_the_span_and_not_on_the_wire(otel: Telemetry, core: ModuleType) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    answer = processor.process_event(envelope("fail:unhandled"))
    assert b"internal secret" not in answer and b"Traceback" not in answer
    (span,) = otel.spans()
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == "internal secret"
    assert "internal secret" in (span.status.description or "")


@pytest.mark.parametrize(
    ("body", "original", "status"),
    [
        (envelope("no:such:event", 3), "no:such:event:V3", "eventNotFound"),
        (envelope("echo:payload", 9), "echo:payload:V9", "eventNotFound"),
        (b"[1, 2]", None, "badProtocol"),
        (b"not json", None, "badProtocol"),
    ],
)
def test_unknown_events_and_non_envelopes_are_other(
    otel: Telemetry, core: ModuleType, body: bytes, original: str | None, status: str
) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    processor.process_event(body)
    (span,) = otel.spans()
    attributes = dict(span.attributes or {})
    assert span.name == "_OTHER"  # as rpc.method: no unknown name reaches the span name either
    assert attributes["rpc.method"] == "_OTHER"
    assert attributes.get("rpc.method_original") == original
    assert attributes["rpc.status_code"] == status
    assert attributes["error.type"] == status
    assert span.status.status_code is StatusCode.UNSET  # the client's doing


def test_async_handlers_get_spans(otel: Telemetry, core: ModuleType) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    asyncio.run(processor.process_event_async(envelope("async:echo", 1, {"x": 1})))
    (span,) = otel.spans()
    assert span.name == "async:echo:V1"
    assert dict(span.attributes or {})["rpc.status_code"] == "response"


def test_a_handler_timeout_is_a_server_error(otel: Telemetry, core: ModuleType) -> None:
    router = EventRouter()

    @router.event("slow:work", 1, timeout=0.05)
    async def slow(event: Event) -> Any:
        await asyncio.sleep(5)

    answer = asyncio.run(EventProcessor(router, core=core).process_event_async(envelope("slow:work")))
    assert json.loads(answer)["name"] == "slow:work:error"
    (span,) = otel.spans()
    assert dict(span.attributes or {})["error.type"] == "error"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_user_id_is_recorded_only_when_asked(core: ModuleType) -> None:
    body = envelope("echo:payload", identity={"userId": 42})
    for options, expected in (({}, None), ({"record_user_id": True}, "42")):
        telemetry = Telemetry(**options)
        try:
            EventProcessor(outcome_router(), core=core).process_event(body)
            (span,) = telemetry.spans()
            assert dict(span.attributes or {}).get("enduser.id") == expected
        finally:
            telemetry.close()


HUGE = 500_000  # characters: what held 2.5 GB behind a stuck exporter


def _longest_text(span: ReadableSpan) -> int:
    texts = [v for v in (span.attributes or {}).values() if isinstance(v, str)]
    return max(len(span.name), len(span.status.description or ""), *map(len, texts))


@pytest.mark.parametrize("routed", [True, False], ids=["routed", "unknown-name"])
def test_server_span_attributes_from_the_wire_are_bounded(core: ModuleType, routed: bool) -> None:
    telemetry = Telemetry(record_user_id=True)
    try:
        name = "echo:payload" if routed else "n" * HUGE
        body = envelope(
            name, identity={"userId": "u" * HUGE}, metadata={"origin": "o" * HUGE}, id="i" * HUGE, flowId="f" * HUGE
        )
        EventProcessor(outcome_router(), core=core).process_event(body)
        (span,) = telemetry.spans()
        attributes = dict(span.attributes or {})
        for key in ("events.id", "events.flow_id", "events.origin", "enduser.id"):
            assert 0 < len(attributes[key]) <= 256, key
        assert attributes["events.id"] == "i" * 256
        if not routed:
            assert attributes["rpc.method_original"] == "n" * 256
        assert _longest_text(span) <= 256
    finally:
        telemetry.close()


def test_client_span_attributes_from_the_wire_are_bounded(otel: Telemetry) -> None:
    from .helpers_http import RawServer

    answer = json.dumps({"name": "n:" + "s" * HUGE, "version": 1, "payload": {}}).encode()

    def long_suffix(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))

    with RawServer(long_suffix) as server, EventClient(server.url, timeout=5) as client:
        client.send_event("m" * HUGE, 1, id="i" * HUGE, flow_id="f" * HUGE, metadata={"origin": "o" * HUGE})
    (span,) = otel.spans(1)
    attributes = dict(span.attributes or {})
    assert attributes["rpc.status_code"] == attributes["error.type"] == "s" * 256
    assert attributes["events.id"] == "i" * 256 and attributes["events.origin"] == "o" * 256
    assert _longest_text(span) <= 256


def test_uninstrument_stops_spans_and_metrics(core: ModuleType) -> None:
    telemetry = Telemetry()
    processor = EventProcessor(outcome_router(), core=core)  # built while instrumented
    try:
        processor.process_event(envelope("echo:payload"))
        assert len(telemetry.spans()) == 1
        assert processor._dispatcher.hooks is not None
        telemetry.instrumentor.uninstrument()
        assert processor._dispatcher.hooks is None  # back on the core's unobserved path
        processor.process_event(envelope("echo:payload"))
        assert json.loads(EventProcessor(outcome_router(), core=core).process_event(envelope("echo:payload")))
        assert len(telemetry.spans()) == 1
        (_, point) = telemetry.points("rpc.server.call.duration")[0]
        assert point.count == 1
    finally:
        telemetry.close()


def test_active_span_is_the_parent_in_process(otel: Telemetry, core: ModuleType) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    elsewhere = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with otel.tracer.start_as_current_span("outer") as outer:
        processor.process_event(envelope("echo:payload", metadata={"trace": {"traceparent": elsewhere}}))
    server = otel.span("echo:payload:V1")
    assert server.parent is not None
    assert server.parent.span_id == outer.get_span_context().span_id
    assert server.context.trace_id == outer.get_span_context().trace_id


def test_span_lasts_the_recorded_duration(otel: Telemetry, core: ModuleType) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    processor.process_event(envelope("echo:payload"))
    (span,) = otel.spans()
    ((_, point),) = otel.points("rpc.server.call.duration")
    assert span.end_time is not None and span.start_time is not None
    assert abs((span.end_time - span.start_time) / 1e9 - point.sum) < 2e-6


# --- metrics ---------------------------------------------------------------------------------


def test_server_duration_histogram(otel: Telemetry, core: ModuleType) -> None:
    processor = EventProcessor(outcome_router(), core=core)
    for _ in range(3):
        processor.process_event(envelope("echo:payload"))
    processor.process_event(envelope("fail:unhandled"))
    processor.process_event(envelope("nobody:home", 2))
    points = {tuple(sorted(a.items())): p for a, p in otel.points("rpc.server.call.duration")}
    ok = (("rpc.method", "echo:payload:V1"), ("rpc.status_code", "response"), ("rpc.system.name", "events"))
    failed = (
        ("error.type", "error"),
        ("rpc.method", "fail:unhandled:V1"),
        ("rpc.status_code", "error"),
        ("rpc.system.name", "events"),
    )
    unknown = (
        ("error.type", "eventNotFound"),
        ("rpc.method", "_OTHER"),
        ("rpc.status_code", "eventNotFound"),
        ("rpc.system.name", "events"),
    )
    assert set(points) == {ok, failed, unknown}
    assert (points[ok].count, points[failed].count, points[unknown].count) == (3, 1, 1)
    assert tuple(points[ok].explicit_bounds) == DURATION_BUCKETS
    assert DURATION_BUCKETS == (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


# --- clients and the trace across a real HTTP hop --------------------------------------------


class Served:
    """ASGI apps served by uvicorn on loopback ports, in one thread of this process."""

    def __init__(self, *apps: Any) -> None:
        self.sockets = []
        self.urls = []
        for _ in apps:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self.sockets.append(sock)
            self.urls.append(f"http://127.0.0.1:{sock.getsockname()[1]}/events")
        self.servers = [uvicorn.Server(uvicorn.Config(app, log_level="warning")) for app in apps]

        async def serve() -> None:
            await asyncio.gather(*(s.serve(sockets=[k]) for s, k in zip(self.servers, self.sockets, strict=True)))

        self.thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not all(s.started for s in self.servers):
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.close()
                raise RuntimeError("the servers did not start")
            time.sleep(0.01)

    def close(self) -> None:
        for server in self.servers:
            server.should_exit = True
        self.thread.join(10)
        for sock in self.sockets:
            sock.close()


def two_services() -> tuple[EventRouter, EventRouter, list[str]]:
    """Service A's handler calls service B through AsyncEventClient; B echoes its metadata."""
    urls: list[str] = []
    a, b = EventRouter(), EventRouter()

    @a.event("a:call", 1)
    async def call_b(event: Event) -> Any:
        async with AsyncEventClient(urls[1]) as client:
            answer = await client.send_event("b:work", 1, {"n": 1}, metadata={"origin": "service-a"})
        return {"b": answer.name, "metadata": answer.payload["metadata"]}

    @b.event("b:work", 1)
    def work(event: Event) -> Any:
        return {"metadata": event.metadata}

    return a, b, urls


@pytest.fixture
def services() -> Iterator[list[str]]:
    a, b, urls = two_services()
    served = Served(asgi_app(a), asgi_app(b))
    urls.extend(served.urls)
    try:
        yield urls
    finally:
        served.close()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def assert_b_side(otel: Telemetry, server_a: ReadableSpan) -> None:
    """A's handler -> CLIENT b:work -> SERVER b:work, all in A's trace."""
    client_b = next(s for s in otel.spans() if s.name == "b:work:V1" and s.kind is SpanKind.CLIENT)
    server_b = next(s for s in otel.spans() if s.name == "b:work:V1" and s.kind is SpanKind.SERVER)
    assert parent_of(client_b) == server_a.context.span_id
    assert parent_of(server_b) == client_b.context.span_id
    assert {client_b.context.trace_id, server_b.context.trace_id} == {server_a.context.trace_id}


@pytest.mark.slow
def test_trace_crosses_services_with_traceparent_headers(otel: Telemetry, services: list[str]) -> None:
    async def main() -> Any:
        async with AsyncEventClient(services[0]) as client:
            return await client.send_event("a:call", 1)

    answer = asyncio.run(main())
    assert answer.name == "a:call:response"
    spans = otel.spans(4)
    assert len(spans) == 4
    client_a = next(s for s in spans if s.name == "a:call:V1" and s.kind is SpanKind.CLIENT)
    server_a = next(s for s in spans if s.name == "a:call:V1" and s.kind is SpanKind.SERVER)
    assert client_a.parent is None
    assert parent_of(server_a) == client_a.context.span_id
    assert server_a.context.trace_id == client_a.context.trace_id
    assert_b_side(otel, server_a)
    # B received the context in metadata.trace too, next to the caller's own metadata
    received = answer.payload["metadata"]
    client_b = next(s for s in spans if s.name == "b:work:V1" and s.kind is SpanKind.CLIENT)
    assert received["origin"] == "service-a"
    traceparent = received["trace"]["traceparent"]
    assert traceparent.startswith(f"00-{client_b.context.trace_id:032x}-{client_b.context.span_id:016x}-")
    assert int(traceparent[-2:], 16) & 1  # sampled


@pytest.mark.slow
def test_trace_crosses_services_with_metadata_trace_only(otel: Telemetry, services: list[str]) -> None:
    # A Kotlin peer: no traceparent header, the context only in metadata.trace
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    body = envelope("a:call", metadata={"trace": {"traceparent": f"00-{trace_id}-{span_id}-01"}, "origin": "kt"})
    response = httpx.post(services[0], content=body, headers={"content-type": "application/json"}, timeout=10)
    assert json.loads(response.content)["name"] == "a:call:response"
    spans = otel.spans(3)
    assert len(spans) == 3
    server_a = next(s for s in spans if s.name == "a:call:V1")
    assert server_a.context.trace_id == int(trace_id, 16)
    assert parent_of(server_a) == int(span_id, 16)
    assert server_a.parent is not None and server_a.parent.is_remote
    assert dict(server_a.attributes or {})["events.origin"] == "kt"
    assert_b_side(otel, server_a)


@pytest.mark.slow
def test_metadata_trace_keys_are_read_in_any_case(otel: Telemetry, services: list[str]) -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    body = envelope("b:work", metadata={"trace": {"TraceParent": f"00-{trace_id}-{span_id}-01", "n": 1}})
    httpx.post(services[1], content=body, timeout=10)
    (server_b,) = otel.spans(1)
    assert (server_b.context.trace_id, parent_of(server_b)) == (int(trace_id, 16), int(span_id, 16))


@pytest.mark.slow
def test_headers_win_over_metadata_trace(otel: Telemetry, services: list[str]) -> None:
    in_header = "00-11111111111111111111111111111111-2222222222222222-01"
    in_metadata = "00-33333333333333333333333333333333-4444444444444444-01"
    body = envelope("b:work", metadata={"trace": {"traceparent": in_metadata}})
    httpx.post(services[1], content=body, headers={"traceparent": in_header}, timeout=10)
    (server_b,) = otel.spans(1)
    assert (server_b.context.trace_id, parent_of(server_b)) == (int("1" * 32, 16), int("2" * 16, 16))


@pytest.mark.slow
def test_no_context_anywhere_starts_a_new_trace(otel: Telemetry, services: list[str]) -> None:
    httpx.post(services[1], content=envelope("b:work", metadata={"trace": {"traceparent": "garbage"}}), timeout=10)
    (server_b,) = otel.spans(1)
    assert server_b.parent is None


# --- client spans ----------------------------------------------------------------------------


@pytest.fixture
def served_fixture_router() -> Iterator[str]:
    served = Served(asgi_app(outcome_router()))
    try:
        yield served.urls[0]
    finally:
        served.close()


def client_span(otel: Telemetry) -> ReadableSpan:
    return next(s for s in otel.spans(2) if s.kind is SpanKind.CLIENT)


@pytest.mark.slow
def test_client_span_of_a_success(otel: Telemetry, served_fixture_router: str) -> None:
    with EventClient(served_fixture_router) as client:
        client.send_event("echo:payload", 1, {"x": 1}, id="i", flow_id="f", metadata={"origin": "cli"})
    span = client_span(otel)
    port = int(served_fixture_router.split(":")[2].split("/")[0])
    assert span.name == "echo:payload:V1"
    assert dict(span.attributes or {}) == {
        "rpc.system.name": "events",
        "rpc.method": "echo:payload:V1",
        "rpc.status_code": "response",
        "events.id": "i",
        "events.flow_id": "f",
        "events.origin": "cli",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.slow
@pytest.mark.parametrize(("name", "status"), [("fail:expected", "notFound"), ("nobody:home", "eventNotFound")])
def test_every_error_answer_is_an_error_on_the_client_span(
    otel: Telemetry, served_fixture_router: str, name: str, status: str
) -> None:
    with EventClient(served_fixture_router) as client:
        client.send_event(name, 1)
    span = client_span(otel)
    attributes = dict(span.attributes or {})
    assert (attributes["rpc.status_code"], attributes["error.type"]) == (status, status)
    assert span.status.status_code is StatusCode.ERROR


def test_client_failure_without_an_answer(otel: Telemetry) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/events"
    with EventClient(url, timeout=2) as client, pytest.raises(Exception, match="cannot reach"):
        client.send_event("echo:payload", 1)
    ((span,), points) = otel.spans(), otel.points("rpc.client.call.duration")
    attributes = dict(span.attributes or {})
    assert "rpc.status_code" not in attributes
    assert attributes["error.type"] == "fastevents.EventConnectionError"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    ((metric_attributes, point),) = points
    assert metric_attributes["error.type"] == "fastevents.EventConnectionError"
    assert point.count == 1


@pytest.mark.slow
def test_client_keeps_the_callers_metadata_and_trace_keys(otel: Telemetry, services: list[str]) -> None:
    metadata = {"origin": "me", "trace": {"x-custom": "kept"}}
    with EventClient(services[1]) as client:
        answer = client.send_event("b:work", 1, metadata=metadata)
    received = answer.payload["metadata"]
    assert received["origin"] == "me"
    assert received["trace"]["x-custom"] == "kept"
    assert received["trace"]["traceparent"].startswith("00-")
    assert metadata == {"origin": "me", "trace": {"x-custom": "kept"}}  # the caller's dict is untouched


@pytest.mark.slow
def test_client_duration_histogram(otel: Telemetry, served_fixture_router: str) -> None:
    with EventClient(served_fixture_router) as client:
        client.send_event("echo:payload", 1)
        client.send_event("fail:forbidden", 1)
    points = {tuple(sorted(a.items())): p.count for a, p in otel.points("rpc.client.call.duration")}
    assert points == {
        (("rpc.method", "echo:payload:V1"), ("rpc.status_code", "response"), ("rpc.system.name", "events")): 1,
        (
            ("error.type", "forbidden"),
            ("rpc.method", "fail:forbidden:V1"),
            ("rpc.status_code", "forbidden"),
            ("rpc.system.name", "events"),
        ): 1,
    }


# --- logs ------------------------------------------------------------------------------------


def test_log_records_carry_the_server_span(otel: Telemetry, core: ModuleType) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(EventContextFilter())
    logger = logging.getLogger("tests.otel.spans")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    router = EventRouter()

    @router.event("log:me", 1)
    def log_me(event: Event) -> Any:
        logger.info("handling")
        return {}

    try:
        EventProcessor(router, core=core).process_event(envelope("log:me"))
        logger.info("after")
    finally:
        logger.removeHandler(handler)
    (span,) = otel.spans()
    inside, after = records
    assert (inside.trace_id, inside.span_id) == (f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")  # type: ignore[attr-defined]
    assert (after.trace_id, after.span_id, after.event_id) == (None, None, None)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_asgi_instrumentation_span_is_the_parent(otel: Telemetry) -> None:
    asgi = pytest.importorskip("opentelemetry.instrumentation.asgi")
    router = EventRouter()

    @router.event("b:work", 1)
    def work(event: Event) -> Any:
        return {}

    app = asgi.OpenTelemetryMiddleware(asgi_app(router), tracer_provider=otel.tracer_provider)
    served = Served(app)
    try:
        in_metadata = "00-33333333333333333333333333333333-4444444444444444-01"
        body = envelope("b:work", metadata={"trace": {"traceparent": in_metadata}})
        httpx.post(served.urls[0], content=body, timeout=10)
    finally:
        served.close()
    spans = otel.spans()
    http = next(s for s in spans if s.kind is SpanKind.SERVER and s.name != "b:work:V1" and s.parent is None)
    event = otel.span("b:work:V1")
    assert parent_of(event) == http.context.span_id
    assert event.context.trace_id == http.context.trace_id
