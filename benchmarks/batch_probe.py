"""Would batches pay? Events/s per core at 1, 10 and 100 events per request, before building them.

    python -m benchmarks.batch_probe [--rounds 5] [--seconds 2]

Serves ``fastevents serve benchmarks.batch_probe:router`` (the README example's router),
whose direct path is patched in the server process to answer a body that is a JSON array
with the array of the answers of its elements, each dispatched alone: the cheapest batch
there could be (no media type, no caps, synchronous handlers only, ``list[msgspec.Raw]``
decoded once, one copy per element). Then wrk posts 1 envelope, or an array of 10 or 100,
in interleaved rounds; events/s per core is events over the server's CPU time
(``/proc/*/schedstat``). Batches were to be built only if 100 per request reached 10x the
events/s per core of single events; the figures are in BENCHMARKS.md ("Batches").
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import msgspec

from fastevents._server import _direct

from . import http_load, scenarios
from .http_app import router

__all__ = ["router"]

_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
_single = _direct.DirectCycle._process


def _process(self: Any) -> None:
    body = bytes(self.body)
    if body[:1] != b"[":
        return _single(self)
    start = self.app.processor._start_event
    answers = [start(bytes(item)) for item in _decode_items(body)]
    return self._send_event(b"[" + b",".join(answers) + b"]")


_direct.DirectCycle._process = _process  # type: ignore[method-assign]

SIZES = (1, 10, 100)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch_probe")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    http_load.SERVERS["batch_probe"] = (
        "fastevents serve, batch probe",
        ["-m", "fastevents", "serve", "benchmarks.batch_probe:router", "--port", "0"],
    )
    server_cpu, load_cpu, pinning = http_load.cpus_for_load()
    one = scenarios.EXAMPLE_BODY
    bodies = {n: one if n == 1 else b"[" + b",".join([one] * n) + b"]" for n in SIZES}
    samples: dict[int, list[tuple[float, float, float]]] = {n: [] for n in SIZES}
    with http_load.Server("batch_probe", server_cpu) as server:
        for n, body in bodies.items():
            answer = http_load.post(server.url, body)
            if answer.count(b'"get:event:example:response"') != n:
                raise SystemExit(f"wrong answer to {n} events: {answer[:200]!r}")
        http_load.load(server.url, one, connections=64, seconds=1, cpu=load_cpu)
        for index in range(args.rounds):
            order = SIZES[index % 3 :] + SIZES[: index % 3]
            for n in order:
                before = http_load.cpu_seconds(server.pid)
                result = http_load.load(server.url, bodies[n], connections=64, seconds=args.seconds, cpu=load_cpu)
                spent = http_load.cpu_seconds(server.pid) - before
                if result["errors"]:
                    raise SystemExit(f"{n} per request: {result['errors']} errors: {result['first_errors']}")
                samples[n].append((result["rate"] * n, result["requests"] * n / spent, result["p99_ms"]))
    print(f"{pinning}; wrk, 64 connections, {args.rounds} interleaved rounds of {args.seconds:g} s")
    print("| events per request | events/s | events/s per core | per core vs 1 per request | p99 |")
    print("|---|---|---|---|---|")
    for n in SIZES:
        per_core = [s[1] for s in samples[n]]
        vs_one = statistics.median(a / b for a, b in zip(per_core, (s[1] for s in samples[1]), strict=True))
        print(
            f"| {n} | {statistics.median(s[0] for s in samples[n]):,.0f} | {statistics.median(per_core):,.0f} | "
            f"{vs_one:.2f}x | {statistics.median(s[2] for s in samples[n]):.2f} ms |"
        )


if __name__ == "__main__":
    main()
