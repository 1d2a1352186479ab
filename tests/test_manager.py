"""``fastevents serve``'s process manager, signals, shutdown and connection cap, against real servers.

Each test starts a ``fastevents serve`` on a free loopback port and polls it, with a deadline,
for what it must do: replace workers that crash, obey the manager's signals, answer or refuse
(never reset) connections that arrive as it stops, and make room for newcomers at the
connection cap.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from .helpers_http import PYTHON, ROOT, Server, read_message, serve_fastevents

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not Path("/proc").is_dir(), reason="POSIX signals, /proc"),
]

CRASHING = "tests.helpers_manager:router"
EXAMPLE = b'{"name": "get:event:example", "version": 1, "payload": {"example": "x"}}'
WORKERS_2 = ("--port", "0", "--workers", "2")
#: A request sent this long after connecting may meet a stopping server's close of connections
#: that sent nothing in time (``fastevents._server.SHUTDOWN_GRACE``, 1 s): it is "late".
LATE = 0.5
T = TypeVar("T")


def until(check: Callable[[], T], seconds: float = 20.0, what: str = "") -> T:
    """Poll ``check`` until it returns something true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"not within {seconds} s: {what or check}"
            return value
        time.sleep(0.05)


def worker_pids(srv: Server) -> set[int]:
    """The manager's live worker processes (its spawned children), from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == srv.pid and state != "Z" and b"spawn_main" in cmdline:
            pids.add(int(entry.name))
    return pids


def workers_when(srv: Server, check: Callable[[set[int]], bool], what: str) -> set[int]:
    """Poll the manager's workers until one snapshot of them passes ``check``; that snapshot."""

    def snapshot() -> set[int]:
        pids = worker_pids(srv)
        return pids if check(pids) else set()

    return until(snapshot, what=f"{what}\n{srv.output()}")


