"""OpenTelemetry in whole processes: absent until asked for; `opentelemetry-instrument` works."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from .helpers_http import PYTHON, ROOT, Server

BIN = Path(sys.executable).parent

NEVER_IMPORTS = """
import asyncio, logging, sys
import fastevents
from fastevents import EventContextFilter, EventProcessor, EventRouter, asgi_app
from fastevents.testing import TestClient

router = EventRouter()

@router.event("ping", 1)
def ping(event):
    logging.getLogger("x").info("in handler")
    return {"ok": True}

handler = logging.StreamHandler(sys.stderr)
handler.addFilter(EventContextFilter())
logging.getLogger("x").addHandler(handler)
processor = EventProcessor(router)
assert b"ping:response" in processor.process_event(b'{"name": "ping", "version": 1}')
assert b"ping:response" in asyncio.run(processor.process_event_async(b'{"name": "ping", "version": 1}'))
assert TestClient(asgi_app(router)).send_event("ping", 1).is_success
fastevents.EventClient("http://127.0.0.1:9/events").close()
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
print(",".join(loaded) or "none")
"""


@pytest.mark.slow
def test_import_and_dispatch_never_import_opentelemetry() -> None:
    result = subprocess.run(
        [PYTHON, "-c", NEVER_IMPORTS], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def test_instrumentor_is_registered_as_an_entry_point() -> None:
    (found,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "fastevents"]
    assert found.value == "fastevents.otel:FastEventsInstrumentor"
    from fastevents.otel import FastEventsInstrumentor

    assert found.load() is FastEventsInstrumentor


@pytest.mark.slow
@pytest.mark.skipif(
    not (BIN / "opentelemetry-instrument").exists(), reason="opentelemetry-instrumentation not installed"
)
def test_opentelemetry_instrument_serves_traced_events() -> None:
    env = {
        "OTEL_SERVICE_NAME": "traced-by-entry-point",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # export within 50 ms, not at exit
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "asgi,fastapi,starlette,httpx,aiohttp-client,aiohttp-server",
    }
    argv = [str(BIN / "opentelemetry-instrument"), str(BIN / "fastevents"), "serve", "tests.helpers_http:router",
            "--port", "0"]  # fmt: skip
    with Server(argv, env=env) as server:
        parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        body = b'{"name": "echo:payload", "version": 1, "id": "e-1", "payload": {"a": 1}}'
        answer = httpx.post(server.url, content=body, headers={"traceparent": parent}, timeout=10)
        assert json.loads(answer.content)["name"] == "echo:payload:response"
        deadline = time.monotonic() + 15
        while '"name": "echo:payload:V1"' not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        output = server.output()
    assert '"name": "echo:payload:V1"' in output, output
    assert '"kind": "SpanKind.SERVER"' in output
    assert '"trace_id": "0x4bf92f3577b34da6a3ce929d0e0e4736"' in output
    assert '"parent_id": "0x00f067aa0ba902b7"' in output
    assert '"events.id": "e-1"' in output
    assert '"service.name": "traced-by-entry-point"' in output
