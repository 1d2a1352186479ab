"""Load ``fastevents serve`` with 64 keep-alive connections for 10 s; report rate, latency, RSS.

Usage: python benchmarks/http_load.py [--seconds 10] [--connections 64] [--workers 1]
(server pinned to CPU 0 and this load generator to CPU 1 when ``--pin``, the default).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers_http import PYTHON, Server, load, rss_kib  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args()
    prefix = ["taskset", "-c", "0"] if args.pin else []
    if args.pin:
        os.sched_setaffinity(0, {1})
    srv = Server([*prefix, PYTHON, "-m", "fastevents", "serve", "tests.helpers_http:router", "--port", "0",
                  "--workers", str(args.workers)])
    try:
        load(srv.url, connections=args.connections, seconds=2.0)  # warm-up
        before = rss_kib(srv.pid)
        result = load(srv.url, connections=args.connections, seconds=args.seconds)
        after = rss_kib(srv.pid)
    finally:
        srv.stop()
    print(f"{args.connections} connections for {args.seconds:.0f} s, {args.workers} worker(s): "
          f"{result['requests']} requests, {result['errors']} errors, {result['rate']:.0f} req/s, "
          f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms")
    print(f"server RSS (supervisor process when --workers > 1): {before} KiB before, {after} KiB after "
          f"({after - before:+d} KiB)")
    if result["errors"]:
        print("first errors:", result["first_errors"])
        raise SystemExit(1)


if __name__ == "__main__":
    main()
