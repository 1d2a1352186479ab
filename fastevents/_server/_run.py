"""``fastevents serve`` put together: :func:`run`, the open-file limit, the uvicorn check."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Callable
from typing import Any

import uvicorn

from .._limits import Limits
from .._switch import flag
from ._config import AppFactory, ServeConfig
from ._manager import Manager, Server
from ._protocol import HardenedHttpToolsProtocol

__all__ = ["check_uvicorn", "raise_open_file_limit", "run"]

logger = logging.getLogger("fastevents.serve")

#: File descriptors kept free for the listening socket, logs and the app's own files.
FD_RESERVE = 64


def check_uvicorn() -> None:
    """Warn, once as serving starts, for each uvicorn method ``fastevents._server`` builds on that changed."""
    from ._uvicorn_contract import changed  # here: python -m fastevents._server._uvicorn_contract runs it alone

    for line in changed():
        logger.warning("%s", line)


def raise_open_file_limit(max_connections: int) -> int:
    """Raise the soft open-file limit to the hard one; the connection cap that fits under it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a POSIX system
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    fitting = max(1, soft - FD_RESERVE)
    if max_connections > fitting:
        logger.warning(
            "--max-connections lowered from %d to %d to fit the open-file limit (%d)", max_connections, fitting, soft
        )
        return fitting
    return max_connections


def run(
    target: str,
    path: str,
    limits: Limits,
    workers: int,
    log_level: str,
    sock: Any,
    *,
    catalogue: bool = False,
    health_path: str | None = None,
    also_serve: tuple[Callable[[Any], Any], ...] = (),
) -> int:
    """Serve ``target`` on the listening socket ``sock`` (``None``: no HTTP, only the
    lifespans of ``also_serve``); the exit status."""
    config = ServeConfig(
        AppFactory(target, path, limits.max_body, catalogue, health_path, also_serve),
        limits=limits,
        manager_pid=os.getpid() if workers > 1 else None,
        # FASTEVENTS_SERVE_ASGI=1: every request through the ASGI app (comparisons, diagnosis)
        direct=not flag("FASTEVENTS_SERVE_ASGI"),
        factory=True,
        loop="auto",  # uvloop when installed (the ``server`` extra)
        http=HardenedHttpToolsProtocol,
        ws="none",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=limits.keep_alive_timeout,
        timeout_graceful_shutdown=limits.shutdown_timeout,
        workers=workers,
    )
    # After the Config, which set up logging: the warnings, if any, go through it.
    check_uvicorn()
    config.limits = dataclasses.replace(limits, max_connections=raise_open_file_limit(limits.max_connections))
    sockets = [] if sock is None else [sock]
    if workers == 1:
        server = Server(config)
        try:
            server.run(sockets=sockets)
        except SystemExit as exc:
            if exc.code != uvicorn.config.STARTUP_FAILURE:
                raise
        return 0 if server.started else 1
    config.startup_failed = multiprocessing.get_context("spawn").Value("b", False)
    manager = Manager(config, sockets=sockets)
    manager.run()
    return manager.exit_code
