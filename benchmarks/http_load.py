"""HTTP load: start servers pinned to one CPU, load them from another, stop them by pid.

The library of the HTTP suites (``suite_server.py``, ``suite_clients.py``) and a command:

    python -m benchmarks.http_load [--server fastevents|asgi|raw|raw_msgspec|raw_events|...]
                                   [--seconds 8] [--connections 64] [--generator auto|wrk|aiohttp]
                                   [--min-requests N] [--max-rss-growth-kib KIB]

The command exits 1 when any answer is wrong, when fewer than ``--min-requests`` requests
were answered in the measured window (default 1000), or when the server's resident memory
grew by more than ``--max-rss-growth-kib`` across it (default 2048 KiB, after a warm-up
that fills caches, pools and allocator arenas: a leak of even 100 bytes per request shows
as several MiB). These figures were asserted by tests/test_load.py before they moved here.

The servers (:data:`SERVERS`) answer the README example at ``POST /events``:

* ``fastevents``: ``fastevents serve benchmarks.http_app:router`` (1 worker);
* ``asgi``: the same with ``FASTEVENTS_SERVE_ASGI=1``: every request through the ASGI app;
* ``raw``, ``raw_msgspec``: the floors, a raw protocol on uvloop + httptools (``http_raw.py``);
* ``raw_events``, ``raw_compiled``: that raw protocol around fastevents' dispatch, in Python
  and compiled with Cython (the bounds of a direct path);
* ``bare``: the bare msgspec ASGI app (``http_bare_app.py``) under the same uvicorn;
* ``fastapi``: FastAPI + the pydantic v2 variant (``http_fastapi_app.py``), same uvicorn.

Load generators: ``wrk`` (C, one thread, a Lua script for the POST body and a JSON summary)
when installed, else the aiohttp loop of ``tools.loadgen`` (uvloop when installed, the
one the tests use too) in a process of its own. Both
keep ``connections`` keep-alive connections busy for a bounded time and report requests/s
and latency percentiles; the generator used is part of every result.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: python benchmarks/http_load.py
    sys.path.insert(0, str(ROOT))

from tools.loadgen import aiohttp_load, has_uvloop  # noqa: E402 - the repository's root first

PYTHON = sys.executable
SERVER_CPU = 0
LOAD_CPU = 1

#: name -> (label, argv after the interpreter). Each prints a ``... on http://HOST:PORT/PATH (``
#: line once listening.
SERVERS: dict[str, tuple[str, list[str]]] = {
    "fastevents": ("fastevents serve", ["-m", "fastevents", "serve", "benchmarks.http_app:router", "--port", "0"]),
    # The same, every request through the ASGI app (its path before the direct one).
    "asgi": (
        "fastevents serve, ASGI path",
        ["-m", "fastevents", "serve", "benchmarks.http_app:router", "--port", "0"],
    ),
    "bare": ("bare msgspec ASGI app", ["-m", "benchmarks.http_serve", "benchmarks.http_bare_app:app"]),
    "fastapi": ("FastAPI + pydantic v2", ["-m", "benchmarks.http_serve", "benchmarks.http_fastapi_app:app"]),
    # The floors: a raw asyncio.Protocol on uvloop + httptools, no ASGI (``http_raw.py``).
    "raw": ("raw protocol, fixed answer (floor)", ["-m", "benchmarks.http_raw", "--answer", "fixed"]),
    "raw_msgspec": ("raw protocol, bare msgspec (floor)", ["-m", "benchmarks.http_raw", "--answer", "msgspec"]),
    # The same raw protocol around fastevents' dispatch, in Python and compiled: the bounds
    # of a direct path (what serve's limits and bookkeeping cost, what Python's share is).
    "raw_events": ("raw protocol, fastevents dispatch", ["-m", "benchmarks.http_raw", "--answer", "events"]),
    "raw_compiled": (
        "compiled raw protocol, fastevents dispatch",
        ["-m", "benchmarks.http_raw", "--answer", "events-compiled"],
    ),
    # The candidate HTTP stacks for ``fastevents serve``, all serving the same events app:
    "stock": (
        "fastevents app, stock uvicorn + httptools (no limits)",
        ["-m", "benchmarks.http_serve", "benchmarks.http_app:app"],
    ),
    "h11": (
        "fastevents app, stock uvicorn + h11",
        ["-m", "benchmarks.http_serve", "benchmarks.http_app:app", "--http", "h11"],
    ),
    "granian": ("fastevents app, Granian (Rust HTTP)", ["-m", "benchmarks.http_granian", "benchmarks.http_app:app"]),
}
#: Environment variables of a server beyond the benchmark's own.
SERVER_ENV: dict[str, dict[str, str]] = {"asgi": {"FASTEVENTS_SERVE_ASGI": "1"}}
_LISTENING = re.compile(r" on (http://\S+) \(")


def cpus_for_load() -> tuple[int, int, str]:
    """(server CPU, load CPU, how): CPU 0 and CPU 1 when there are two, else both on one."""
    if not hasattr(os, "sched_setaffinity"):
        return -1, -1, "not pinned (no sched_setaffinity on this platform)"
    if (os.cpu_count() or 1) < 2:
        return 0, 0, "server and load generator share CPU 0 (one CPU only)"
    return SERVER_CPU, LOAD_CPU, f"server pinned to CPU {SERVER_CPU}, load generator / clients to CPU {LOAD_CPU}"


def _pinned(cpu: int) -> Any:
    if cpu < 0:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process in KiB (Linux), ``None`` elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def tree_rss_kib(pid: int) -> int | None:
    """Resident set size of a process and all its descendants in KiB (Linux), ``None`` elsewhere."""
    children: dict[int, list[int]] = {}
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    except OSError:
        return None
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss_kib(current) or 0
        todo.extend(children.get(current, []))
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, its threads and its children's, from schedstat (ns; Linux)."""
    total = 0
    pids = [pid]
    try:
        for entry in os.listdir("/proc"):  # Granian serves from a child process
            if entry.isdigit() and int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry))
    except OSError:
        pass
    for each in pids:
        try:
            for task in os.listdir(f"/proc/{each}/task"):
                total += int(Path(f"/proc/{each}/task/{task}/schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e9


class Server:
    """A server process pinned to ``cpu``; :attr:`url` is its events endpoint.

    Always call :meth:`stop` (in a ``finally``): SIGTERM to the pid, then SIGKILL to its
    process group (its own session) if it does not exit in time.
    """

    def __init__(self, name: str, cpu: int = SERVER_CPU, timeout: float = 30.0, extra: Sequence[str] = ()) -> None:
        self.name = name
        self.label, args = SERVERS[name]
        self.argv = [PYTHON, *args, *extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **SERVER_ENV.get(name, {})}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
            preexec_fn=_pinned(cpu),
        )
        self.url = ""
        ready = threading.Event()
        threading.Thread(target=self._pump, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError(f"{self.label} did not start: {' '.join(self.argv)}\n{self.output()}")

    def _pump(self, ready: threading.Event) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # read to the end: a full pipe would block the server
            if not self.url and (match := _LISTENING.search(line)):
                self.url = match.group(1)
                ready.set()
        ready.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:]

    def stop(self, timeout: float = 15.0) -> None:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(5)
        finally:
            self._stderr.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post(url: str, body: bytes, timeout: float = 10.0, attempts: int = 50) -> bytes:
    """POST one body (``application/json``); the answer body. Retries while the server starts."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if response.status != 200:
                    raise RuntimeError(f"{url} answered HTTP {response.status}")
                return bytes(response.read())
        except (ConnectionError, urllib.error.URLError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


# --- load generators -------------------------------------------------------------------

_WRK_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'FASTEVENTS_WRK {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def generator_name(choice: str = "auto") -> str:
    """``wrk`` or ``aiohttp``: what :func:`load` uses for ``choice``."""
    if choice == "auto":
        return "wrk" if wrk_path() else "aiohttp"
    if choice == "wrk" and not wrk_path():
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    return choice


def generator_description(name: str) -> str:
    if name == "wrk":
        version = subprocess.run([wrk_path() or "wrk", "--version"], capture_output=True, text=True).stdout
        first = (version.splitlines() or ["wrk"])[0].split(" Copyright")[0].strip()
        return f"{first}, 1 thread, Lua script for the POST body"
    import aiohttp

    loop = "uvloop" if has_uvloop() else "asyncio"
    why = " (wrk not installed)" if wrk_path() is None else ""
    return f"aiohttp {aiohttp.__version__} loop on {loop}, one process{why}"


def _wrk(url: str, body: bytes, connections: int, seconds: float, cpu: int) -> dict[str, Any]:
    text = body.decode()
    if "]==]" in text:
        raise ValueError("body cannot be quoted in the Lua script")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_WRK_LUA.format(body=text))
        script.flush()
        duration = max(1, round(seconds))  # wrk takes whole seconds
        argv = [
            wrk_path() or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            url,
        ]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, preexec_fn=_pinned(cpu))
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("FASTEVENTS_WRK ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.split(" ", 1)[1])
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    elapsed = raw["duration_us"] / 1e6
    return {
        "generator": "wrk",
        "requests": raw["requests"],
        "seconds": round(elapsed, 3),
        "rate": raw["requests"] / elapsed,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "first_errors": [f"{k}={raw[k]}" for k in ("connect", "read", "write", "status", "timeout") if raw[k]],
    }


def _aiohttp_subprocess(url: str, body: bytes, connections: int, seconds: float, cpu: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        argv = [
            PYTHON,
            "-m",
            "benchmarks.http_load",
            "--generate",
            url,
            "--body-file",
            body_file.name,
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
        out = subprocess.run(
            argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=seconds + 60, preexec_fn=_pinned(cpu)
        )
    if out.returncode:
        raise RuntimeError(f"aiohttp load generator failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def load(
    url: str, body: bytes, *, connections: int = 64, seconds: float = 8.0, cpu: int = LOAD_CPU, generator: str = "auto"
) -> dict[str, Any]:
    """Load ``url`` with ``body`` from a process pinned to ``cpu``; rate, latencies, errors."""
    if generator_name(generator) == "wrk":
        return _wrk(url, body, connections, seconds, cpu)
    return _aiohttp_subprocess(url, body, connections, seconds, cpu)


# --- the command -----------------------------------------------------------------------


def _example() -> tuple[bytes, Any]:
    from benchmarks import scenarios

    scenario = scenarios.scenario_by_name("success")
    return scenario.body, lambda answer: scenarios.compare_answer(scenario, answer)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_load", description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=list(SERVERS), default="fastevents")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--generator", choices=["auto", "wrk", "aiohttp"], default="auto")
    parser.add_argument("--min-requests", type=int, default=1000, help="fewest requests answered (default 1000)")
    parser.add_argument("--max-rss-growth-kib", type=int, default=2048, help="most RSS growth (default 2048)")
    parser.add_argument("--generate", metavar="URL", help=argparse.SUPPRESS)  # the aiohttp worker
    parser.add_argument("--body-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        body = Path(args.body_file).read_bytes()
        print(json.dumps(aiohttp_load(args.generate, body, args.connections, args.seconds)))
        return

    server_cpu, load_cpu, pinning = cpus_for_load()
    body, check = _example()
    server = Server(args.server, server_cpu)
    try:
        verdict = check(post(server.url, body))
        if verdict != "ok":
            raise SystemExit(f"{server.label} does not give the protocol's answer: {verdict}")
        load(
            server.url, body, connections=args.connections, seconds=args.warmup, cpu=load_cpu, generator=args.generator
        )
        before = rss_kib(server.pid)
        cpu_before = cpu_seconds(server.pid)
        result = load(
            server.url, body, connections=args.connections, seconds=args.seconds, cpu=load_cpu, generator=args.generator
        )
        cpu_us = (cpu_seconds(server.pid) - cpu_before) / max(result["requests"], 1) * 1e6
        rss = rss_kib(server.pid)
    finally:
        server.stop()
    print(
        f"{server.label}, {args.connections} connections, {result['seconds']:.1f} s ({pinning}; "
        f"{generator_description(result['generator'])}): {result['requests']} requests, "
        f"{result['errors']} errors, {result['rate']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms; server CPU {cpu_us:.1f} µs per request, "
        f"RSS {before} -> {rss} KiB"
    )
    if result["errors"]:
        raise SystemExit(f"errors: {result['first_errors']}")
    if result["requests"] < args.min_requests:
        raise SystemExit(f"{result['requests']} requests answered, fewer than --min-requests {args.min_requests}")
    if before is not None and rss is not None and rss - before > args.max_rss_growth_kib:
        raise SystemExit(
            f"server RSS grew {rss - before} KiB, more than --max-rss-growth-kib {args.max_rss_growth_kib}"
        )


if __name__ == "__main__":
    main()
