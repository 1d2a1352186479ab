"""Routers for the process-manager tests: requests that crash their worker, a failing startup.

``fastevents serve tests.helpers_manager:router`` serves ``tests.helpers_http``'s router plus
``crash:exit`` (the worker calls ``os._exit(70)``) and ``crash:segfault`` (the worker reads
address 0 through ctypes). ``tests.helpers_manager:router_failing_startup`` has a lifespan
whose startup fails: its workers exit with uvicorn's startup-failure status.
"""

from __future__ import annotations

import ctypes
import os
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
