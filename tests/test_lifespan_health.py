"""The router's lifespan runs around serving (asgi_app and fastevents serve); the health
probe answers 503 until startup completes and once the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fastevents import EventRouter, asgi_app
from fastevents._http import http_scope

from .helpers_http import PYTHON, ROOT
from .waiting import wait_until_async


class Harness:
    """Drives one ASGI app's lifespan by hand, and sends it HTTP requests meanwhile."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, self.inbox.get, self.outbox.put)
        )

    async def lifespan(self, kind: str) -> dict[str, Any]:
        await self.inbox.put({"type": f"lifespan.{kind}"})
        return await asyncio.wait_for(self.outbox.get(), 5)

    async def get(self, path: str, method: str = "GET") -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(http_scope(method, path), receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_health_follows_the_lifespan() -> None:
    trail: list[str] = []
    release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(router: EventRouter) -> AsyncIterator[None]:
        trail.append("open pool")
        await release.wait()
        yield
        trail.append("close pool")

    async def main() -> None:
        app = asgi_app(EventRouter(lifespan=lifespan), health_path="/health")
        harness = Harness(app)
        await harness.inbox.put({"type": "lifespan.startup"})
        await wait_until_async(lambda: trail == ["open pool"])
        assert await harness.get("/health") == (503, b'{"status":"starting"}')
        release.set()
        assert (await asyncio.wait_for(harness.outbox.get(), 5))["type"] == "lifespan.startup.complete"
        assert await harness.get("/health") == (200, b'{"status":"ok"}')
        assert (await harness.get("/health", "HEAD"))[0] == 200
        assert (await harness.get("/health", "POST"))[0] == 405
        app.stopping()  # what fastevents serve calls when it is told to stop
        assert await harness.get("/health") == (503, b'{"status":"stopping"}')
        assert (await harness.lifespan("shutdown"))["type"] == "lifespan.shutdown.complete"
        assert trail == ["open pool", "close pool"]
        await harness.task

    asyncio.run(main())


def test_without_a_health_path_there_is_no_probe() -> None:
    async def main() -> None:
        assert (await Harness(asgi_app(EventRouter())).get("/health"))[0] == 404

    asyncio.run(main())


def test_a_failing_startup_fails_the_lifespan_with_the_reason() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(router: EventRouter) -> AsyncIterator[None]:
        raise ConnectionRefusedError("database at db:5432 refused")
        yield

    async def main() -> None:
        harness = Harness(asgi_app(EventRouter(lifespan=lifespan), health_path="/health"))
        message = await harness.lifespan("startup")
        assert message["type"] == "lifespan.startup.failed"
        assert "ConnectionRefusedError: database at db:5432 refused" in message["message"]
        await harness.task

    asyncio.run(main())


def test_a_failing_shutdown_fails_the_lifespan_with_the_reason_and_logs_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(router: EventRouter) -> AsyncIterator[None]:
        yield
        raise TimeoutError("pool did not close in 5 s")

    async def main() -> None:
        app = asgi_app(EventRouter(lifespan=lifespan), health_path="/health")
        harness = Harness(app)
        assert (await harness.lifespan("startup"))["type"] == "lifespan.startup.complete"
        message = await harness.lifespan("shutdown")
        assert message == {
            "type": "lifespan.shutdown.failed",
            "message": "lifespan shutdown failed: TimeoutError: pool did not close in 5 s",
        }
        await harness.task
        assert await harness.get("/health") == (503, b'{"status":"stopping"}')

    with caplog.at_level("DEBUG", logger="fastevents"):
        asyncio.run(main())
    [record] = [r for r in caplog.records if "lifespan's shutdown failed" in r.getMessage()]
    assert record.levelname == "ERROR" and record.exc_info is not None  # in full, unlike startup's
    assert record.exc_info[0] is TimeoutError


FAILING_APP = """
import contextlib
from fastevents import EventRouter

@contextlib.asynccontextmanager
async def lifespan(router):
    raise ConnectionRefusedError("database at db:5432 refused")
    yield

router = EventRouter(lifespan=lifespan)
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_stops_with_one_line_and_status_1_when_startup_fails(tmp_path: Any, workers: int) -> None:
    (tmp_path / "failing_app.py").write_text(FAILING_APP)
    result = subprocess.run(
        [PYTHON, "-m", "fastevents", "serve", "failing_app:router", "--port", "0", "--workers", str(workers)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stderr  # "1 if the server could not start" (serve --help)
    assert result.stdout.startswith("fastevents: serving") and result.stdout.count("\n") == 1  # the banner
    assert result.stderr.splitlines() == [
        "ERROR:     fastevents.serve: the lifespan's startup failed: "
        "ConnectionRefusedError: database at db:5432 refused"
    ]


def test_health_paths_are_read_as_the_events_path_is() -> None:
    async def main() -> None:
        for configured in ("health", "/health/", "/health"):
            harness = Harness(asgi_app(EventRouter(), health_path=configured))
            assert (await harness.get("/health"))[0] == 200, configured
            assert (await harness.get("/health/"))[0] == 200, configured

    asyncio.run(main())
