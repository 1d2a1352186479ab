"""AsyncEventClient across event loops: each loop's session closes on that loop, through
public APIs only, and nothing is left unclosed (no ResourceWarning, no aiohttp complaint)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from .helpers_http import Server, serve_fastevents

pytestmark = pytest.mark.slow

CHILD = r"""
import asyncio, gc, sys, threading, warnings
warnings.simplefilter("always")
from fastevents import AsyncEventClient
url = sys.argv[1]
client = AsyncEventClient(url)

async def one(i):
    return (await client.send_event("echo:payload", 1, {"i": i})).payload["i"]

# asyncio.run several times: a new loop each time, the client shared.
assert [asyncio.run(one(i)) for i in range(3)] == [0, 1, 2]

# asyncio.Runner, as pytest-asyncio uses it: one loop per test.
for i in range(3):
    with asyncio.Runner() as runner:
        assert runner.run(one(i)) == i

# A loop running in another thread, still alive when the client is closed elsewhere.
loop = asyncio.new_event_loop()
thread = threading.Thread(target=loop.run_forever)
thread.start()
assert asyncio.run_coroutine_threadsafe(one(7), loop).result(10) == 7

# Calls on two loops at once, then the client closed from a third.
assert asyncio.run(one(8)) == 8
asyncio.run(client.aclose())
asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), loop).result(10)  # its session closes there
loop.call_soon_threadsafe(loop.stop)
thread.join(10)
loop.run_until_complete(loop.shutdown_asyncgens())
loop.close()
del loop
gc.collect()
print("done")
"""


@pytest.fixture(scope="module")
def served() -> Iterator[Server]:
    with serve_fastevents() as srv:
        yield srv


def test_client_shared_across_loops_leaves_nothing_unclosed(served: Server) -> None:
    out = subprocess.run(
        [sys.executable, "-X", "dev", "-c", CHILD, served.url], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert "nclosed" not in out.stderr and "ResourceWarning" not in out.stderr, out.stderr
    assert "Task was destroyed" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr
