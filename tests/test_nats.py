"""Events over NATS, against a real nats-server: serving (the same answers as over HTTP, a
queue group over processes, the services API), draining on SIGTERM, sending
(``NatsEventClient``: no responders, timeouts, cluster failover), the conformance kit, and
one trace across an HTTP hop and a NATS hop."""

from __future__ import annotations

import asyncio
import collections
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("nats")

import nats

from fastevents import (
    AsyncEventClient,
    Event,
    EventConnectionError,
    EventProcessor,
    EventRouter,
    FailedDependencyException,
    TimeoutException,
)
from fastevents._conformance import applies_over_nats, load_cases, run_cases
from fastevents.nats import NatsEventClient, NatsServer, NatsSettings
from fastevents.testing import MockEvents

from .helpers_http import PYTHON, ROOT
from .helpers_nats import (
    NatsProcess,
    NatsServing,
    build_nats_router,
    nats_cluster,
    wait_for_services,
    wait_until_gone,
)

# nats-py's services API calls datetime.utcnow(), deprecated since Python 3.12: its business.
pytestmark = pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")

LIMIT = 60.0  # seconds any one test may take
SERVE = [PYTHON, "-m", "fastevents", "serve"]


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsProcess]:
    server = NatsProcess()
    try:
        yield server
    finally:
        server.stop()


def run(coro: Any, limit: float = LIMIT) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(limit):
            return await coro

    return asyncio.run(bounded())


async def _serving(router: EventRouter, url: str, subject: str, **options: Any) -> NatsServer:
    server = NatsServer(EventProcessor(router), NatsSettings(url, subject, **options))
    await server.start()
    return server


class serving:
    """A NatsServer in this process's event loop, stopped (drained) on exit."""

    def __init__(self, router: EventRouter, url: str, subject: str, **options: Any) -> None:
        self.args = (router, url, subject)
        self.options = options

    async def __aenter__(self) -> NatsServer:
        self.server = await _serving(*self.args, **self.options)
        return self.server

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()


@pytest.fixture
def router() -> EventRouter:
    return build_nats_router()


