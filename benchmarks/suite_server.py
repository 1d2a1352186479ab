"""Scenario module: ASGI servers under load (requests/s, p50/p99 latency).

Servers answer the README example (``get:event:example`` v1) at ``POST /events``, 1 worker
each, all pinned to CPU 0: ``fastevents serve`` (uvicorn with its hardened httptools
protocol and its direct path), the same with every request through its ASGI app
(``FASTEVENTS_SERVE_ASGI=1``), two floors on a raw ``asyncio.Protocol`` with uvloop and
httptools (``http_raw.py``: fixed answer bytes, the ceiling of the stack; the bare msgspec
answer), the same raw protocol around fastevents' dispatch in Python and compiled with
Cython (the bounds of a direct path: what serve's limits cost, and what is left when the
HTTP side costs nothing in Python), and on stock uvicorn with the same settings (httptools + uvloop, access log off)
a bare msgspec ASGI app (the server's own limit) and FastAPI + pydantic v2; then the other
candidate stacks for ``fastevents serve`` with the same events app: stock uvicorn +
httptools (what the limits cost), stock uvicorn + h11, and Granian when installed (see
``http_load.SERVERS``; their behaviour under attack: ``http_attacks.py``). The load generator (wrk,
else an aiohttp loop) runs pinned to CPU 1 with 64 keep-alive connections, posting the very
request body of the in-process ``success`` scenario. Every server's answer is checked
against the protocol's before timing. All servers are started once, warmed up, then
loaded in interleaved rounds (order rotating), so drifts of the machine hit them alike;
the ratios are medians of per-round ratios. The server's CPU time over each round
(``/proc/*/schedstat``) gives its CPU per request, whose ratios (requests per core) other
work on the machine disturbs far less than requests/s. Every server is stopped by pid in
``finally``.
"""

from __future__ import annotations

import importlib.util
import shutil
import statistics
import sysconfig
from typing import Any

from . import http_load, scenarios
from .context import RunContext

NAME = "server"
TITLE = "ASGI server under load"
ORDER = (
    "fastevents",
    "asgi",
    "raw",
    "raw_msgspec",
    "raw_events",
    "raw_compiled",
    "bare",
    "fastapi",
    "stock",
    "h11",
    "granian",
)
#: The floors every server is compared with: a raw asyncio.Protocol on uvloop + httptools
#: answering fixed bytes, and the bare msgspec app on that protocol (``http_raw.py``).
FLOORS = ("raw", "raw_msgspec")
#: What fastevents serve's requests/s are divided by (the targets are in ``report.py``).
BASELINES = ("fastapi", "bare", "asgi", "raw", "raw_msgspec")
#: Servers that need a package the ``bench`` extra does not install.
OPTIONAL = {"fastapi": "fastapi", "granian": "granian"}


def _missing(name: str) -> str | None:
    """Why server ``name`` cannot run here (``None``: it can)."""
    if name in OPTIONAL and importlib.util.find_spec(OPTIONAL[name]) is None:
        return f"{OPTIONAL[name]} is not installed"
    if name == "raw_compiled":  # built by pyximport when it starts
        if importlib.util.find_spec("Cython") is None:
            return "Cython is not installed"
        compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(compiler) is None:
            return f"no C compiler ({compiler}) to build benchmarks/raw_events.pyx"
    return None


def unavailable() -> str | None:
    missing = [m for m in ("uvicorn", "httptools", "uvloop") if importlib.util.find_spec(m) is None]
    if http_load.wrk_path() is None and importlib.util.find_spec("aiohttp") is None:
        missing.append("wrk or aiohttp (load generator)")
    if missing:
        return f"needs {', '.join(missing)} (pip install -e '.[server,bench]')"
    return None


def _median_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> float:
    """The median over rounds of ``a[i][key] / b[i][key]``."""
    return statistics.median(x[key] / y[key] for x, y in zip(a, b, strict=True))


