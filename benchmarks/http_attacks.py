"""HTTP stacks under attack, side by side: how a header bomb and a slowloris hit other clients.

    python -m benchmarks.http_attacks [--seconds 15] [--connections 300] [--clients 16]
                                      [--servers fastevents,stock,h11,granian] [--rounds 3]

Each candidate stack (``http_load.SERVERS``: ``fastevents serve`` with its hardened protocol,
the same events app on stock uvicorn + httptools or h11, and on Granian when installed) is
started pinned to CPU 0. Then, per attack, an attacker process and a clients process run
pinned to CPU 1:

* ``header_bomb``: ``--connections`` connections each send a request line and then an
  endless header value as fast as the server takes it, reconnecting when cut off;
* ``slowloris``: ``--connections`` connections each send a request line and then one header
  line per second, never finishing, reconnecting when closed;
* ``trailer_bomb``, ``chunk_extension_bomb``, ``idna_charset``, ``pipelining``: HTTP/1.1
  framing and charset attacks, and pipelined requests (``http_attacks_framing.py``);
* ``connection_cap``: :data:`CAP_CONNECTIONS` connections (more than ``fastevents serve``'s
  default ``--max-connections``) each send a request line and one header, then nothing,
  reconnecting when closed: every connection slot held by a half-sent request.

The clients process keeps ``--clients`` keep-alive connections posting the README example
(2 s timeout per request) from 1 s after the attack starts until 1 s before it ends (in the
cap attack: from when the attacker holds every slot, each request on a new connection); a
request succeeds on HTTP 200 with a ``:response`` event. Server RSS (process and children)
is sampled every 0.5 s; the table gives the largest growth over the RSS before the attack.

``--rounds`` interleaved wrk rounds (64 connections, 5 s) first measure each stack's
requests/s against the bare msgspec app and FastAPI on stock uvicorn, as in the server suite.
The command exits 1 when, under an attack, ``fastevents serve`` answers fewer than all
the other clients' requests, their p99 passes ``--max-p99-ms`` (default 500 ms) or its RSS
grows by more than ``--max-rss-growth-mib`` (default 50 MiB): checks that were in
tests/test_hostile.py's header bomb and slowloris tests before they moved here.

Writes ``benchmarks/attacks.json`` (everything) and ``benchmarks/attacks.md`` (the section
that ``python -m benchmarks`` appends to BENCHMARKS.md); ``--from-json`` re-renders the latter,
``--merge`` keeps the saved results of the stacks and attacks (and throughput) not run again.
With ``idna_charset`` among the attacks, what a 1 MiB body costs in each allowed charset is
measured on ``fastevents serve`` too.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import http_attacks_framing, http_load

ROOT = http_load.ROOT
HERE = Path(__file__).resolve().parent
ATTACKS = ("header_bomb", "slowloris", *http_attacks_framing.ATTACKS)
#: The connection-cap attack, with its own connection count (over the default cap of 1,000).
CAP_ATTACK = "connection_cap"
CAP_CONNECTIONS = 1100
CANDIDATES = ("fastevents", "stock", "h11", "granian")
THROUGHPUT_ONLY = ("bare", "fastapi")


# --- the attacker and the clients (each in a process of its own, pinned to the load CPU) ----------


async def _attack(kind: str, url: str, connections: int, seconds: float) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if kind in http_attacks_framing.ATTACKS:
        return await http_attacks_framing.ATTACKS[kind](host, port, parts.path, connections, seconds)
    head = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n" % (parts.path.encode(), host.encode())
    end = time.monotonic() + seconds
    counts = {"connections": 0, "closed_by_server": 0, "bytes": 0, "connect_errors": 0}
    chunk = b"a" * 16384

    async def one(index: int) -> None:
        await asyncio.sleep(index * 0.002)  # ramp up over ~0.6 s, as a real flood would
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                counts["connect_errors"] += 1
                await asyncio.sleep(0.1)
                continue
            counts["connections"] += 1
            try:
                if kind == CAP_ATTACK:  # half-sent headers, then wait to be closed
                    writer.write(head)
                    await writer.drain()
                    if await _closed_before(reader, end):
                        raise ConnectionResetError
                    continue
                writer.write(head + (b"X-Bomb: " if kind == "header_bomb" else b""))
                line = 0
                while time.monotonic() < end:
                    if kind == "header_bomb":
                        writer.write(chunk)
                        counts["bytes"] += len(chunk)
                        await writer.drain()
                    else:
                        await asyncio.sleep(1.0)
                        writer.write(b"X-%d: y\r\n" % line)
                        line += 1
                        await writer.drain()
                    if reader.at_eof():
                        raise ConnectionResetError
                else:
                    writer.close()
                    return
            except OSError:
                counts["closed_by_server"] += 1
            finally:
                writer.close()

    if kind == CAP_ATTACK:
        _raise_open_file_limit()
    await asyncio.gather(*(one(i) for i in range(connections)))
    return counts


async def _closed_before(reader: asyncio.StreamReader, end: float) -> bool:
    """Wait until the server closes the connection (True) or ``end`` (False)."""
    try:
        await asyncio.wait_for(reader.read(65536), max(0.0, end - time.monotonic()))
    except TimeoutError:
        return False
    return True


def _raise_open_file_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _clients(url: str, body: bytes, connections: int, seconds: float, new: bool = False) -> dict[str, Any]:
    """``connections`` clients posting ``body`` in a loop, on keep-alive connections (or each
    request on a new one, ``new``)."""
    import aiohttp

    latencies: list[float] = []
    failures: list[str] = []
    timeout = aiohttp.ClientTimeout(total=2.0)
    connector = aiohttp.TCPConnector(limit=connections, force_close=new)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            while (t0 := time.perf_counter()) < end:
                try:
                    async with session.post(url, data=body, headers={"content-type": "application/json"}) as answer:
                        data = await answer.read()
                        if answer.status != 200 or b':response"' not in data[:200]:
                            failures.append(f"HTTP {answer.status}")
                            continue
                except Exception as exc:  # timeouts, resets, refusals: all failures
                    failures.append(type(exc).__name__)
                    await asyncio.sleep(0.01)
                    continue
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    n = len(latencies)
    total = n + len(failures)
    return {
        "requests": total,
        "succeeded": n,
        "success_rate": n / total if total else 0.0,
        "p50_ms": latencies[n // 2] * 1000 if n else None,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None,
        "failures": sorted({f: failures.count(f) for f in set(failures)}.items(), key=lambda kv: -kv[1])[:3],
    }


def _run_pinned(args: Sequence[str], cpu: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.Popen(
        [http_load.PYTHON, "-m", "benchmarks.http_attacks", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=http_load._pinned(cpu),
    )


def _result(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    if process.returncode:
        raise RuntimeError(f"{process.args} failed:\n{err[-2000:]}")
    return dict(json.loads(out.strip().splitlines()[-1]))


# --- the orchestration ------------------------------------------------------------------


def attack_one(
    server: http_load.Server, kind: str, body: bytes, *, connections: int, clients: int, seconds: float, load_cpu: int
) -> dict[str, Any]:
    """One attack on one running server; the clients' outcome and the server's RSS growth."""
    http_load.post(server.url, body)
    time.sleep(0.5)
    before = http_load.tree_rss_kib(server.pid) or 0
    if kind == CAP_ATTACK:
        connections = CAP_CONNECTIONS
    attacker = _run_pinned(
        ["--attack", kind, "--url", server.url, "--connections", str(connections), "--seconds", str(seconds)], load_cpu
    )
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.5):
            peak = max(peak, http_load.tree_rss_kib(server.pid) or 0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # The cap attack: the clients come once every slot is taken (after the attacker's ramp),
    # each request on a new connection, as new clients do.
    warmup = 1.0 if kind != CAP_ATTACK else 1.5 + CAP_CONNECTIONS * 0.002
    time.sleep(warmup)
    with tempfile.NamedTemporaryFile("wb", suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        measured = _run_pinned(
            [
                "--client-url",
                server.url,
                "--body-file",
                body_file.name,
                "--connections",
                str(clients),
                "--seconds",
                str(seconds - 1 - warmup),
                *(["--new-connections"] if kind == CAP_ATTACK else []),
            ],
            load_cpu,
        )
        outcome = _result(measured, seconds + 60)
    attack = _result(attacker, seconds + 60)
    stop.set()
    sampler.join()
    time.sleep(0.5)
    try:
        http_load.post(server.url, body, timeout=5, attempts=3)
        alive_after = True
    except Exception:
        alive_after = False
    return {
        **outcome,
        "attack": attack,
        "rss_before_mib": round(before / 1024, 1),
        "rss_growth_mib": round((peak - before) / 1024, 1),
        "serves_after": alive_after,
    }


def throughput(
    names: Sequence[str], body: bytes, *, rounds: int, seconds: float, server_cpu: int, load_cpu: int
) -> dict[str, Any]:
    """Interleaved wrk rounds over all ``names`` (all started at once); rates, CPU per request, ratios.

    Server CPU time per request is measured too: on a machine shared with other work the
    requests/s of a round swing with what else runs, while the CPU a server spends per
    request (what bounds its requests/s on a core of its own) barely does.
    """
    servers: dict[str, http_load.Server] = {}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    try:
        for name in names:
            servers[name] = http_load.Server(name, server_cpu)
        for server in servers.values():
            http_load.post(server.url, body)
            http_load.load(server.url, body, connections=64, seconds=1, cpu=load_cpu)
        for index in range(rounds):
            order = list(names[index % len(names) :]) + list(names[: index % len(names)])
            for name in order:
                before = http_load.cpu_seconds(servers[name].pid)
                sample = http_load.load(servers[name].url, body, connections=64, seconds=seconds, cpu=load_cpu)
                sample["cpu_us"] = (http_load.cpu_seconds(servers[name].pid) - before) / sample["requests"] * 1e6
                samples[name].append(sample)
            print(
                f"  round {index + 1}/{rounds}: " + ", ".join(f"{n} {samples[n][-1]['rate']:,.0f}/s" for n in names),
                file=sys.stderr,
                flush=True,
            )
    finally:
        for server in servers.values():
            server.stop()
    rows = {}
    for name in names:
        rows[name] = {
            "label": http_load.SERVERS[name][0],
            "rate": statistics.median(r["rate"] for r in samples[name]),
            "p99_ms": statistics.median(r["p99_ms"] for r in samples[name]),
            "errors": sum(r["errors"] for r in samples[name]),
            "cpu_us": statistics.median(r["cpu_us"] for r in samples[name]),
            "cpu_vs": {
                other: statistics.median(
                    b["cpu_us"] / a["cpu_us"] for a, b in zip(samples[name], samples[other], strict=True)
                )
                for other in ("bare", "fastapi")
                if other in samples
            },
            "vs": {
                other: statistics.median(
                    a["rate"] / b["rate"] for a, b in zip(samples[name], samples[other], strict=True)
                )
                for other in ("bare", "fastapi")
                if other in samples
            },
        }
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_attacks", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each attack (default 15)")
    parser.add_argument("--connections", type=int, default=300, help="attacking connections (default 300)")
    parser.add_argument("--clients", type=int, default=16, help="other clients' connections (default 16)")
    parser.add_argument("--servers", default=",".join(CANDIDATES))
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (0: skip)")
    parser.add_argument("--attacks", default=",".join((*ATTACKS, CAP_ATTACK)), help="attacks to run (empty: none)")
    parser.add_argument("--round-seconds", type=float, default=5.0)
    parser.add_argument("--max-p99-ms", type=float, default=500.0, help="fastevents serve's most p99 under attack")
    parser.add_argument("--max-rss-growth-mib", type=float, default=50.0, help="its most RSS growth under attack")
    parser.add_argument("--json", type=Path, default=HERE / "attacks.json", help="results file")
    parser.add_argument("--markdown", type=Path, default=HERE / "attacks.md", help="BENCHMARKS.md section")
    parser.add_argument("--from-json", type=Path, help="re-render the section from saved results")
    parser.add_argument("--merge", action="store_true", help="keep the saved results of what is not run again")
    parser.add_argument("--attack", choices=(*ATTACKS, CAP_ATTACK), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--client-url", help=argparse.SUPPRESS)
    parser.add_argument("--body-file", help=argparse.SUPPRESS)
    parser.add_argument("--new-connections", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attack:  # the attacker process
        print(json.dumps(asyncio.run(_attack(args.attack, args.url, args.connections, args.seconds))))
        return
    if args.client_url:  # the clients process
        body = Path(args.body_file).read_bytes()
        clients = _clients(args.client_url, body, args.connections, args.seconds, args.new_connections)
        print(json.dumps(asyncio.run(clients)))
        return

    if args.from_json:
        args.markdown.write_text(markdown(json.loads(args.from_json.read_text())) + "\n")
        print(f"wrote {args.markdown}")
        return
    started = time.time()
    server_cpu, load_cpu, pinning = http_load.cpus_for_load()
    body, check = http_load._example()
    names = [n for n in args.servers.split(",") if n != "granian" or importlib.util.find_spec("granian")]
    saved = json.loads(args.json.read_text()) if args.merge and args.json.exists() else {}
    report: dict[str, Any] = {
        "pinning": pinning,
        "seconds": args.seconds,
        "connections": args.connections,
        "clients": args.clients,
        "rounds": args.rounds,
        "round_seconds": args.round_seconds,
        "machine": _machine(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
    }
    if args.rounds:
        print(
            f"throughput: {args.rounds} interleaved wrk rounds of {args.round_seconds:g} s, 64 connections; {pinning}",
            file=sys.stderr,
            flush=True,
        )
        extra = [n for n in THROUGHPUT_ONLY if n != "fastapi" or importlib.util.find_spec("fastapi")]
        report["throughput"] = throughput(
            [*names, *extra],
            body,
            rounds=args.rounds,
            seconds=args.round_seconds,
            server_cpu=server_cpu,
            load_cpu=load_cpu,
        )
    elif saved:  # the saved run's description stays, as its rows and throughput do
        report.update({key: value for key, value in saved.items() if key not in ("attacks", "charsets")})
    report["attacks"] = saved.get("attacks", {})
    if args.rounds and saved:  # a new description: the saved rows keep that of their run
        earlier = {key: saved.get(key) for key in ("when", "seconds", "connections", "clients")}
        for rows in report["attacks"].values():
            for row in rows.values():
                row.setdefault("run", earlier)
    if "charsets" in saved:
        report["charsets"] = saved["charsets"]
    run = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))}
    run.update(seconds=args.seconds, connections=args.connections, clients=args.clients)
    for name in names if args.attacks else ():
        server = http_load.Server(name, server_cpu)
        try:
            if check(http_load.post(server.url, body)) != "ok":
                raise RuntimeError(f"{server.label} does not give the protocol's answer")
            for kind in [k for k in args.attacks.split(",") if k]:
                print(
                    f"{server.label}: {kind}, "
                    f"{CAP_CONNECTIONS if kind == CAP_ATTACK else args.connections} connections, {args.seconds:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                result = attack_one(
                    server,
                    kind,
                    body,
                    connections=args.connections,
                    clients=args.clients,
                    seconds=args.seconds,
                    load_cpu=load_cpu,
                )
                if saved:  # a row of this run among saved ones: it says when and how it ran
                    result["run"] = run
                report["attacks"].setdefault(name, {})[kind] = result
                print(
                    f"  {result['success_rate']:.1%} of {result['requests']} requests succeeded, "
                    f"p99 {result['p99_ms']} ms, RSS +{result['rss_growth_mib']} MiB; {result['attack']}",
                    file=sys.stderr,
                    flush=True,
                )
            if name == "fastevents" and "idna_charset" in args.attacks.split(","):
                print("fastevents serve: 1 MiB bodies in each allowed charset", file=sys.stderr, flush=True)
                parts = urlsplit(server.url)
                report["charsets"] = http_attacks_framing.charset_costs(
                    parts.hostname or "127.0.0.1", parts.port or 80, parts.path
                )
        finally:
            server.stop()
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    args.markdown.write_text(markdown(report) + "\n")
    print(markdown(report))
    print(f"wrote {args.json}, {args.markdown}", file=sys.stderr)
    for kind, result in report["attacks"].get("fastevents", {}).items():
        p99, growth = result["p99_ms"], result["rss_growth_mib"]
        if result["success_rate"] < 1 or p99 is None or p99 > args.max_p99_ms or growth > args.max_rss_growth_mib:
            raise SystemExit(
                f"fastevents serve under {kind}: {result['success_rate']:.1%} answered, p99 {p99} ms, RSS +{growth} MiB"
                f" (--max-p99-ms {args.max_p99_ms:g}, --max-rss-growth-mib {args.max_rss_growth_mib:g})"
            )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _machine() -> str:
    import platform

    versions = []
    for module in ("uvicorn", "httptools", "uvloop", "granian", "msgspec", "fastapi", "pydantic", "aiohttp"):
        try:
            versions.append(f"{module} {importlib.import_module(module).__version__}")
        except (ImportError, AttributeError):
            continue
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; {', '.join(versions)}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "## HTTP stacks under attack\n",
        f"`python -m benchmarks.http_attacks` (run of {report.get('when', '?')}; {report.get('machine', '')}; "
        f"{report['pinning']}). The candidate stacks for `fastevents serve`, each serving the same events "
        "app with one worker: `fastevents serve` itself (uvicorn with its hardened httptools protocol and "
        "default limits), the app on stock uvicorn + httptools (the previous `fastevents serve`, no limits), "
        "on stock uvicorn + h11 (its 16 KiB incomplete-event cap), and on Granian (Rust HTTP, 10 s header "
        "read timeout, 400 KiB buffer cap).\n",
    ]
    if "throughput" in report:
        lines += [
            f"Requests/s: wrk, 64 keep-alive connections, {report.get('rounds', '?')} interleaved rounds of "
            f"{report.get('round_seconds', '?'):g} s with all servers running; requests/s and p99 are medians of "
            "the rounds, the ratios medians of per-round ratios. *Server CPU per request* is the server's "
            "CPU time (all threads and child processes, from `/proc/*/schedstat`) over the requests of a round, "
            "median of the rounds; *by CPU* ratios are per-round ratios of it, i.e. requests/s on a core of "
            "its own, which other work on this shared machine disturbs far less than requests/s. The bare "
            "msgspec app and FastAPI run on stock uvicorn + httptools + uvloop.\n",
        ]
        lines += [
            "| stack (1 worker, uvloop) | requests/s | p99 | requests/s vs bare msgspec app | "
            "vs FastAPI | server CPU per request | by CPU: vs bare | by CPU: vs FastAPI |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in report["throughput"].values():
            vs, cpu_vs = row["vs"], row.get("cpu_vs", {})
            lines.append(
                f"| {row['label']} | {row['rate']:,.0f} | {row['p99_ms']:.2f} ms | "
                f"{vs.get('bare', 0):.2f}x | {vs.get('fastapi', 0):.2f}x | "
                f"{row.get('cpu_us', 0):.1f} µs | {cpu_vs.get('bare', 0):.2f}x | "
                f"{cpu_vs.get('fastapi', 0):.2f}x |"
            )
        lines.append("")
    lines.append(
        f"Attacks: {report['connections']} connections for {report['seconds']:g} s per attack and stack: a "
        "*header bomb* (each connection sends a request line, then an endless header value as fast as the "
        "server takes it, reconnecting when cut off) and a *slowloris* (each sends a request line, then one "
        f"header line a second, never finishing). Meanwhile {report['clients']} other clients post the README "
        "example in a loop, 2 s timeout per request; a request succeeds on HTTP 200 with a `:response` event. "
        "Server RSS (process and children) sampled every 0.5 s; growth is the peak over the RSS before. "
        f"The *connection cap* attack holds {CAP_CONNECTIONS:,} connections instead, each with half-sent "
        "headers (a request line and one header, then nothing), reopening each one the server closes: more "
        "than `fastevents serve`'s default `--max-connections` of 1,000, where a newcomer closes the "
        "connection that has waited longest for its headers. The other clients come once the attacker "
        "holds every slot, each request on a new connection, as new clients do.\n"
    )
    if any(kind in http_attacks_framing.ATTACKS for attacks in report["attacks"].values() for kind in attacks):
        lines.append(FRAMING)

    if report.get("cap_when"):  # the cap rows, merged from a run of that attack alone
        lines.append(
            f"The connection-cap rows not listed below with a run of their own are from a run of {report['cap_when']} "
            f"(`--attacks {CAP_ATTACK} --rounds 0 --servers fastevents,stock`), on the same machine.\n"
        )
    lines += [
        "| stack | attack | other clients' requests succeeded | p99 | server RSS growth | "
        "attacker connections (closed by server) | serves after |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, attacks in report["attacks"].items():
        for kind, r in sorted(attacks.items(), key=lambda item: (*ATTACKS, CAP_ATTACK).index(item[0])):
            a = r["attack"]
            cell = http_attacks_framing.attack_cell(kind, a) or f"{a['connections']:,} ({a['closed_by_server']:,})"
            lines.append(
                f"| {http_load.SERVERS[name][0]} | {kind.replace('_', ' ')} | {r['success_rate']:.1%} of "
                f"{r['requests']:,} | {_ms(r['p99_ms'])} | +{r['rss_growth_mib']} MiB | "
                f"{cell} | {'yes' if r['serves_after'] else 'NO'} |"
            )
    runs: dict[str, dict[str, list[str]]] = {}  # run -> stack -> its attacks in that run
    for name, attacks in report["attacks"].items():
        for kind, r in attacks.items():
            if "run" in r:
                own = r["run"]
                key = (
                    f"run of {own['when']}, {own['connections']} connections for {own['seconds']:g} s, "
                    f"{own['clients']} other clients"
                )
                runs.setdefault(key, {}).setdefault(http_load.SERVERS[name][0], []).append(kind.replace("_", " "))
    for key, stacks in runs.items():
        rows = "; ".join(f"{stack}: {', '.join(kinds)}" for stack, kinds in stacks.items())
        lines.append(f"\nRows with their own run ({key}): {rows}.")
    lines.append("")
    if "charsets" in report:
        lines += http_attacks_framing.charset_markdown(report["charsets"])
    lines.append(CHOICE)
    return "\n".join(lines)


FRAMING = """\
The framing attacks (`benchmarks/http_attacks_framing.py`; for these rows, the length and
number of connections of their own run are given below the table): a *trailer bomb* (a
chunked POST whose last chunk is followed by an endless trailer field), a *chunk extension
bomb* (an endless extension on a chunk header), *idna charset* (POSTs of 1 MiB bodies with
`charset=idna`, whose decoder is quadratic, one after another on at most 8 connections) and
*pipelining* (at most 16 connections each write four pipelined requests at a time, the
last one's body completed 20 ms later, when the answers before it may be done; every request
must be answered 200). `fastevents serve` answers a trailer past `--max-header-size` 431, a
body whose data and chunk framing pass `--max-body` 413, and a charset outside its table 415
before reading the body.
"""

CHOICE = """\
**The choice.** `fastevents serve` stays on uvicorn + httptools + uvloop, with uvicorn's
httptools protocol subclassed (`fastevents/_server/`). Stock httptools is the fastest stack
here but a header bomb stops every other client and grows the server by gigabytes, as
httptools rebuilds the partial header on each read; a slowloris holds its connections for
good. h11 and Granian hold both attacks, but at about a quarter (h11) and three fifths
(Granian, its ASGI bridge on one pinned core) of the requests/s, short of the bare-app and
FastAPI targets. The hardened subclass holds both attacks like them while keeping
httptools' speed: the only work it adds to a request that arrives in one read is a few
attribute checks. `--workers` uses uvicorn's own process manager for the same reason
(Granian's would mean Granian's HTTP stack)."""


if __name__ == "__main__":
    main()
