"""``import fastevents`` loads no HTTP client library: the clients load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fastevents

pytestmark = pytest.mark.slow

CHECK = """
import sys
import fastevents, fastevents.compat
loaded = sorted(m for m in ("httpx", "httpcore", "aiohttp") if m in sys.modules)
print(",".join(loaded) or "-")
fastevents.EventClient("http://127.0.0.1:9/events").close()
print("httpx" in sys.modules, "aiohttp" in sys.modules)
"""


def test_import_fastevents_loads_neither_httpx_nor_aiohttp() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True)
    before, after = out.stdout.split()[0], out.stdout.split()[1:]
    assert before == "-"  # nothing until a client is used
    assert after == ["True", "False"]  # the sync client needs httpx only


def test_clients_are_still_top_level_names() -> None:
    from fastevents import AsyncEventClient, AsyncTransport, EventClient
    from fastevents._client import AsyncEventClient as Async
    from fastevents._client import EventClient as Sync

    assert (EventClient, AsyncEventClient) == (Sync, Async)
    assert isinstance(AsyncTransport, type)
    assert {"EventClient", "AsyncEventClient", "AsyncTransport"} <= set(dir(fastevents))
    assert set(fastevents.__all__) <= set(dir(fastevents))