def served_pid(srv: Server) -> int | None:
    """The pid of the worker that answers ``server:pid``, or None if nobody answers."""
    try:
        answer = httpx.post(srv.url, json={"name": "server:pid", "version": 1, "payload": {}}, timeout=2)
        return int(answer.json()["payload"]["pid"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def serving_pids(srv: Server, count: int) -> set[int]:
    """Wait until ``count`` different workers have answered; their pids."""
    pids: set[int] = set()

    def more() -> bool:
        pid = served_pid(srv)
        if pid is not None:
            pids.add(pid)
        return len(pids) >= count

    until(more, what=f"{count} workers answering\n{srv.output()}")
    return pids


def stopped(srv: Server, seconds: float = 20.0) -> int:
    try:
        return srv.process.wait(seconds)
    except subprocess.TimeoutExpired:
        srv.stop(signal.SIGKILL)
        pytest.fail(f"the manager did not stop within {seconds} s\n{srv.output()}")


def stopped_by(srv: Server, sig: int) -> int:
    srv.process.send_signal(sig)
    return stopped(srv)


# --- item 3: a worker that dies after it started is replaced, always ------------------------


@pytest.mark.parametrize("crash", ["crash:exit", "crash:segfault"])
def test_a_worker_killed_by_a_request_is_always_replaced(crash: str) -> None:
    with serve_fastevents("--workers", "2", target=CRASHING) as srv:
        serving_pids(srv, 2)
        for _ in range(12):  # five crashes of one slot within 10 s stopped the service
            with pytest.raises(httpx.HTTPError):
                httpx.post(srv.url, json={"name": crash, "version": 1, "payload": {}}, timeout=10)
            until(lambda: served_pid(srv), what=f"served after a crash\n{srv.output()}")
        workers_when(srv, lambda pids: len(pids) == 2, "two workers again")
        assert srv.process.poll() is None, srv.output()
        assert "restarting it" in srv.output()
        assert stopped_by(srv, signal.SIGTERM) == 0, srv.output()


def test_a_worker_reporting_a_startup_failure_stops_the_manager_at_once_with_exit_1() -> None:
    """As uvicorn's manager does: exit status 3 says the app cannot start, and would not on a retry.

    (A worker that dies before it started for another reason is retried with backoff:
    ``test_hostile.test_a_worker_that_cannot_start_is_retried_with_backoff_then_the_manager_exits_1``.)
    """
    result = subprocess.run(
        [PYTHON, "-m", "fastevents", "serve", "tests.helpers_manager:router_failing_startup", *WORKERS_2],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "restarting in" not in result.stderr
    # one line says why (tests/test_lifespan_health.py), from the first worker that failed
    assert result.stderr.count("the lifespan's startup failed") == 1, result.stderr


# --- item 6: the manager survives its own signals ---------------------------------------------


def test_sigttin_adds_a_worker_that_is_replaced_when_it_dies() -> None:
    with serve_fastevents("--workers", "2") as srv:
        first = workers_when(srv, lambda pids: len(pids) == 2, "two workers")
        srv.process.send_signal(signal.SIGTTIN)
        grown = workers_when(srv, lambda pids: len(pids) == 3, "a third worker")
        (added,) = grown - first
        serving_pids(srv, 2)
        os.kill(added, signal.SIGKILL)
        again = workers_when(srv, lambda pids: len(pids) == 3 and added not in pids, "the third worker replaced")
        assert first < again
        assert served_pid(srv) is not None
        assert stopped_by(srv, signal.SIGTERM) == 0, srv.output()
    assert "Traceback" not in srv.output()


def test_sigttou_removes_workers_down_to_one() -> None:
    with serve_fastevents("--workers", "2", "--log-level", "info") as srv:
        workers_when(srv, lambda pids: len(pids) == 2, "two workers")
        srv.process.send_signal(signal.SIGTTOU)
        workers_when(srv, lambda pids: len(pids) == 1, "one worker")
        srv.process.send_signal(signal.SIGTTOU)
        until(lambda: "received SIGTTOU: ignored" in srv.output(), what="the refusal logged")
        assert len(worker_pids(srv)) == 1
        assert served_pid(srv) is not None
        assert stopped_by(srv, signal.SIGTERM) == 0, srv.output()
    assert "Traceback" not in srv.output()


def test_sighup_replaces_every_worker_and_keeps_serving() -> None:
    with serve_fastevents("--workers", "2") as srv:
        first = workers_when(srv, lambda pids: len(pids) == 2, "two workers")
        serving_pids(srv, 2)
        srv.process.send_signal(signal.SIGHUP)
        workers_when(srv, lambda pids: len(pids) == 2 and not pids & first, "both replaced")
        assert served_pid(srv) not in first
        assert stopped_by(srv, signal.SIGTERM) == 0, srv.output()
    assert "Traceback" not in srv.output()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_stop_the_manager_with_exit_0(sig: str) -> None:
    with serve_fastevents("--workers", "2") as srv:
        workers = workers_when(srv, lambda pids: len(pids) == 2, "two workers")
        assert stopped_by(srv, getattr(signal, sig)) == 0, srv.output()
        assert not worker_pids(srv) & workers


@pytest.mark.parametrize("sig", ["SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"])
def test_signals_the_manager_does_not_handle_are_ignored_with_a_log_line(sig: str) -> None:
    with serve_fastevents("--workers", "2", "--log-level", "info") as srv:
        workers = workers_when(srv, lambda pids: len(pids) == 2, "two workers")
        srv.process.send_signal(getattr(signal, sig))
        until(lambda: f"received {sig}: ignored" in srv.output(), what=f"{sig} logged\n{srv.output()}")
        assert srv.process.poll() is None and worker_pids(srv) == workers
        assert served_pid(srv) in workers
        assert stopped_by(srv, signal.SIGTERM) == 0, srv.output()


# --- item 7: a new connection is never reset on SIGTERM ---------------------------------------


def _address(srv: Server) -> tuple[str, int]:
    host, port = srv.base.rsplit("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def _one_request(address: tuple[str, int]) -> str:
    """One request on a new connection: "HTTP <status>", "refused", "reset" or "unanswered".

    Or "late": the request was sent so long after connecting (this machine's load) that the
    server, stopping, may have closed the connection for sending nothing in time
    (``LATE``); what happened to it then is not counted.
    """
    try:
        sock = socket.create_connection(address, timeout=10)
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:  # the kernel's reset of test_connections_arriving...: at connect()
        return f"reset connecting at {time.monotonic():.3f}"
    connected = time.monotonic()
    sent: float | None = None
    with sock:
        data = b""
        try:
            sock.sendall(
                b"POST /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(EXAMPLE), EXAMPLE)
            )
            sent = time.monotonic()
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            if (sent or time.monotonic()) - connected > LATE:
                return "late"
            return f"reset {'receiving' if sent else 'sending'} at {time.monotonic():.3f}, {len(data)} bytes read"
        except TimeoutError:
            return "timeout"
    if data.startswith(b"HTTP/1.1 "):
        return "HTTP " + data[9:12].decode()
    return "late" if (sent or connected) - connected > LATE else "unanswered"


def _requests_until_refused(address: tuple[str, int], outcomes: list[str], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcomes.append(_one_request(address))
        if outcomes[-1] == "refused":
            return


@pytest.mark.parametrize("workers", [1, 2])
def test_connections_arriving_as_the_server_stops_are_answered_or_refused_never_reset(workers: int) -> None:
    from fastevents._server import SHUTDOWN_GRACE

    assert SHUTDOWN_GRACE >= 2 * LATE
    outcomes: list[str] = []
    stops: list[str] = []
    resets_per_stop: list[int] = []
    for _ in range(3):
        with serve_fastevents("--workers", str(workers)) as srv:
            serving_pids(srv, workers)
            round_outcomes: list[str] = []
            threads = [
                threading.Thread(target=_requests_until_refused, args=(_address(srv), round_outcomes), daemon=True)
                for _ in range(16)
            ]
            for thread in threads:
                thread.start()
            until(lambda: round_outcomes.count("HTTP 200") >= 100, what="clients answered")  # noqa: B023
            stops.append(f"SIGTERM at {time.monotonic():.3f}")
            assert stopped_by(srv, signal.SIGTERM) == 0, srv.output()
            stops.append(f"stopped at {time.monotonic():.3f}")
            for thread in threads:
                thread.join(15)
            outcomes += round_outcomes
            resets_per_stop.append(sum(outcome.startswith("reset") for outcome in round_outcomes))
    counts = {kind: outcomes.count(kind) for kind in set(outcomes) if not kind.startswith("reset")}
    resets = [outcome for outcome in outcomes if outcome.startswith("reset")]
    # One reset at most per stop: a connection whose handshake completes in the microseconds
    # between the last process's final accept() and its close() of the listening socket is reset
    # by the kernel, and nothing in user space can close that window (see Server.shutdown). Each
    # stop opens it once: CI saw one in about 9,000 requests under four parallel suites, and
    # once one in each of two stops of a run; the old code reset 29 to 45 a run.
    assert max(resets_per_stop) <= 1, (resets_per_stop, counts, resets, stops)
    assert counts.get("unanswered", 0) == counts.get("timeout", 0) == 0, (counts, resets, stops)
    assert counts["refused"] == 3 * 16, counts


# --- item 8: at the connection cap, serve the newcomer ------------------------------------------


def test_at_the_connection_cap_the_connection_waiting_longest_makes_room_for_a_newcomer() -> None:
    """110 connections with half-sent headers against a cap of 100 (the ratio of the issue's
    1,100 against the default 1,000), held by another process that reopens each one closed."""
    with serve_fastevents("--max-connections", "100", "--log-level", "warning") as srv:
        host, port = _address(srv)
        attacker = subprocess.Popen(
            [PYTHON, "-m", "tests.helpers_manager", host, str(port), "110"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert attacker.stdout is not None and attacker.stdout.readline() == "holding\n"
            until(lambda: "connections: 100 open (--max-connections)" in srv.output(), what="every slot taken")
            outcomes = [_one_request((host, port)) for _ in range(50)]  # other clients, each a new connection
        finally:
            out, _ = attacker.communicate("", timeout=15)
        assert outcomes.count("HTTP 200") >= 0.9 * len(outcomes), (outcomes, out)
        assert int(out.split()[-1]) > 10  # the attacker's connections were closed to make room
        assert "shed connections: 100 open (--max-connections)" in srv.output()


@pytest.mark.parametrize("path", ["direct", "asgi"])
def test_at_the_connection_cap_an_idle_keep_alive_connection_makes_room(path: str) -> None:
    """Idle keep-alive connections wait for their next request's headers: the one idle longest
    is shed for a newcomer, whichever path (fastevents/_server/_direct.py or the ASGI app) answered it."""
    env = {"FASTEVENTS_SERVE_ASGI": "1"} if path == "asgi" else {}
    request = b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(EXAMPLE),
        EXAMPLE,
    )
    with serve_fastevents("--max-connections", "10", "--keep-alive-timeout", "60", env=env) as srv:
        address = _address(srv)
        idle = []
        for _ in range(10):
            sock = socket.create_connection(address, timeout=10)
            sock.sendall(request)
            assert (message := read_message(sock)) is not None and message[0].startswith(b"HTTP/1.1 200 ")
            idle.append(sock)
        try:
            assert _one_request(address) == "HTTP 200"
            assert idle[0].recv(65536) == b""  # the longest idle was closed to make room
        finally:
            for sock in idle:
                sock.close()
        until(lambda: "shed connections: 10 open (--max-connections)" in srv.output(), what="the shedding logged")
