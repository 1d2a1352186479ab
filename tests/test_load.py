"""A bounded load test: 64 connections against ``fastevents serve`` (full 10 s run:
``python benchmarks/http_load.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .helpers_http import Server, load, rss_kib, serve_fastevents


@pytest.fixture
def server() -> Iterator[Server]:
    with serve_fastevents() as srv:
        yield srv


def test_64_connections_without_errors_or_memory_growth(server: Server) -> None:
    warmup = load(server.url, connections=64, seconds=1.0)  # fills caches, pools, allocator arenas
    assert warmup["errors"] == 0, warmup["first_errors"]
    before = rss_kib(server.pid)
    started = time.monotonic()
    result = load(server.url, connections=64, seconds=3.0)
    after = rss_kib(server.pid)
    print(f"\n64 connections, {time.monotonic() - started:.1f} s: {result['requests']} requests, "
          f"{result['rate']:.0f}/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"max {result['max_ms']:.1f} ms; server RSS {before} -> {after} KiB")
    assert result["errors"] == 0, result["first_errors"]
    assert result["requests"] > 1000
    # A leak of even 100 bytes per request would show as several MiB here.
    assert after - before < 2048, (before, after)
