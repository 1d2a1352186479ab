"""An aiohttp load generator for events endpoints: the one shared by the tests and the benchmarks.

Private and test tooling, not API: nothing in fastevents imports this module, so
``import fastevents`` never pays for it. ``tests/test_load.py`` (through
``tests/helpers_http.load``) and ``benchmarks/http_load.py`` (its fallback when wrk is not
installed) both import :func:`aiohttp_load` from here, so the two measure with the same loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from typing import Any

__all__ = ["aiohttp_load", "has_uvloop"]


def has_uvloop() -> bool:
    """Whether uvloop is installed (:func:`aiohttp_load` runs on it when it is)."""
    return importlib.util.find_spec("uvloop") is not None


def aiohttp_load(url: str, body: bytes, connections: int, seconds: float) -> dict[str, Any]:
    """POST ``body`` to ``url`` from ``connections`` keep-alive workers for ``seconds``; count and time answers.

    Runs its own event loop in the calling thread (uvloop when installed). An answer that
    is not HTTP 200 with a ``:response`` event name, or a transport failure, counts as an
    error; the first three are kept. Returns ``{"generator", "requests", "seconds", "rate",
    "p50_ms", "p99_ms", "max_ms", "errors", "first_errors"}``.
    """
    import aiohttp

    async def run() -> dict[str, Any]:
        latencies: list[float] = []
        errors: list[str] = []
        headers = {"content-type": "application/json"}
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            start = time.perf_counter()
            end = start + seconds

            async def worker() -> None:
                clock = time.perf_counter
                while (t0 := clock()) < end:
                    try:
                        async with session.post(url, data=body, headers=headers) as response:
                            answer = await response.read()
                            if response.status != 200 or b':response"' not in answer[:200]:
                                errors.append(f"{response.status} {answer[:100]!r}")
                    except Exception as exc:  # a load generator counts failures, it does not stop on them
                        errors.append(repr(exc))
                    latencies.append(clock() - t0)

            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - start
        latencies.sort()
        n = len(latencies)
        if not n:
            raise RuntimeError(f"no request completed in {seconds} s against {url}")
        return {
            "generator": "aiohttp",
            "requests": n,
            "seconds": round(elapsed, 3),
            "rate": n / elapsed,
            "p50_ms": latencies[n // 2] * 1000,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
            "max_ms": latencies[-1] * 1000,
            "errors": len(errors),
            "first_errors": errors[:3],
        }

    if has_uvloop():
        import uvloop

        return uvloop.run(run())
    return asyncio.run(run())
