"""Routers for the process-manager tests: requests that crash their worker, a failing startup.

``fastevents serve tests.helpers_manager:router`` serves ``tests.helpers_http``'s router plus
``crash:exit`` (the worker calls ``os._exit(70)``) and ``crash:segfault`` (the worker reads
address 0 through ctypes). ``tests.helpers_manager:router_failing_startup`` has a lifespan
whose startup fails: its workers exit with uvicorn's startup-failure status.

``python -m tests.helpers_manager HOST PORT COUNT`` holds ``COUNT`` connections to a server
open with half-sent headers, reopening each one the server closes, until stdin closes.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastevents import Event, EventRouter

from .helpers_http import build_served_router

router = build_served_router()


@router.event("crash:exit", 1)
def crash_exit(event: Event) -> Any:
    os._exit(70)


@router.event("crash:segfault", 1)
def crash_segfault(event: Event) -> Any:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
    return ctypes.string_at(0)


@asynccontextmanager
async def _failing_startup(router: EventRouter) -> AsyncIterator[None]:
    raise RuntimeError("the database is not there (a test of the process manager)")
    yield


router_failing_startup = EventRouter(lifespan=_failing_startup)
router_failing_startup.include(router)


HALF_SENT = b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


def hold_half_sent(address: tuple[str, int], count: int, stop: threading.Event) -> int:
    """Keep ``count`` connections open with half-sent headers, reopening each one that is
    closed, until ``stop``; how many the server closed."""
    socks = []
    closed = 0
    for _ in range(count):
        sock = socket.create_connection(address, timeout=5)
        sock.sendall(HALF_SENT)
        socks.append(sock)
    print("holding", flush=True)
    while not stop.is_set():
        readable, _, _ = select.select(socks, [], [], 0.05)
        for sock in readable:  # closed by the server (or answered, which closes it too)
            socks.remove(sock)
            sock.close()
            closed += 1
            try:
                fresh = socket.create_connection(address, timeout=5)
                fresh.sendall(HALF_SENT)
            except OSError:
                continue
            socks.append(fresh)
    for sock in socks:
        sock.close()
    return closed


if __name__ == "__main__":
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("closed", hold_half_sent((host, port), count, stop), flush=True)
