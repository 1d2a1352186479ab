"""Client round trips per second against ``fastevents serve`` on loopback.

Compares, on the same server (pinned to one core, clients pinned to another):

* sequential: ``fastevents.EventClient`` vs a raw ``httpx.Client`` loop posting prebuilt
  bytes vs events-protocol 0.2.4's ``EventClient`` (run in its own venv, see seed_env.py);
* 32 in flight: ``fastevents.AsyncEventClient`` (default transport, and over a user's
  ``httpx.AsyncClient``) vs a raw aiohttp loop vs a raw ``httpx.AsyncClient`` loop.

Usage: python benchmarks/http_client_bench.py [--seconds 5] [--server-cpu 0] [--client-cpu 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

BODY = {"name": "get:event:example", "version": 1, "payload": {"example": "example"},
        "identity": {"userId": "USER_ID"}, "metadata": {"date": "00-00-0000"}}

CLIENT_CODE = rf'''
import asyncio, json, sys, time
SECONDS = float(sys.argv[2]); URL = sys.argv[3]; KIND = sys.argv[1]; INFLIGHT = 32
BODY = json.dumps({BODY!r}).encode()
HEADERS = {{"content-type": "application/json"}}

def timed_sync(call):
    for _ in range(200): call()
    n = 0; end = time.perf_counter() + SECONDS; start = time.perf_counter()
    while time.perf_counter() < end:
        call(); n += 1
    return n / (time.perf_counter() - start)

async def timed_async(call):
    for _ in range(200): await call()
    n = 0; start = time.perf_counter(); end = start + SECONDS
    async def worker():
        nonlocal n
        while time.perf_counter() < end:
            await call(); n += 1
    await asyncio.gather(*(worker() for _ in range(INFLIGHT)))
    return n / (time.perf_counter() - start)

if KIND == "raw-httpx":
    import httpx
    c = httpx.Client(headers=HEADERS)
    def call():
        r = c.post(URL, content=BODY); r.content; assert r.status_code == 200
    rate = timed_sync(call)
elif KIND == "fastevents-sync":
    import fastevents
    c = fastevents.EventClient(URL)
    def call():
        r = c.send_event("get:event:example", 1, {{"example": "example"}},
                         identity={{"userId": "USER_ID"}}, metadata={{"date": "00-00-0000"}})
        assert r.is_success
    rate = timed_sync(call)
elif KIND == "seed-sync":
    import logging
    from events_protocol.client.event_client import EventClient
    for name in ("gb.events_protocol", "gb", ""):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    c = EventClient(URL)
    def call():
        r = c.send_event(name="get:event:example", version=1, payload={{"example": "example"}},
                         identity={{"userId": "USER_ID"}}, metadata={{"date": "00-00-0000"}})
        assert r.is_success
    rate = timed_sync(call)
elif KIND == "raw-aiohttp":
    import aiohttp
    async def main():
        async with aiohttp.ClientSession() as s:
            async def call():
                async with s.post(URL, data=BODY, headers=HEADERS) as r:
                    await r.read(); assert r.status == 200
            return await timed_async(call)
    rate = asyncio.run(main())
elif KIND == "raw-httpx-async":
    import httpx
    async def main():
        async with httpx.AsyncClient() as c:
            async def call():
                r = await c.post(URL, content=BODY, headers=HEADERS); assert r.status_code == 200
            return await timed_async(call)
    rate = asyncio.run(main())
elif KIND in ("fastevents-async", "fastevents-async-httpx"):
    import fastevents, httpx
    async def main():
        kw = {{"client": httpx.AsyncClient()}} if KIND.endswith("httpx") else {{}}
        async with fastevents.AsyncEventClient(URL, **kw) as c:
            async def call():
                r = await c.send_event("get:event:example", 1, {{"example": "example"}},
                                       identity={{"userId": "USER_ID"}}, metadata={{"date": "00-00-0000"}})
                assert r.is_success
            return await timed_async(call)
    rate = asyncio.run(main())
print(json.dumps({{"kind": KIND, "rate": rate}}))
'''


def start_server(cpu: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}"}
    proc = subprocess.Popen(
        ["taskset", "-c", cpu, sys.executable, "-m", "fastevents", "serve", "http_app:router", "--port", "0"],
        cwd=ROOT / "benchmarks", env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"on (http://\S+) \(", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    time.sleep(0.5)
    return proc, match.group(1)


def run_client(python: str, kind: str, seconds: float, url: str, cpu: str) -> float:
    out = subprocess.run(["taskset", "-c", cpu, python, "-c", CLIENT_CODE, kind, str(seconds), url],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the median is kept")
    args = parser.parse_args()
    from seed_env import ensure_seed_python

    seed_python = ensure_seed_python()
    proc, url = start_server(args.server_cpu)
    kinds = [("raw-httpx", sys.executable), ("fastevents-sync", sys.executable), ("seed-sync", seed_python),
             ("raw-aiohttp", sys.executable), ("raw-httpx-async", sys.executable),
             ("fastevents-async", sys.executable), ("fastevents-async-httpx", sys.executable)]
    samples: dict[str, list[float]] = {}
    try:
        for _ in range(args.repeat):  # interleaved, so drifts of the machine hit every kind alike
            for kind, python in kinds:
                if args.only and kind not in args.only:
                    continue
                samples.setdefault(kind, []).append(run_client(python, kind, args.seconds, url, args.client_cpu))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    rates = {kind: statistics.median(values) for kind, values in samples.items()}
    for kind, values in samples.items():
        print(f"{kind:24s} {rates[kind]:10.0f} round trips/s  (median of {[round(v) for v in values]})")
    def ratio(a: str, b: str) -> str:
        # Median of the per-round ratios: both sides of a pair ran seconds apart, so a
        # machine whose speed drifts (shared cores) disturbs the ratio less than the rates.
        if a not in samples or b not in samples:
            return "n/a"
        per_round = [x / y for x, y in zip(samples[a], samples[b], strict=False)]
        return f"{statistics.median(per_round):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in per_round)})"
    print(f"EventClient / raw httpx.Client:          {ratio('fastevents-sync', 'raw-httpx')}  (target >= 0.9x)")
    print(f"EventClient / events-protocol 0.2.4:     {ratio('fastevents-sync', 'seed-sync')}  (target >= 2.2x)")
    print(f"AsyncEventClient / raw aiohttp (32):     {ratio('fastevents-async', 'raw-aiohttp')}  (target >= 0.8x)")
    print(f"raw httpx.AsyncClient / raw aiohttp (32): {ratio('raw-httpx-async', 'raw-aiohttp')}")


if __name__ == "__main__":
    main()