def test_missing_nats_server_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import helpers_nats

    monkeypatch.delenv("NATS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(helpers_nats, "DEBIAN_PATH", "/nonexistent/nats-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nats-server is missing"):
        helpers_nats.nats_server_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        helpers_nats.nats_server_binary()


# --- serving: the same bytes as over HTTP -------------------------------------------------------

SAME_BYTES = [
    pytest.param(b'{"name": "nope:nothing", "version": 3, "id": "i-1", "flowId": "f-1"}', id="eventNotFound"),
    pytest.param(b'{"version": 1, "id": "i-2", "flowId": "f-2"}', id="badProtocol-no-name"),
    pytest.param(b'{"name": "get:event:example", "version": 1, "id": "i-3", "flowId": "f-3"}', id="badRequest"),
    pytest.param(
        b'{"name": "get:event:example", "version": 1, "id": "i-4", "flowId": "f-4", "payload": {"example": "x"}}',
        id="success",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("body", SAME_BYTES)
def test_nats_answers_the_same_bytes_as_the_processor(
    nats_server: NatsProcess, router: EventRouter, body: bytes
) -> None:
    async def main() -> bytes:
        async with serving(router, nats_server.url, "same.bytes"):
            nc = await nats.connect(nats_server.url)
            try:
                reply = await nc.request("same.bytes", body, timeout=10)
            finally:
                await nc.close()
            return bytes(reply.data)

    assert run(main()) == EventProcessor(build_nats_router()).process_event(body)


@pytest.mark.slow
def test_a_wildcard_subject_serves_every_matching_subject(nats_server: NatsProcess, router: EventRouter) -> None:
    async def main() -> list[Any]:
        async with serving(router, nats_server.url, "wild.*"):
            answers = []
            for subject in ("wild.a", "wild.b"):
                async with NatsEventClient(nats_server.url, subject=subject, timeout=10) as client:
                    answers.append(await client.send_event("get:event:example", 1, {"example": subject}))
            return answers

    assert [a.payload for a in run(main())] == [{"MyEventPayload": "wild.a"}, {"MyEventPayload": "wild.b"}]


@pytest.mark.slow
def test_body_over_the_cap_is_refused_with_413(nats_server: NatsProcess, router: EventRouter) -> None:
    async def main() -> None:
        async with (
            serving(router, nats_server.url, "capped", max_body=2000),
            NatsEventClient(nats_server.url, subject="capped", timeout=10) as client,
        ):
            with pytest.raises(FailedDependencyException) as caught:
                await client.send_event("get:event:example", 1, {"example": "x" * 3000})
            assert caught.value.status == 413
            answer = await client.send_event("get:event:example", 1, {"example": "small"})
            assert answer.payload == {"MyEventPayload": "small"}

    run(main())


@pytest.mark.slow
def test_body_over_the_nats_max_payload_is_refused_with_413(nats_server: NatsProcess, router: EventRouter) -> None:
    async def main() -> None:
        async with (
            serving(router, nats_server.url, "huge"),
            NatsEventClient(nats_server.url, subject="huge", timeout=10) as client,
        ):
            with pytest.raises(FailedDependencyException) as caught:
                await client.send_event("get:event:example", 1, {"example": "x" * 2_000_000})
            assert caught.value.status == 413

    run(main())


@pytest.mark.slow
def test_timeouts_and_interceptors_hold_over_nats(nats_server: NatsProcess) -> None:
    router = EventRouter()
    seen: list[str] = []

    @router.interceptor
    async def record(event: Event, call_next: Any) -> Any:
        seen.append(event.name)
        return await call_next(event)

    @router.event("too:slow", 1, timeout=0.2)
    async def too_slow(event: Event) -> Any:
        await asyncio.sleep(30)

    async def main() -> Any:
        async with (
            serving(router, nats_server.url, "timeouts"),
            NatsEventClient(nats_server.url, subject="timeouts", timeout=10) as client,
        ):
            return await client.send_event("too:slow", 1)

    answer = run(main())
    assert answer.name == "too:slow:error"
    assert answer.payload["code"] == "TIMEOUT"
    assert seen == ["too:slow"]


@pytest.mark.slow
def test_handlers_run_concurrently_up_to_the_limit(nats_server: NatsProcess) -> None:
    router = EventRouter()
    running = 0
    peak = 0

    @router.event("wait:a:bit", 1)
    async def wait(event: Event) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.3)
        finally:
            running -= 1
        return {}

    async def main() -> float:
        async with (
            serving(router, nats_server.url, "concurrent", concurrency=20),
            NatsEventClient(nats_server.url, subject="concurrent", timeout=20) as client,
        ):
            started = time.monotonic()
            answers = await asyncio.gather(*(client.send_event("wait:a:bit", 1) for _ in range(60)))
            assert all(a.is_success for a in answers)
            return time.monotonic() - started

    elapsed = run(main())
    assert peak == 20  # 60 events, 20 at a time: never more, and not one at a time
    assert elapsed < 60 * 0.3


def _holding_router() -> tuple[EventRouter, asyncio.Event]:
    """A router whose event ``hold`` v1 is answered once the event returned is set."""
    router = EventRouter()
    release = asyncio.Event()

    @router.event("hold", 1)
    async def hold(event: Event) -> Any:
        await release.wait()
        return {}

    return router, release


@pytest.mark.slow
def test_events_past_the_pending_limit_are_answered_503_at_once_and_warned_of(
    nats_server: NatsProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """One slot, two pending: of 8 events sent at once, those NATS's client drops are refused
    with 503 while the first is still being handled (not left to time out); the rest are answered."""
    router, release = _holding_router()

    async def main() -> tuple[list[Any], list[Any]]:
        async with (
            serving(router, nats_server.url, "busy", concurrency=1, max_pending=2),
            NatsEventClient(nats_server.url, subject="busy", timeout=30) as client,
        ):
            calls = [asyncio.ensure_future(client.send_event("hold", 1)) for _ in range(8)]
            async with asyncio.timeout(10):  # refused long before the client's 30 s
                while not any(call.done() for call in calls):
                    await asyncio.sleep(0.01)
            refused_early = [call.exception() for call in calls if call.done()]
            release.set()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            return refused_early, outcomes

    with caplog.at_level("WARNING", logger="fastevents.nats"):
        refused_early, outcomes = run(main())
    assert refused_early and all(
        isinstance(exc, FailedDependencyException) and exc.status == 503 for exc in refused_early
    ), refused_early
    refused = [o for o in outcomes if isinstance(o, FailedDependencyException) and o.status == 503]
    answered = [o for o in outcomes if not isinstance(o, BaseException) and o.is_success]
    assert len(refused) + len(answered) == 8 and len(answered) >= 2, outcomes  # 1 in a slot + 2 pending at least
    # The first drop told at once, the rest when the connection closed (before 10 s had passed).
    told = [r.getMessage() for r in caplog.records if "dropped past the pending limits" in r.getMessage()]
    counts = [int(re.search(r"(\d+) message\(s\) .* to busy, (\1) of them requests answered 503", t)[1]) for t in told]
    assert counts[0] == 1 and sum(counts) == len(refused) and len(counts) <= 2, told


@pytest.mark.slow
def test_a_refusal_that_cannot_be_sent_does_not_stop_the_server_reading(nats_server: NatsProcess) -> None:
    """The 503 is published from nats-py's read loop, which an exception would end: one that
    fails is logged, its caller times out, and every later event is still answered."""
    router, release = _holding_router()

    async def main() -> tuple[list[Any], Any]:
        async with (
            serving(router, nats_server.url, "refusing", concurrency=1, max_pending=1) as server,
            NatsEventClient(nats_server.url, subject="refusing", timeout=2) as client,
        ):
            publish = server.nc.publish
            refusal_failed = asyncio.Event()

            async def failing(subject: str, payload: bytes = b"", **options: Any) -> None:
                if payload == b"Service Unavailable":
                    refusal_failed.set()
                    raise nats.errors.ConnectionDrainingError
                await publish(subject, payload, **options)

            server.nc.publish = failing
            calls = [asyncio.ensure_future(client.send_event("hold", 1)) for _ in range(6)]
            await asyncio.wait_for(refusal_failed.wait(), 10)  # a drop, and its refusal raised
            release.set()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            return outcomes, await client.send_event("hold", 1)

    outcomes, later = run(main())
    assert any(isinstance(o, TimeoutException) for o in outcomes), outcomes  # the refusals that failed
    assert later.is_success


def test_drops_are_all_told_at_most_once_per_period(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fastevents import _nats

    monkeypatch.setattr(_nats, "DROPS_WARNED_EVERY", 0.05)

    async def main() -> None:
        drops = _nats._Drops("server")
        for number in range(1000):
            drops.count("users.events", refused=number % 2 == 0)
        while drops.timer is not None:  # the rest told once, then a period with nothing to tell
            await asyncio.sleep(0.01)
        drops.count("_INBOX.x", refused=False)  # a client's inbox: an answer, nobody to refuse

    with caplog.at_level("WARNING", logger="fastevents.nats"):
        run(main())
    assert [r.getMessage() for r in caplog.records] == [
        "NATS: server: 1 message(s) dropped past the pending limits of the subscription to users.events, "
        "1 of them requests answered 503 Service Unavailable",
        "NATS: server: 999 message(s) dropped past the pending limits of the subscription to users.events, "
        "499 of them requests answered 503 Service Unavailable",
        "NATS: server: 1 message(s) dropped past the pending limits of the subscription to _INBOX.x",
    ]


def test_nats_settings_refuse_a_pending_limit_below_one() -> None:
    with pytest.raises(ValueError, match="--nats-max-pending must be at least 1"):
        NatsSettings("nats://127.0.0.1:4222", "x", max_pending=0)


def test_nats_settings_keep_their_positional_order() -> None:
    """max_pending came last: settings written positionally mean what they meant."""
    settings = NatsSettings("nats://127.0.0.1:4222", "users.events", "users", 16, 2_000_000, 5.0, False)
    assert (settings.queue, settings.concurrency, settings.max_body) == ("users", 16, 2_000_000)
    assert (settings.shutdown_timeout, settings.service, settings.max_pending) == (5.0, False, 524_288)


@pytest.mark.parametrize("url", [" nats://127.0.0.1:4222/x", "WSS://h/x", "tls://h"])
def test_a_nats_url_is_told_as_parse_url_reads_it(url: str) -> None:
    from fastevents import _nats

    assert _nats.is_url(url) and _nats.parse_url(url)[0]


@pytest.mark.slow
def test_services_api_lists_the_events(nats_server: NatsProcess, router: EventRouter) -> None:
    async def main() -> tuple[Any, Any, Any]:
        async with (
            serving(router, nats_server.url, "users.events", queue="users"),
            NatsEventClient(nats_server.url, subject="users.events", timeout=10) as client,
        ):
            await client.send_event("server:pid", 1)
            nc = await nats.connect(nats_server.url)
            try:
                ping = await nc.request("$SRV.PING.users-events", b"", timeout=5)
                info = await nc.request("$SRV.INFO.users-events", b"", timeout=5)
                stats = await nc.request("$SRV.STATS.users-events", b"", timeout=5)
            finally:
                await nc.close()
            return json.loads(ping.data), json.loads(info.data), json.loads(stats.data)

    ping, info, stats = run(main())
    assert ping["name"] == "users-events"
    (endpoint,) = info["endpoints"]
    assert endpoint["subject"] == "users.events" and endpoint["queue_group"] == "users"
    events = json.loads(endpoint["metadata"]["events"])
    assert "server:pid:V1" in events and "get:event:example:V2" in events
    assert stats["endpoints"][0]["num_requests"] == 1


@pytest.mark.slow
def test_running_serves_in_your_own_loop_and_restores_signal_handlers(nats_server: NatsProcess) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    async def main() -> Any:
        server = NatsServer(EventProcessor(build_nats_router()), NatsSettings(nats_server.url, "running.events"))
        async with server.running():
            assert signal.getsignal(signal.SIGINT) is not before[1]  # chained: SIGINT drains first
            async with NatsEventClient(nats_server.url, subject="running.events", timeout=10) as client:
                return await client.send_event("server:pid", 1)

    assert run(main()).is_success
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# --- sending ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_responders_is_a_connection_error_at_once(nats_server: NatsProcess) -> None:
    async def main() -> float:
        async with NatsEventClient(f"{nats_server.url}/nobody.here", timeout=30) as client:
            started = time.monotonic()
            with pytest.raises(EventConnectionError, match="no service answers"):
                await client.send_event("get:event:example", 1)
            return time.monotonic() - started

    assert run(main()) < 10  # not the 30 s timeout


@pytest.mark.slow
def test_no_answer_in_time_is_a_timeout(nats_server: NatsProcess) -> None:
    async def main() -> None:
        nc = await nats.connect(nats_server.url)

        async def never_answer(msg: Any) -> None:
            return None

        await nc.subscribe("silent", cb=never_answer)
        await nc.flush()
        try:
            async with NatsEventClient(nats_server.url, subject="silent", timeout=0.3) as client:
                with pytest.raises(TimeoutException):
                    await client.send_event("get:event:example", 1)
        finally:
            await nc.close()

    run(main())


@pytest.mark.slow
def test_unreachable_nats_is_a_connection_error() -> None:
    from .helpers_http import free_port

    async def main() -> None:
        async with NatsEventClient(f"nats://127.0.0.1:{free_port()}/x", timeout=5) as client:
            with pytest.raises(EventConnectionError):
                await client.send_event("get:event:example", 1)

    run(main())


@pytest.mark.slow
def test_ids_and_flow_ids_propagate_as_over_http(nats_server: NatsProcess) -> None:
    inner = EventRouter()

    @inner.event("inner:ids", 1)
    def ids(event: Event) -> Any:
        return {"id": event.id, "flowId": event.flow_id}

    outer = EventRouter()

    @outer.event("outer:call", 1)
    async def call(event: Event) -> Any:
        async with NatsEventClient(nats_server.url, subject="ids.inner", timeout=10) as client:
            answer = await client.send_event("inner:ids", 1)
        return answer.payload

    async def main() -> Any:
        async with (
            serving(inner, nats_server.url, "ids.inner"),
            serving(outer, nats_server.url, "ids.outer"),
            NatsEventClient(nats_server.url, subject="ids.outer", timeout=10) as client,
            NatsEventClient(nats_server.url, subject="ids.inner", timeout=10) as direct,
        ):
            explicit = await direct.send_event("inner:ids", 1, id="my-id", flow_id="my-flow")
            assert explicit.payload == {"id": "my-id", "flowId": "my-flow"}
            assert (explicit.id, explicit.flow_id) == ("my-id", "my-flow")
            return await client.send_event("outer:call", 1, id="call-id", flow_id="call-flow")

    nested = run(main())
    assert nested.payload == {"id": "call-id", "flowId": "call-flow"}  # reused inside the handler


@pytest.mark.parametrize("module", ["fastevents", "fastevents.nats"])
def test_importing_loads_no_nats_client_library(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.')))"
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=LIMIT, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


def test_mock_events_answers_the_nats_client() -> None:
    async def main() -> Any:
        with MockEvents() as mock:
            mock.add("greet:person", 1, {"hello": "you"})
            async with NatsEventClient("nats://127.0.0.1:1/users.events") as client:  # nothing listens there
                answer = await client.send_event("greet:person", 1, {"name": "x"})
            return answer, mock.calls

    answer, calls = run(main())
    assert answer.payload == {"hello": "you"}
    assert [(c.url, c.name) for c in calls] == [("nats://127.0.0.1:1/users.events", "greet:person")]


@pytest.mark.parametrize(
    ("url", "subject", "servers", "expected"),
    [
        ("nats://h:4222/users.events", None, ["nats://h:4222"], "users.events"),
        ("nats://a:1,nats://b:2", "s", ["nats://a:1", "nats://b:2"], "s"),
        (["nats://a:1", "tls://b:2/x"], None, ["nats://a:1", "tls://b:2"], "x"),
    ],
)
def test_nats_client_reads_servers_and_subject(url: Any, subject: Any, servers: list[str], expected: str) -> None:
    client = NatsEventClient(url, subject=subject)
    assert (client.servers, client.subject) == (servers, expected)


@pytest.mark.parametrize("url", ["http://h:80/events", "nats://h:4222", "nats://h:4222/a b", "nats://h:4222/a.>"])
def test_nats_client_refuses_what_it_cannot_send_to(url: str) -> None:
    with pytest.raises(ValueError):
        NatsEventClient(url)


# --- the conformance kit and the command line ---------------------------------------------------


@pytest.mark.slow
def test_conformance_kit_passes_over_nats(nats_server: NatsProcess, router: EventRouter) -> None:
    async def main() -> Any:
        async with serving(router, nats_server.url, "conformance"):
            return await run_cases(f"{nats_server.url}/conformance", timeout=10)

    results = run(main())
    applicable = [c for c in load_cases() if applies_over_nats(c)]
    assert len(results) == len(applicable) > 25
    assert [(r.case["id"], r.problems) for r in results if not r.passed] == []


@pytest.mark.slow
def test_send_and_conformance_commands_take_nats_urls(nats_server: NatsProcess) -> None:
    with NatsServing(nats_server.url, "cli.events", "--no-http") as served:

        async def ready() -> None:
            nc = await nats.connect(nats_server.url)
            try:
                await wait_for_services(nc, "cli.events", 1)
            finally:
                await nc.close()

        run(ready())
        url = f"{nats_server.url}/cli.events"
        command = [PYTHON, "-m", "fastevents"]
        sent = subprocess.run(
            [*command, "send", url, "get:event:example", "1", "--payload", '{"example": "hi"}'],
            capture_output=True,
            text=True,
            timeout=LIMIT,
            cwd=ROOT,
        )
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["payload"] == {"MyEventPayload": "hi"}
        nobody = subprocess.run(
            [*command, "send", f"{nats_server.url}/nobody", "x", "1"], capture_output=True, text=True, timeout=LIMIT
        )
        assert nobody.returncode == 4, nobody.stderr
        checked = subprocess.run([*command, "conformance", url], capture_output=True, text=True, timeout=LIMIT)
        assert checked.returncode == 0, checked.stdout
        assert served.stop() == 0


@pytest.mark.slow
def test_serve_without_http_still_runs_the_lifespan(nats_server: NatsProcess) -> None:
    with NatsServing(nats_server.url, "lifespan.events", "--no-http") as served:

        async def main() -> Any:
            nc = await nats.connect(nats_server.url)
            try:
                await wait_for_services(nc, "lifespan.events", 1)
            finally:
                await nc.close()
            async with NatsEventClient(nats_server.url, subject="lifespan.events", timeout=10) as client:
                return await client.send_event("lifespan:state", 1)

        answer = run(main())
        assert answer.payload == {"started": answer.payload["started"]} and answer.payload["started"] > 0
        assert served.stop() == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-http"],
        ["--nats", "nats://127.0.0.1:4222"],
        ["--nats", "http://127.0.0.1:4222", "--nats-subject", "x"],
        ["--nats", "nats://127.0.0.1:4222", "--nats-subject", "x", "--no-http", "--catalogue"],
        ["--nats", "nats://127.0.0.1:4222", "--nats-subject", "x", "--no-http", "--health-path", "/health"],
    ],
)
@pytest.mark.slow
def test_serve_refuses_incomplete_nats_options(argv: list[str]) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "fastevents", "serve", "tests.helpers_nats:router", *argv],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("fastevents: ") and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # one line, before anything is started


@pytest.mark.slow
def test_serve_fails_to_start_when_nats_is_unreachable() -> None:
    from .helpers_http import free_port

    unreachable = f"nats://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [*SERVE, "tests.helpers_nats:router", "--no-http", "--nats", unreachable, "--nats-subject", "x"],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "cannot reach NATS at nats://127.0.0.1:" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["nats", "tls", "ws", "wss"])
def test_send_and_conformance_take_every_nats_scheme_the_client_takes(scheme: str) -> None:
    """The CLI and the kit read the client's list of schemes: a ws:// URL goes to NATS (and
    fails to connect, exit 4 / 1), not to the HTTP URL check (usage error, exit 2)."""
    from .helpers_http import free_port

    url = f"{scheme}://127.0.0.1:{free_port()}/x"
    command = [PYTHON, "-m", "fastevents"]
    sent = subprocess.run([*command, "send", url, "x", "1"], capture_output=True, text=True, timeout=LIMIT, cwd=ROOT)
    assert (sent.returncode, f"connection failed: {url}: NoServersError" in sent.stderr) == (4, True), sent.stderr
    kit = subprocess.run([*command, "conformance", url], capture_output=True, text=True, timeout=LIMIT, cwd=ROOT)
    assert (kit.returncode, kit.stdout, "cannot reach NATS at" in kit.stderr) == (1, "", True), kit.stderr


# --- processes: a queue group, workers, draining -------------------------------------------------


async def _pids(url: str, subject: str, count: int, event: str = "server:pid") -> collections.Counter[int]:
    async with NatsEventClient(url, subject=subject, timeout=30) as client:
        answers = await asyncio.gather(*(client.send_event(event, 1) for _ in range(count)))
    assert all(a.is_success for a in answers), [a.name for a in answers if not a.is_success][:3]
    return collections.Counter(a.payload["pid"] for a in answers)


@pytest.mark.slow
def test_three_processes_share_the_events(nats_server: NatsProcess) -> None:
    processes = [NatsServing(nats_server.url, "shared.events", "--no-http") for _ in range(3)]
    try:

        async def main() -> collections.Counter[int]:
            nc = await nats.connect(nats_server.url)
            try:
                await wait_for_services(nc, "shared.events", 3)
            finally:
                await nc.close()
            return await _pids(nats_server.url, "shared.events", 3000)

        counts = run(main())
    finally:
        codes = [p.stop() for p in processes]
    assert sorted(counts) == sorted(p.pid for p in processes)
    assert sum(counts.values()) == 3000
    assert min(counts.values()) >= 0.15 * 3000, counts
    assert codes == [0, 0, 0]


@pytest.mark.slow
def test_workers_join_one_queue_group(nats_server: NatsProcess) -> None:
    with NatsServing(nats_server.url, "workers.events", "--no-http", "--workers", "2") as served:

        async def main() -> collections.Counter[int]:
            nc = await nats.connect(nats_server.url)
            try:
                await wait_for_services(nc, "workers.events", 2)
            finally:
                await nc.close()
            return await _pids(nats_server.url, "workers.events", 400)

        counts = run(main())
        assert len(counts) == 2 and served.pid not in counts
        assert served.stop() == 0


@pytest.mark.slow
def test_sigterm_drains_without_losing_an_event(nats_server: NatsProcess) -> None:
    """200 slow events in flight over two processes; one gets SIGTERM: it unsubscribes,
    answers what it took, and exits; events sent meanwhile go to the other. None is lost."""
    # 20 at a time: most of what the victim took still waits in its subscription's queue.
    victim = NatsServing(nats_server.url, "drain.events", "--shutdown-timeout", "20", "--nats-concurrency", "20")
    other = NatsServing(nats_server.url, "drain.events", "--no-http")
    try:

        async def main() -> tuple[list[Any], list[Any], float]:
            nc = await nats.connect(nats_server.url)
            ids = await wait_for_services(nc, "drain.events", 2)
            async with (
                NatsEventClient(nats_server.url, subject="drain.events", timeout=40) as client,
                AsyncEventClient(victim.url, timeout=10) as http,
            ):
                # An HTTP request in flight too: the victim must not wait for it to unsubscribe.
                over_http = asyncio.ensure_future(http.send_event("slow:sleep", 1, {"seconds": 4.0}))
                while (await http.send_event("server:sleeping", 1)).payload["sleeping"] == 0:
                    await asyncio.sleep(0.01)
                slow = [asyncio.ensure_future(client.send_event("slow:sleep", 1, {"seconds": 1.0})) for _ in range(200)]
                while (await http.send_event("server:sleeping", 1)).payload["sleeping"] < 2:  # victim took some
                    await asyncio.sleep(0.01)
                taken = (await http.send_event("server:sleeping", 1)).payload["sleeping"] - 1
                victim.process.send_signal(signal.SIGTERM)
                stopped = time.monotonic()
                await wait_until_gone(nc, "drain.events", ids[victim.pid])  # it unsubscribed...
                assert not over_http.done()  # ...before its HTTP side had drained
                await nc.close()
                assert (await over_http).is_success
                later = [asyncio.ensure_future(client.send_event("server:pid", 1)) for _ in range(50)]
                answers = await asyncio.gather(*slow)
                after = await asyncio.gather(*later)
                await asyncio.to_thread(victim.process.wait, 30)
                assert taken > 0
                return answers, after, time.monotonic() - stopped

        answers, after, exited_after = run(main())
    finally:
        victim_code, other_code = victim.stop(), other.stop()
    assert [a.name for a in answers] == ["slow:sleep:response"] * 200
    assert all(a.is_success for a in after)
    # Events sent once the victim had unsubscribed (while it still answered the slow ones)
    # all went to the other process.
    assert {a.payload["pid"] for a in after} == {other.pid}
    assert victim_code == 0 and other_code == 0
    assert exited_after < 20  # --shutdown-timeout
    assert "cancelled, unanswered" not in victim.output()


@pytest.mark.slow
def test_cluster_failover_answers_no_event_twice() -> None:
    """The client's nats-server dies: the client reconnects to the other; every event is
    handled at most once, and the events after the failover are all answered."""
    with nats_cluster(2) as (a, b):
        server_router = EventRouter()
        handled: list[str] = []

        @server_router.event("count:id", 1)
        def count(event: Event) -> Any:
            handled.append(event.id)
            return {"id": event.id}

        async def main() -> tuple[list[Any], list[Any], str]:
            async with serving(server_router, b.url, "failover.events"):
                client = NatsEventClient(
                    [a.url, b.url], subject="failover.events", timeout=3, options={"dont_randomize": True}
                )
                async with client:
                    # The route between the two servers carries B's subscription to A.
                    async with asyncio.timeout(20):
                        while True:
                            try:
                                await client.send_event("count:id", 1)
                                break
                            except (EventConnectionError, TimeoutException):
                                await asyncio.sleep(0.05)
                    nc = await client.transport.connection()  # type: ignore[attr-defined]
                    assert nc.connected_url.port == a.port
                    before = []
                    for i in range(100):
                        before.append(asyncio.ensure_future(client.send_event("count:id", 1, id=f"before-{i}")))
                        if i == 50:
                            a.stop(signal.SIGKILL)
                        await asyncio.sleep(0.005)
                    outcomes = await asyncio.gather(*before, return_exceptions=True)
                    after = await asyncio.gather(
                        *(client.send_event("count:id", 1, id=f"after-{i}") for i in range(100))
                    )
                    return list(outcomes), list(after), f"{nc.connected_url.port}"

        outcomes, after, port = run(main())
    assert port == str(b.port)
    duplicates = [i for i, n in collections.Counter(handled).items() if n > 1]
    assert duplicates == []
    for outcome in outcomes:  # each answered with its own id, or failed: never another's answer
        assert isinstance(outcome, (EventConnectionError, TimeoutException)) or outcome.payload == {"id": outcome.id}
    assert [a.payload["id"] for a in after] == [f"after-{i}" for i in range(100)]


# --- one trace across an HTTP hop and a NATS hop -----------------------------------------------


@pytest.fixture
def otel() -> Iterator[Any]:
    pytest.importorskip("opentelemetry.sdk")
    from .test_otel import Telemetry

    telemetry = Telemetry()
    try:
        yield telemetry
    finally:
        telemetry.close()


@pytest.mark.slow
def test_one_trace_across_an_http_hop_and_a_nats_hop(nats_server: NatsProcess, otel: Any) -> None:
    from opentelemetry.trace import SpanKind

    from fastevents import asgi_app

    from .test_otel import Served, parent_of

    a, b = EventRouter(), EventRouter()

    @a.event("a:call", 1)
    async def call_b(event: Event) -> Any:
        async with NatsEventClient(nats_server.url, subject="trace.b", timeout=10) as client:
            answer = await client.send_event("b:work", 1, metadata={"origin": "service-a"})
        return {"metadata": answer.payload["metadata"], "headers": answer.payload["headers"]}

    received_headers: list[Any] = []

    @b.event("b:work", 1)
    def work(event: Event) -> Any:
        from fastevents import _observe

        received_headers.append(dict(_observe.request_headers.get() or {}))
        return {"metadata": event.metadata, "headers": received_headers[-1]}

    served = Served(asgi_app(a))
    try:

        async def main() -> Any:
            async with serving(b, nats_server.url, "trace.b"), AsyncEventClient(served.urls[0], timeout=10) as client:
                return await client.send_event("a:call", 1)

        answer = run(main())
    finally:
        served.close()
    assert answer.name == "a:call:response"
    spans = otel.spans(4)
    by_kind = {(s.name, s.kind): s for s in spans}
    client_a = by_kind["a:call:V1", SpanKind.CLIENT]
    server_a = by_kind["a:call:V1", SpanKind.SERVER]
    client_b = by_kind["b:work:V1", SpanKind.CLIENT]
    server_b = by_kind["b:work:V1", SpanKind.SERVER]
    assert parent_of(server_a) == client_a.context.span_id  # the HTTP hop
    assert parent_of(client_b) == server_a.context.span_id
    assert parent_of(server_b) == client_b.context.span_id  # the NATS hop
    assert len({s.context.trace_id for s in (client_a, server_a, client_b, server_b)}) == 1
    # The context went in the NATS headers and in metadata.trace, next to the caller's metadata.
    traceparent = f"00-{client_b.context.trace_id:032x}-{client_b.context.span_id:016x}-"
    assert answer.payload["headers"]["traceparent"].startswith(traceparent)
    assert answer.payload["metadata"]["trace"]["traceparent"].startswith(traceparent)
    assert answer.payload["metadata"]["origin"] == "service-a"


@pytest.mark.slow
@pytest.mark.parametrize("carrier", ["headers", "metadata"])
def test_nats_server_reads_trace_context_from_headers_else_metadata(
    nats_server: NatsProcess, otel: Any, carrier: str
) -> None:
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = f"00-{trace_id}-{span_id}-01"
    envelope: dict[str, Any] = {"name": "server:pid", "version": 1}
    headers = None
    if carrier == "headers":
        headers = {"traceparent": traceparent}
        envelope["metadata"] = {"trace": {"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}}  # headers win
    else:
        envelope["metadata"] = {"trace": {"traceparent": traceparent}}

    async def main() -> None:
        async with serving(build_nats_router(), nats_server.url, f"trace.{carrier}"):
            nc = await nats.connect(nats_server.url)
            try:
                await nc.request(f"trace.{carrier}", json.dumps(envelope).encode(), timeout=10, headers=headers)
            finally:
                await nc.close()

    run(main())
    (span,) = otel.spans(1)
    assert f"{span.context.trace_id:032x}" == trace_id
    assert f"{span.parent.span_id:016x}" == span_id
