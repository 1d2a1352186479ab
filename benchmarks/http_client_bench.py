"""Client round trips per second against ``fastevents serve`` on loopback.

Compares, on the same server (pinned to CPU 0; every client process pinned to CPU 1):

* sequential: ``fastevents.EventClient`` vs a raw ``httpx.Client`` loop posting prebuilt
  bytes vs events-protocol 0.2.4's ``EventClient`` (run in its own venv, see tools/seedenv.py);
* 32 in flight: ``fastevents.AsyncEventClient`` (default aiohttp transport, and over a
  user's ``httpx.AsyncClient``) vs a raw aiohttp loop vs a raw ``httpx.AsyncClient`` loop.

Each kind runs in a fresh process per round (200 warm-up round trips, then ``--seconds``);
the rounds are interleaved (every kind once per round) and the ratios are medians of the
per-round ratios. Usage:

    python -m benchmarks.http_client_bench [--seconds 2] [--repeat 3] [--only KIND ...]

This file is also the client process itself (``--worker KIND``), run by the main
interpreter or by the seed venv's: that part uses the standard library and the client
under test only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INFLIGHT = 32
WARMUP_CALLS = 200
NAME, VERSION = "get:event:example", 1
PAYLOAD = {"example": "example"}
IDENTITY = {"userId": "USER_ID"}
METADATA = {"date": "00-00-0000"}
#: What the raw loops post (with ids, so the server does the same work as for the clients).
RAW_BODY = json.dumps(
    {
        "name": NAME,
        "version": VERSION,
        "id": "9230c47c-3bcf-11ea-b77f-2e728ce88125",
        "flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125",
        "payload": PAYLOAD,
        "identity": IDENTITY,
        "metadata": METADATA,
    }
).encode()
HEADERS = {"content-type": "application/json"}

#: kind -> (label, mode, runs in the seed venv)
KINDS: dict[str, tuple[str, str, bool]] = {
    "fastevents-sync": ("fastevents EventClient", "sequential", False),
    "raw-httpx": ("raw httpx.Client loop", "sequential", False),
    "seed-sync": ("events-protocol 0.2.4 EventClient", "sequential", True),
    "fastevents-async": ("fastevents AsyncEventClient (aiohttp transport)", "32 in flight", False),
    "raw-aiohttp": ("raw aiohttp loop", "32 in flight", False),
    "fastevents-async-httpx": ("fastevents AsyncEventClient over httpx.AsyncClient", "32 in flight", False),
    "raw-httpx-async": ("raw httpx.AsyncClient loop", "32 in flight", False),
}
#: (kind, baseline, target or None): the ratios reported.
RATIOS: tuple[tuple[str, str, float | None], ...] = (
    ("fastevents-sync", "raw-httpx", 0.9),
    ("fastevents-sync", "seed-sync", 2.2),
    ("fastevents-async", "raw-aiohttp", 0.8),
    ("fastevents-async-httpx", "raw-httpx-async", None),
    ("raw-httpx-async", "raw-aiohttp", None),
)


# --- the client process ----------------------------------------------------------------


def _timed_sync(call: Any, seconds: float) -> float:
    for _ in range(WARMUP_CALLS):
        call()
    n = 0
    clock = time.perf_counter
    start = clock()
    end = start + seconds
    while clock() < end:
        call()
        n += 1
    return n / (clock() - start)


async def _timed_async(call: Any, seconds: float) -> float:
    for _ in range(WARMUP_CALLS // INFLIGHT + 1):  # opens INFLIGHT connections, no more
        await asyncio.gather(*(call() for _ in range(INFLIGHT)))
    n = 0
    clock = time.perf_counter
    start = clock()
    end = start + seconds

    async def worker() -> None:
        nonlocal n
        while clock() < end:
            await call()
            n += 1

    await asyncio.gather(*(worker() for _ in range(INFLIGHT)))
    return n / (clock() - start)


def worker(kind: str, url: str, seconds: float) -> float:
    """Round trips per second of ``kind`` against ``url``; every answer is checked."""
    if kind == "raw-httpx":
        import httpx

        client = httpx.Client(headers=HEADERS)

        def call() -> None:
            response = client.post(url, content=RAW_BODY)
            assert response.status_code == 200 and response.content

        return _timed_sync(call, seconds)
    if kind == "fastevents-sync":
        import fastevents

        event_client = fastevents.EventClient(url)

        def call() -> None:
            answer = event_client.send_event(NAME, VERSION, PAYLOAD, identity=IDENTITY, metadata=METADATA)
            assert answer.is_success

        return _timed_sync(call, seconds)
    if kind == "seed-sync":
        import logging

        from events_protocol.client.event_client import EventClient

        for name in ("gb.events_protocol", "gb", ""):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        seed_client = EventClient(url)

        def call() -> None:
            answer = seed_client.send_event(
                name=NAME, version=VERSION, payload=PAYLOAD, identity=IDENTITY, metadata=METADATA
            )
            assert answer.is_success

        return _timed_sync(call, seconds)
    return asyncio.run(_async_worker(kind, url, seconds))


async def _async_worker(kind: str, url: str, seconds: float) -> float:
    if kind == "raw-aiohttp":
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def call() -> None:
                async with session.post(url, data=RAW_BODY, headers=HEADERS) as response:
                    assert response.status == 200 and await response.read()

            return await _timed_async(call, seconds)
    if kind == "raw-httpx-async":
        import httpx

        async with httpx.AsyncClient() as client:

            async def call() -> None:
                response = await client.post(url, content=RAW_BODY, headers=HEADERS)
                assert response.status_code == 200 and response.content

            return await _timed_async(call, seconds)
    if kind in ("fastevents-async", "fastevents-async-httpx"):
        import httpx

        import fastevents

        user_client = httpx.AsyncClient() if kind.endswith("httpx") else None
        async with fastevents.AsyncEventClient(url, client=user_client) as event_client:

            async def call() -> None:
                answer = await event_client.send_event(NAME, VERSION, PAYLOAD, identity=IDENTITY, metadata=METADATA)
                assert answer.is_success

            return await _timed_async(call, seconds)
    raise SystemExit(f"unknown kind {kind!r}")


# --- the measurement -------------------------------------------------------------------


def run_client(python: str, kind: str, url: str, seconds: float, cpu: int) -> float:
    """One round of ``kind``: a fresh client process pinned to ``cpu``; round trips/s."""
    import os

    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu >= 0 else None
    out = subprocess.run(
        [python, str(HERE / "http_client_bench.py"), "--worker", kind, "--url", url, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
        preexec_fn=pin,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])


def measure(
    seconds: float, repeat: int, *, seed_python: str | None = None, only: list[str] | None = None, progress: Any = print
) -> dict[str, Any]:
    """Start ``fastevents serve``, run every kind ``repeat`` interleaved rounds, stop the server.

    ``{"rows": [...], "ratios": [...], "pinning": str, "server": str}``; ``seed-sync`` only
    with ``seed_python``.
    """
    try:
        from .http_load import Server, cpus_for_load, post
    except ImportError:  # run as a script
        from http_load import Server, cpus_for_load, post  # type: ignore[no-redef]

    server_cpu, client_cpu, pinning = cpus_for_load()
    pythons = {kind: (seed_python if seed else sys.executable) for kind, (_, _, seed) in KINDS.items()}
    kinds = [k for k in KINDS if (only is None or k in only) and pythons[k]]
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    server = Server("fastevents", server_cpu)
    try:
        answer = json.loads(post(server.url, RAW_BODY))
        if answer.get("name") != NAME + ":response" or answer.get("payload") != {"MyEventPayload": "example"}:
            raise RuntimeError(f"unexpected answer from the server: {answer}")
        for index in range(repeat):  # interleaved: drifts of the machine hit every kind alike
            order = kinds[index % len(kinds) :] + kinds[: index % len(kinds)]
            for kind in order:
                samples[kind].append(run_client(str(pythons[kind]), kind, server.url, seconds, client_cpu))
            progress(f"  round {index + 1}/{repeat}: " + ", ".join(f"{k} {samples[k][-1]:.0f}/s" for k in kinds))
    finally:
        server.stop()
    rows = [
        {
            "kind": kind,
            "label": KINDS[kind][0],
            "mode": KINDS[kind][1],
            "rate_median": statistics.median(values),
            "rates": [round(v, 1) for v in values],
        }
        for kind, values in samples.items()
    ]
    ratios = []
    for kind, baseline, target in RATIOS:
        if kind in samples and baseline in samples:
            # Median of the per-round ratios: both sides of a pair ran seconds apart, so a
            # machine whose speed drifts disturbs the ratio less than the rates.
            per_round = [a / b for a, b in zip(samples[kind], samples[baseline], strict=True)]
            ratios.append(
                {
                    "kind": kind,
                    "baseline": baseline,
                    "target": target,
                    "median": statistics.median(per_round),
                    "rounds": [round(r, 3) for r in per_round],
                }
            )
    return {"rows": rows, "ratios": ratios, "pinning": pinning, "server": "fastevents serve benchmarks.http_app:router"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_client_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are kept")
    parser.add_argument("--only", nargs="*", choices=list(KINDS))
    parser.add_argument("--no-seed", action="store_true", help="leave out events-protocol 0.2.4")
    parser.add_argument("--worker", choices=list(KINDS), help=argparse.SUPPRESS)  # the client process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"kind": args.worker, "rate": worker(args.worker, args.url, args.seconds)}))
        return

    seed_python = None
    if not args.no_seed:
        sys.path.insert(0, str(HERE))
        from tools.seedenv import ensure_seed_python

        seed_python = ensure_seed_python()
    result = measure(args.seconds, args.repeat, seed_python=seed_python, only=args.only)
    print(f"{result['server']}; {result['pinning']}")
    for row in result["rows"]:
        print(f"{row['label']:52s} {row['mode']:13s} {row['rate_median']:9.0f} round trips/s  (rounds: {row['rates']})")
    for ratio in result["ratios"]:
        target = f"  (target >= {ratio['target']}x)" if ratio["target"] else ""
        print(
            f"{KINDS[ratio['kind']][0]} / {KINDS[ratio['baseline']][0]}: {ratio['median']:.2f}x "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratio['rounds'])}){target}"
        )


if __name__ == "__main__":
    main()
