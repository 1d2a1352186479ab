"""Scenario module: client round trips per second against one ``fastevents serve``.

Sequential: ``fastevents.EventClient`` vs a raw ``httpx.Client`` loop (prebuilt bytes) vs
events-protocol 0.2.4's ``EventClient`` (in the seed venv). 32 in flight:
``fastevents.AsyncEventClient`` (aiohttp transport; and over an ``httpx.AsyncClient``) vs a
raw aiohttp loop vs a raw ``httpx.AsyncClient`` loop. The server is pinned to CPU 0, every
client process to CPU 1; each kind runs in a fresh process per round, rounds interleaved,
ratios are medians of per-round ratios (``http_client_bench.py``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from . import http_client_bench
from .context import RunContext

NAME = "clients"
TITLE = "Clients (round trips/s)"


def unavailable() -> str | None:
    missing = [m for m in ("uvicorn", "httpx", "aiohttp") if importlib.util.find_spec(m) is None]
    if missing:
        return f"needs {', '.join(missing)} (pip install -e '.[server]')"
    return None


def run(ctx: RunContext) -> dict[str, Any]:
    seed_python = ctx.seed_python() if ctx.use_seed else None
    ctx.progress(
        f"clients: {ctx.client_rounds} interleaved rounds of {ctx.client_round_seconds:g} s per kind "
        f"({len(http_client_bench.KINDS) - (0 if seed_python else 1)} kinds)"
    )
    result = http_client_bench.measure(
        ctx.client_round_seconds, ctx.client_rounds, seed_python=seed_python, progress=ctx.progress
    )
    result.update(rounds=ctx.client_rounds, round_seconds=ctx.client_round_seconds, inflight=http_client_bench.INFLIGHT)
    for ratio in result["ratios"]:
        ctx.progress(f"    {ratio['kind']} / {ratio['baseline']}: {ratio['median']:.2f}x")
    return result
