"""schemathesis, an outside tool, tests ``fastevents serve`` from the served OpenAPI document.

It generates requests from ``GET /events/openapi.json`` (valid envelopes for every event of
tests/schema_router.py, and invalid ones), sends them to a real server and checks every
answer: no server error, a documented status code and content type, a body that matches the
document. One check is left out: ``negative_data_rejection`` expects a 4xx for an invalid
request, but the events protocol answers every protocol outcome with HTTP 200 and an error
event (docs/protocol.md §4), which the document describes and ``response_schema_conformance``
checks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .helpers_http import serve_fastevents

pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow

#: Bounded for CI: test cases per phase and operation, and a hard stop for the whole run.
MAX_EXAMPLES = 300
RUN_TIMEOUT = 300


def test_schemathesis_finds_nothing_against_fastevents_serve(tmp_path: Path) -> None:
    # The server runs the build under test (FASTEVENTS_NO_EXTENSIONS is inherited): CI runs both.
    with serve_fastevents("--catalogue", target="tests.schema_router:router") as server:
        base = server.url.removesuffix("/events")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/openapi.json",
                "--url",
                base,
                "--checks",
                "all",
                "--exclude-checks",
                "negative_data_rejection",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--workers",
                "1",
                "--request-timeout",
                "10",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        log = server.output()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Tested: 1" in run.stdout, run.stdout[-3000:]
    # The only tracebacks the server logged are those of the handler that raises on purpose.
    assert log.count("Traceback") == log.count("answered error: unhandled RuntimeError"), log[-3000:]
