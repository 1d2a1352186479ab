"""Events over NATS against events over HTTP: the same router, the same load, one run.

    python -m benchmarks.nats_load [--processes 1,3] [--rounds 3] [--seconds 4] [--inflight 64]

Starts a nats-server on a free loopback port, then for each process count P:
``fastevents serve benchmarks.http_app:router --workers P`` (HTTP) and
``fastevents serve benchmarks.http_app:router --workers P --nats URL --nats-subject bench
--no-http`` (NATS). The load is the README example (``get:event:example`` v1), sent by the
package's own async clients with ``--inflight`` events in flight: ``AsyncEventClient``
(aiohttp, keep-alive) for HTTP and ``NatsEventClient`` for NATS, each in a fresh process per
round running the same loop (uvloop when installed); every answer is checked. Rounds
alternate HTTP and NATS so that machine noise hits both alike; the table shows the best
round's events/s and the median of the rounds' p50/p99 latencies. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TARGET = "benchmarks.http_app:router"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nats_server() -> str:
    found = os.environ.get("NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.access(found, os.X_OK):
        raise SystemExit("nats-server not found: apt-get install nats-server (or set NATS_SERVER)")
    return found


def _wait(predicate: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {timeout} s")
        time.sleep(0.05)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants alive now, from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _serve(*argv: str) -> tuple[subprocess.Popen[str], str]:
    """``fastevents serve``; its first output line (which names the HTTP URL, if any)."""
    process = subprocess.Popen(
        [PYTHON, "-m", "fastevents", "serve", TARGET, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _ready(kind: str, url: str) -> bool:
    result = subprocess.run(
        [PYTHON, "-m", "fastevents", "send", url, "get:event:example", "1", "--payload", '{"example": "x"}'],
        capture_output=True,
        timeout=30,
        cwd=ROOT,
    )
    return result.returncode == 0


# --- the load generator (a process of its own per round) ---------------------------------------


async def _load(kind: str, url: str, inflight: int, seconds: float) -> dict[str, Any]:
    from fastevents import AsyncEventClient
    from fastevents.nats import NatsEventClient

    client: Any = (
        NatsEventClient(url, timeout=30, max_connections=inflight)
        if kind == "nats"
        else AsyncEventClient(url, timeout=30, max_connections=inflight)
    )
    latencies: list[float] = []
    errors = 0
    payload = {"example": "benchmark"}
    async with client:
        for _ in range(200):  # warm-up: connections open, code paths hot
            await client.send_event("get:event:example", 1, payload)
        clock = time.perf_counter
        start = clock()
        end = start + seconds

        async def worker() -> None:
            nonlocal errors
            while (t0 := clock()) < end:
                answer = await client.send_event("get:event:example", 1, payload)
                latencies.append(clock() - t0)
                if answer.payload != {"MyEventPayload": "benchmark"}:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(inflight)))
        elapsed = clock() - start
    latencies.sort()
    n = len(latencies)
    return {
        "events": n,
        "rate": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "errors": errors,
    }


def _generate(kind: str, url: str, inflight: int, seconds: float) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, "-m", "benchmarks.nats_load", "--generate", kind, url, str(inflight), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    if result["errors"]:
        raise RuntimeError(f"{kind}: {result['errors']} wrong answers")
    return result


# --- the run -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nats_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,3", help="process counts to compare (default 1,3)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--generate", nargs=4, metavar=("KIND", "URL", "INFLIGHT", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        kind, url, inflight, seconds = args.generate
        if kind not in ("http", "nats"):
            parser.error(f"unknown kind {kind!r}")
        try:
            import uvloop

            result = uvloop.run(_load(kind, url, int(inflight), float(seconds)))
        except ImportError:
            result = asyncio.run(_load(kind, url, int(inflight), float(seconds)))
        print(json.dumps(result))
        return 0

    port = _free_port()
    nats_url = f"nats://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [_nats_server(), "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rows = []
    try:
        _wait(lambda: _listening(port), "nats-server")
        for count in [int(p) for p in args.processes.split(",")]:
            workers = ["--workers", str(count)]
            http, line = _serve("--port", "0", *workers)
            match = re.search(r"on (http://\S+) \(", line)
            if not match:
                raise RuntimeError(f"HTTP server did not start: {line!r}")
            http_url = match.group(1)
            subject = f"bench.p{count}"
            nats, _ = _serve("--nats", nats_url, "--nats-subject", subject, "--no-http", *workers)
            urls = {"http": http_url, "nats": f"{nats_url}/{subject}"}
            try:
                for kind, url in urls.items():
                    _wait(lambda kind=kind, url=url: _ready(kind, url), f"{kind} server")
                time.sleep(2.0 if count > 1 else 0.5)  # every worker started and subscribed
                rounds: dict[str, list[dict[str, Any]]] = {"http": [], "nats": []}
                for i in range(args.rounds):
                    for kind in ("http", "nats") if i % 2 == 0 else ("nats", "http"):
                        server = http if kind == "http" else nats
                        before = _cpu_seconds(server.pid), _cpu_seconds(broker.pid)
                        result = _generate(kind, urls[kind], args.inflight, args.seconds)
                        # The warm-up's 200 events count too: CPU over every event of the round.
                        events = result["events"] + 200
                        result["server_us"] = (_cpu_seconds(server.pid) - before[0]) / events * 1e6
                        result["broker_us"] = (_cpu_seconds(broker.pid) - before[1]) / events * 1e6
                        rounds[kind].append(result)
                        print(
                            f"  {count} process(es) {kind}: {result['rate']:,.0f} events/s, "
                            f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms",
                            file=sys.stderr,
                        )
                for kind in ("http", "nats"):
                    rs = rounds[kind]
                    rows.append(
                        (
                            count,
                            kind,
                            max(r["rate"] for r in rs),
                            statistics.median(r["p50_ms"] for r in rs),
                            statistics.median(r["p99_ms"] for r in rs),
                            statistics.median(r["rate"] for r in rs),
                            statistics.median(r["server_us"] for r in rs),
                            statistics.median(r["broker_us"] for r in rs),
                        )
                    )
            finally:
                _stop(http)
                _stop(nats)
    finally:
        broker.terminate()
        broker.wait(10)
    print(
        "| processes | transport | events/s, best round (median) | p50 latency | p99 latency "
        "| server CPU per event | nats-server CPU per event |"
    )
    print("|---|---|---|---|---|---|---|")
    for count, kind, best, p50, p99, median_rate, server_us, broker_us in rows:
        label = "HTTP (`AsyncEventClient`)" if kind == "http" else "NATS (`NatsEventClient`)"
        broker = f"{broker_us:.0f} µs" if kind == "nats" else "n/a"
        print(
            f"| {count} | {label} | {best:,.0f} ({median_rate:,.0f}) | {p50:.2f} ms | {p99:.2f} ms "
            f"| {server_us:.0f} µs | {broker} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