def run(ctx: RunContext) -> dict[str, Any]:
    server_cpu, load_cpu, pinning = http_load.cpus_for_load()
    generator = http_load.generator_name()
    scenario = scenarios.scenario_by_name("success")
    body = scenario.body
    skipped = {n: reason for n in ORDER if (reason := _missing(n)) is not None}
    names = [n for n in ORDER if n not in skipped]
    servers: dict[str, http_load.Server] = {}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    answers: dict[str, str] = {}
    rss: dict[str, int | None] = {}
    try:
        for name in names:
            ctx.progress(f"starting {http_load.SERVERS[name][0]} on CPU {server_cpu}")
            servers[name] = http_load.Server(name, server_cpu)
        for name, server in servers.items():
            answers[name] = scenarios.compare_answer(scenario, http_load.post(server.url, body))
            if answers[name] != "ok":
                raise RuntimeError(f"{server.label} does not give the protocol's answer: {answers[name]}")
        ctx.progress(
            f"load: {generator} on CPU {load_cpu}, {ctx.server_connections} connections; "
            f"{ctx.server_warmup_seconds:g} s warm-up, then {ctx.server_rounds} interleaved rounds of "
            f"{ctx.server_round_seconds:g} s per server"
        )
        for server in servers.values():
            http_load.load(
                server.url,
                body,
                connections=ctx.server_connections,
                seconds=ctx.server_warmup_seconds,
                cpu=load_cpu,
                generator=generator,
            )
        for index in range(ctx.server_rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                before = http_load.cpu_seconds(servers[name].pid)
                result = http_load.load(
                    servers[name].url,
                    body,
                    connections=ctx.server_connections,
                    seconds=ctx.server_round_seconds,
                    cpu=load_cpu,
                    generator=generator,
                )
                spent = http_load.cpu_seconds(servers[name].pid) - before
                result["cpu_us"] = spent / max(result["requests"], 1) * 1e6
                if result["errors"]:
                    raise RuntimeError(
                        f"{servers[name].label}: {result['errors']} errors under load: {result['first_errors']}"
                    )
                samples[name].append(result)
            ctx.progress(
                f"  round {index + 1}/{ctx.server_rounds}: "
                + ", ".join(f"{http_load.SERVERS[n][0]} {samples[n][-1]['rate']:,.0f} req/s" for n in names)
            )
        for name, server in servers.items():
            rss[name] = http_load.rss_kib(server.pid)
    finally:
        for server in servers.values():
            server.stop()

    rows = []
    for name in names:
        rounds = samples[name]
        requests = sum(r["requests"] for r in rounds)
        seconds = sum(r["seconds"] for r in rounds)
        rows.append(
            {
                "server": name,
                "label": http_load.SERVERS[name][0],
                "requests": requests,
                "seconds": round(seconds, 2),
                "rate": requests / seconds,
                "rates": [round(r["rate"], 1) for r in rounds],
                "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
                "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
                "max_ms": max(r["max_ms"] for r in rounds),
                "errors": sum(r["errors"] for r in rounds),
                "rss_mib": None if (kib := rss.get(name)) is None else round(kib / 1024, 1),
                "answer": answers[name],
                "cpu_us": statistics.median(r["cpu_us"] for r in rounds),
                # Per-round ratios to the floors: of requests/s, and of requests per CPU-second
                # (the floor's CPU per request over this server's: requests/s on a core of its own).
                "vs_floors": {
                    floor: {
                        "rate": _median_ratio(rounds, samples[floor], "rate"),
                        "per_core": _median_ratio(samples[floor], rounds, "cpu_us"),
                    }
                    for floor in FLOORS
                    if samples.get(floor)
                },
            }
        )
    ratios = {}
    for other in BASELINES:
        if samples.get(other):
            per_round = [a["rate"] / b["rate"] for a, b in zip(samples["fastevents"], samples[other], strict=True)]
            by_cpu = [b["cpu_us"] / a["cpu_us"] for a, b in zip(samples["fastevents"], samples[other], strict=True)]
            ratios[other] = {
                "median": statistics.median(per_round),
                "rounds": [round(r, 3) for r in per_round],
                "per_core": statistics.median(by_cpu),
                "per_core_rounds": [round(r, 3) for r in by_cpu],
            }
    for row in rows:
        ctx.progress(
            f"    {row['label']}: {row['rate']:,.0f} req/s, p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"server CPU {row['cpu_us']:.1f} µs/request"
        )
    return {
        "rows": rows,
        "ratios": ratios,
        "skipped": skipped,
        "pinning": pinning,
        "generator": generator,
        "generator_description": http_load.generator_description(generator),
        "connections": ctx.server_connections,
        "warmup_seconds": ctx.server_warmup_seconds,
        "rounds": ctx.server_rounds,
        "round_seconds": ctx.server_round_seconds,
        "body_bytes": len(body),
    }
