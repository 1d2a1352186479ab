"""HTTP test helpers: a served router, servers in subprocesses on free loopback ports.

``fastevents serve tests.helpers_http:router`` serves the conformance fixture router plus
``slow:sleep`` (an ``async def`` handler that sleeps ``payload.seconds``), ``server:pid``,
``server:sleeping`` (how many ``slow:sleep`` handlers are running) and ``big:answer`` (a
payload of ``payload.size`` bytes). ``tests.helpers_http:router_failing_in_workers`` is the
same router in the process that loads it first and an import error in worker processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastevents import Event, EventRouter
from tools.loadgen import aiohttp_load

from .conftest import build_fixture_router

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


_sleeping = 0


def build_served_router() -> EventRouter:
    router = build_fixture_router()

    @router.event("slow:sleep", 1)
    async def slow(event: Event, payload: Any) -> Any:
        global _sleeping
        seconds = float(payload.get("seconds", 0.5)) if isinstance(payload, dict) else 0.5
        _sleeping += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            _sleeping -= 1
        return {"slept": seconds}

    @router.event("server:sleeping", 1)
    def sleeping(event: Event) -> Any:
        return {"sleeping": _sleeping}

    @router.event("big:answer", 1)
    def big(event: Event, payload: Any) -> Any:
        return {"data": "x" * int(payload["size"])}

    @router.event("server:pid", 1)
    def pid(event: Event) -> Any:
        return {"pid": os.getpid()}

    return router


router = build_served_router()


def __getattr__(name: str) -> Any:
    if name == "router_failing_in_workers":
        if multiprocessing.parent_process() is not None:
            raise RuntimeError("this worker cannot start (a test of the process manager)")
        return router
    raise AttributeError(name)


_LISTENING = re.compile(r"on (http://\S+?)(/\S*) \(")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A process serving HTTP; ``url`` is its events endpoint. Always call :meth:`stop`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        ready: re.Pattern[str] = _LISTENING,
        timeout: float = 30.0,
        max_files: int | None = None,
    ) -> None:
        self.argv = list(argv)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full_env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=None if max_files is None else _limit_files(max_files),
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._ready = threading.Event()
        self.url = ""
        self.base = ""
        self._pattern = ready
        threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout_lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr_lines), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"server did not start: {self.argv}\n{self.output()}")
        if self.process.poll() is not None and not self.url:
            raise RuntimeError(f"server exited: {self.argv}\n{self.output()}")

    def _pump(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)
            if not self.url:
                match = self._pattern.search(line)
                if match:
                    self.base = match.group(1)
                    self.url = match.group(1) + match.group(2)
                    self._wait_connectable()
                    self._ready.set()
        self._ready.set()  # EOF: the process ended

    def _wait_connectable(self) -> None:
        host, port = self.base.rsplit("//", 1)[1].rsplit(":", 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def output(self) -> str:
        return "".join(self.stdout_lines) + "".join(self.stderr_lines)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the server, wait for it; kill the whole process group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


def _limit_files(count: int) -> Any:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


def serve_fastevents(
    *extra: str,
    target: str = "tests.helpers_http:router",
    env: dict[str, str] | None = None,
    max_files: int | None = None,
) -> Server:
    """``fastevents serve`` on a free loopback port (``--port 0``, read from its startup line).

    ``max_files`` sets the server's open-file limit (soft and hard).
    """
    return Server([PYTHON, "-m", "fastevents", "serve", target, "--port", "0", *extra], env=env, max_files=max_files)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def load(
    url: str,
    *,
    connections: int = 64,
    seconds: float = 3.0,
    body: bytes = b'{"name": "get:event:example", "version": 1, "payload": {"example": "x"}}',
) -> dict[str, Any]:
    """Keep ``connections`` keep-alive connections busy for ``seconds``; count and time answers.

    The aiohttp load generator the benchmarks use too (``tools.loadgen``), in this
    process: every answer must be HTTP 200 and a ``:response`` event; anything else is an
    error. Returns ``{"requests", "errors", "rate", "p50_ms", "p99_ms", "max_ms", ...}``.
    """
    return aiohttp_load(url, body, connections, seconds)


def read_message(conn: socket.socket, data: bytes = b"") -> tuple[bytes, bytes, bytes] | None:
    """One HTTP/1.1 message from ``conn`` (``data``: what was already read of it): its head,
    its body (by Content-Length) and what followed it; None if the peer closed first."""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head, rest[:length], rest[length:]


class RawServer:
    """A loopback HTTP/1.1 server on a raw socket: ``answer(conn, request)`` writes the reply.

    Each connection runs in a daemon thread; ``requests`` records every request received.
    """

    def __init__(self, answer: Callable[[socket.socket, bytes], None]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/events"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                message = read_message(conn)
                if message is None:
                    return
                head, body, _ = message
                self.requests.append(head + b"\r\n\r\n" + body)
                self.answer(conn, self.requests[-1])
            except OSError:  # the client gave up
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sleeping(url: str) -> int:
    """How many ``slow:sleep`` handlers run in the server process that answers (a new
    connection each call: with workers, each call may reach another)."""
    import httpx

    answer = httpx.post(url, json={"name": "server:sleeping", "version": 1}, timeout=5)
    return int(answer.json()["payload"]["sleeping"])


def refused(host: str, port: int) -> bool:
    """Whether a new connection to ``host:port`` is refused."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` has open (Linux)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:  # closed while listed
            continue
    return count
