"""Hostile clients and faults against a real ``fastevents serve`` on loopback, a few seconds each.

Each attack runs with short limits (1 s instead of the defaults) so it is over quickly; the
15 s, 300-connection versions with their figures are in BENCHMARKS.md
(``python -m benchmarks.http_attacks``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .helpers_http import PYTHON, ROOT, Server, load, open_sockets, refused, serve_fastevents, sleeping
from .waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")]

SHORT = (
    "--header-timeout",
    "1",
    "--body-timeout",
    "1",
    "--keep-alive-timeout",
    "0.5",
    "--write-timeout",
    "1",
    "--log-level",
    "info",
)
EXAMPLE = b'{"name": "get:event:example", "version": 1, "payload": {"example": "x"}}'


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serve_fastevents(*SHORT, "--max-body", "65536") as srv:
        yield srv


def address(srv: Server) -> tuple[str, int]:
    host, port = srv.base.rsplit("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def connect(srv: Server, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(address(srv), timeout=timeout)


def post(body: bytes, path: str = "/events", extra: bytes = b"") -> bytes:
    return (
        b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
        % (path.encode(), len(body), extra)
    ) + body


def read_until_closed(sock: socket.socket, limit: float = 5.0) -> tuple[bytes, str]:
    """Everything the server sends until it closes: (bytes, "eof" | "reset" | "timeout")."""
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "timeout"
    return data, "eof"


def event(srv: Server, name: str, payload: Any = None, timeout: float = 5.0) -> Any:
    answer = httpx.post(srv.url, json={"name": name, "version": 1, "payload": payload or {}}, timeout=timeout)
    return answer.json()["payload"]


def in_background(fn: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def log_lines(srv: Server, word: str, wait: float = 2.0) -> list[str]:
    """Lines of the server's output containing ``word``, waiting up to ``wait`` s for one."""
    deadline = time.monotonic() + wait
    while True:
        lines = [line for line in srv.output().splitlines() if word in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


# --- item 1: limits ---------------------------------------------------------------------


def test_header_bomb_is_cut_off_with_431_and_others_are_served(server: Server) -> None:
    outcome: dict[str, Any] = {}

    def bomb() -> None:
        sock = connect(server)
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: t\r\nX-Bomb: ")
        sent = 0
        try:
            while sent < 200_000_000:
                sock.sendall(b"a" * 16384)
                sent += 16384
        except OSError:
            pass
        outcome["sent"] = sent
        outcome["answer"], outcome["end"] = read_until_closed(sock)
        sock.close()

    thread = in_background(bomb)
    result = load(server.url, connections=8, seconds=2.0, body=EXAMPLE)
    thread.join(10)
    assert outcome["answer"].startswith(b"HTTP/1.1 431 "), outcome
    assert outcome["sent"] < 20_000_000  # cut off, not read on
    assert result["errors"] == 0, result  # how fast, how much memory: python -m benchmarks.http_attacks
    assert log_lines(server, "--max-header-size")


def test_slowloris_headers_get_408_on_time_while_others_are_served(server: Server) -> None:
    socks = [connect(server) for _ in range(50)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(b"POST /events HTTP/1.1\r\n")

    def trickle() -> None:
        for i in range(30):
            for sock in socks:
                try:
                    sock.sendall(b"X-%d: y\r\n" % i)
                except OSError:
                    pass
            time.sleep(0.1)

    thread = in_background(trickle)
    result = load(server.url, connections=8, seconds=1.0, body=EXAMPLE)
    answers = [read_until_closed(sock, 4.0) for sock in socks]
    elapsed = time.monotonic() - started
    thread.join(5)
    for sock in socks:
        sock.close()
    assert all(data.startswith(b"HTTP/1.1 408 ") for data, _ in answers), answers[:2]
    assert elapsed < 3.5  # the 1 s header timeout, not the 3 s the trickle would take
    assert result["errors"] == 0, result  # how fast: python -m benchmarks.http_attacks


def test_slow_body_gets_408_on_time(server: Server) -> None:
    socks = [connect(server) for _ in range(20)]
    started = time.monotonic()
    for sock in socks:
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{")

    def trickle() -> None:
        for _ in range(30):
            for sock in socks:
                try:
                    sock.sendall(b" ")
                except OSError:
                    pass
            time.sleep(0.1)

    thread = in_background(trickle)
    answers = [read_until_closed(sock, 4.0) for sock in socks]
    elapsed = time.monotonic() - started
    thread.join(5)
    for sock in socks:
        sock.close()
    assert all(data.startswith(b"HTTP/1.1 408 ") for data, _ in answers), answers[:2]
    assert elapsed < 3.5
    assert log_lines(server, "--body-timeout")


def test_silent_and_idle_keep_alive_connections_are_closed_on_time(server: Server) -> None:
    silent = connect(server)
    idle = connect(server)
    idle.sendall(post(EXAMPLE))
    first = idle.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    rest, end = read_until_closed(idle, 4.0)
    keep_alive_closed = time.monotonic() - started
    data, silent_end = read_until_closed(silent, 4.0)
    silent_closed = time.monotonic() - started
    idle.close()
    silent.close()
    assert b"HTTP/" not in rest and end == "eof" and 0.3 < keep_alive_closed < 3.0, (rest, end, keep_alive_closed)
    assert (data, silent_end) == (b"", "eof") and silent_closed < 3.0, (data, silent_end, silent_closed)


def test_connections_over_the_cap_with_every_one_busy_are_refused_with_503_and_logged() -> None:
    with serve_fastevents("--max-connections", "10", "--log-level", "warning") as srv:
        idle = open_sockets(srv.pid)
        held = [connect(srv) for _ in range(10)]
        for sock in held:  # a request in progress on each: its body still arriving
            sock.sendall(post(EXAMPLE)[:-10])
        wait_until(lambda: open_sockets(srv.pid) >= idle + 10, what="the server holds the 10 connections")
        extra = connect(srv)
        extra.sendall(post(EXAMPLE))
        answer, end = read_until_closed(extra, 4.0)
        extra.close()
        for sock in held:
            sock.close()
        wait_until(
            lambda: httpx.post(srv.url, content=EXAMPLE, timeout=5).status_code == 200,
            what="once the server has seen them close, new clients are served again",
        )
        assert answer.startswith(b"HTTP/1.1 503 ") and end == "eof", (answer, end)
        assert log_lines(srv, "refused connections: 10 open (--max-connections)")


def test_at_the_open_file_limit_new_clients_are_served_or_refused_cleanly() -> None:
    with serve_fastevents("--log-level", "warning", max_files=128) as srv:
        assert log_lines(srv, "--max-connections lowered from 1000 to 64")
        idle = open_sockets(srv.pid)
        held = []
        for _ in range(70):
            held.append(connect(srv))
        wait_until(lambda: open_sockets(srv.pid) >= idle + 64, what="the server holds its 64 connections")
        outcomes = []
        for _ in range(5):
            sock = connect(srv)
            sock.sendall(post(EXAMPLE, extra=b"Connection: close\r\n"))
            outcomes.append(read_until_closed(sock, 4.0))
            sock.close()
        for sock in held:
            sock.close()
        # the idle connections held make room for newcomers (tests/test_manager.py)
        assert all(data.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 503 ")) and end == "eof" for data, end in outcomes), (
            outcomes
        )
        wait_until(
            lambda: httpx.post(srv.url, content=EXAMPLE, timeout=5).status_code == 200,
            what="once the held connections close, new clients are served again",
        )
        assert log_lines(srv, "connections: 64 open (--max-connections)")
        assert "Traceback" not in srv.output()


def test_a_client_that_stops_reading_is_cut_off_after_the_write_timeout(server: Server) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(address(server))
    body = json.dumps({"name": "big:answer", "version": 1, "payload": {"size": 30_000_000}}).encode()
    sock.sendall(post(body))
    # read nothing: the answer piles up in the server, then the write timeout (1 s) hits
    assert log_lines(server, "--write-timeout", wait=10)
    data, end = read_until_closed(sock, 5.0)
    sock.close()
    assert len(data) < 30_000_000 and end in ("reset", "eof")
    assert log_lines(server, "--write-timeout")


# --- item 2: 413 ends the request -------------------------------------------------------


@pytest.mark.parametrize("connection", [b"Connection: close\r\n", b""])
def test_413_is_received_and_the_rest_of_the_body_is_not_read(server: Server, connection: bytes) -> None:
    sock = connect(server)
    head = (
        b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n%s"
        b"Content-Length: 100000000\r\n\r\n" % connection
    )
    sock.sendall(head + b"x" * 100_000)
    sent = 100_000
    sock.settimeout(5)
    try:  # keep sending, as a client streaming a large upload does
        while sent < 100_000_000:
            sock.sendall(b"x" * 65536)
            sent += 65536
    except OSError:
        pass
    answer, end = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413 "), (answer[:100], end)
    assert b"connection: close" in answer.lower()
    assert sent < 30_000_000  # the server stopped reading


def test_413_reaches_an_http_client_that_sent_connection_close(server: Server) -> None:
    with httpx.Client(headers={"Connection": "close"}) as client:
        answer = client.post(server.url, content=b"x" * 300_000, headers={"content-type": "application/json"})
    assert answer.status_code == 413


# --- item 5: cancellation and shutdown --------------------------------------------------


def test_client_disconnect_cancels_a_hung_async_handler(server: Server) -> None:
    body = json.dumps({"name": "slow:sleep", "version": 1, "payload": {"seconds": 60}}).encode()
    socks = [connect(server) for _ in range(20)]
    for sock in socks:
        sock.sendall(post(body))
    deadline = time.monotonic() + 5
    while event(server, "server:sleeping")["sleeping"] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert event(server, "server:sleeping")["sleeping"] == 20
    for sock in socks:
        sock.close()
    deadline = time.monotonic() + 3
    while event(server, "server:sleeping")["sleeping"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert event(server, "server:sleeping")["sleeping"] == 0
    assert "Traceback" not in server.output()


def test_shutdown_cancels_what_is_left_with_one_log_line() -> None:
    srv = serve_fastevents("--shutdown-timeout", "1")
    try:
        body = json.dumps({"name": "slow:sleep", "version": 1, "payload": {"seconds": 60}}).encode()
        socks = [connect(srv, timeout=10) for _ in range(10)]
        for sock in socks:
            sock.sendall(post(body))
        deadline = time.monotonic() + 5
        while event(srv, "server:sleeping")["sleeping"] < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        code = srv.stop()
        took = time.monotonic() - started
        answers = [read_until_closed(sock, 3.0) for sock in socks]
    finally:
        srv.stop()
    for sock in socks:
        sock.close()
    assert code == 0 and took < 5, (code, took, srv.output())
    assert all(data.startswith(b"HTTP/1.1 503 ") for data, _ in answers), answers[:2]
    errors = [line for line in srv.stderr_lines if line.startswith(("ERROR", "Traceback", "  "))]
    assert len(errors) == 1 and "Cancel 10 running task(s)" in errors[0], srv.output()


# --- item 4: the process manager --------------------------------------------------------


def wait_for_workers(srv: Server, count: int, seconds: float = 20.0) -> set[int]:
    pids: set[int] = set()
    deadline = time.monotonic() + seconds
    while len(pids) < count and time.monotonic() < deadline:
        try:
            pids.add(event(srv, "server:pid", timeout=2)["pid"])
        except httpx.HTTPError:
            time.sleep(0.05)
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_sigkilled_manager_leaves_no_orphans_and_frees_the_port() -> None:
    srv = serve_fastevents("--workers", "2")
    workers: set[int] = set()
    try:
        workers = wait_for_workers(srv, 2)
        assert len(workers) == 2
        srv.process.send_signal(signal.SIGKILL)
        srv.process.wait(5)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in workers)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address(srv))  # "Address already in use" if a worker kept it
    finally:
        srv.stop()
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_that_cannot_start_is_retried_with_backoff_then_the_manager_exits_1() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [
            PYTHON,
            "-m",
            "fastevents",
            "serve",
            "tests.helpers_http:router_failing_in_workers",
            "--port",
            "0",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr[-2000:]
    assert "restarting in 0.25 s (attempt 1 of 4)" in result.stderr
    assert "restarting in 2 s (attempt 4 of 4)" in result.stderr
    assert "failed to start 5 times in a row" in result.stderr
    assert took > 3.75  # the backoff delays alone add up to 3.75 s


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_exits_0_and_new_connections_are_refused_while_stopping(workers: int) -> None:
    srv = serve_fastevents("--workers", str(workers))
    try:
        assert len(wait_for_workers(srv, workers)) == workers
        host, port = address(srv)
        results: list[Any] = []

        def slow() -> None:
            body = {"name": "slow:sleep", "version": 1, "payload": {"seconds": 1.5}}
            results.append(httpx.post(srv.url, json=body, timeout=10).json()["payload"])

        thread = in_background(slow)
        wait_until(lambda: sleeping(srv.url), what="the slow request is in its handler")
        srv.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refused(host, port), what="new connections are refused")
        assert results == []  # while the slow request is still in flight
        code = srv.process.wait(10)
        thread.join(5)
    finally:
        srv.stop()
    assert code == 0, srv.output()
    assert results == [{"slept": 1.5}]
