"""How ``fastevents serve`` configures uvicorn and builds the app in each worker: :class:`ServeConfig`
(uvicorn's ``Config`` plus the limits, its logging and the one-line report of a failed lifespan
startup) and :class:`AppFactory`."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import uvicorn

from .._asgi import asgi_app
from .._limits import Limits
from .._router import EventRouter
from .._target import UsageError, load_router

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

__all__ = ["AppFactory", "ServeConfig"]

logger = logging.getLogger("fastevents.serve")


class _StartupFailure(logging.Filter):
    """Reports a failed lifespan startup in one line, in place of uvicorn's lines about it.

    uvicorn logs the reason, then "Application startup failed. Exiting.", in every worker.
    This filter keeps the reason and, at the second line, logs one line of its own: in the
    first worker to fail only, with ``--workers N`` (``shared``, a flag the manager reads).
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""
        self.shared: Synchronized[int] | None = None  # ServeConfig.startup_failed, in each process

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("lifespan startup failed: "):
            self.reason = message.removeprefix("lifespan startup failed: ")
            return False
        if message != "Application startup failed. Exiting.":
            return True
        first = True
        if self.shared is not None:
            with self.shared.get_lock():
                first, self.shared.value = not self.shared.value, True
        if first:
            logger.error("the lifespan's startup failed: %s", self.reason or "see the log above")
        return False


_startup_failure = _StartupFailure()


class ServeConfig(uvicorn.Config):
    """uvicorn's ``Config`` plus :class:`Limits`, the manager's pid (workers die with it) and
    ``direct``: whether ``POST <path>`` takes the direct path (``_direct.py``).

    ``startup_failed`` (with ``--workers N``) is shared by the workers and the manager: set by
    the first worker whose lifespan startup fails, which alone reports it.
    """

    def __init__(
        self, app: Any, *, limits: Limits, manager_pid: int | None = None, direct: bool = True, **kwargs: Any
    ) -> None:
        self.limits = limits
        self.manager_pid = manager_pid
        self.startup_failed: Synchronized[int] | None = None
        self.direct = direct
        super().__init__(app, **kwargs)

    def configure_logging(self) -> None:
        super().configure_logging()
        error_log = logging.getLogger("uvicorn.error")
        error_log.addFilter(_startup_failure)  # once: a filter already there is not added again
        _startup_failure.shared = getattr(self, "startup_failed", None)
        package_logger = logging.getLogger("fastevents")
        package_logger.setLevel(error_log.level)
        if not any(getattr(h, "_fastevents_serve", False) for h in package_logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
            handler._fastevents_serve = True  # type: ignore[attr-defined]
            package_logger.addHandler(handler)
            package_logger.propagate = False

    def load(self) -> None:
        if self.manager_pid is not None and os.getpid() != self.manager_pid:
            _die_with(self.manager_pid)
        super().load()


def _die_with(parent_pid: int) -> None:
    """Ask Linux to send this worker SIGTERM when its manager dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the manager died before the request took effect
        raise SystemExit(0)


@dataclasses.dataclass(eq=False)
class AppFactory:
    """Builds the events app in each worker (picklable, unlike the app itself)."""

    target: str
    path: str
    max_body: int
    catalogue: bool = False
    health_path: str | None = None
    #: Other transports (``fastevents._nats_serve.lifespan``): each, given the app's
    #: processor, a lifespan that serves it, run inside the router's own lifespan.
    also_serve: tuple[Callable[[Any], Any], ...] = ()
    app: Any = dataclasses.field(default=None, init=False)  # this process's app, once built

    def __call__(self) -> Any:
        try:
            router = load_router(self.target)
        except UsageError as exc:
            logger.error("%s", exc)
            raise SystemExit(uvicorn.config.STARTUP_FAILURE) from None
        # The protocol enforces the body read deadline from the end of the headers, which
        # the app cannot see, at no cost per request; the app's own timer would be redundant.
        app = self.app = asgi_app(
            router,
            path=self.path,
            max_body=self.max_body,
            body_timeout=None,
            catalogue=self.catalogue,
            health_path=self.health_path,
        )
        for serve in self.also_serve:
            router.include(EventRouter(lifespan=serve(app.processor)))
        # What is loaded now lives as long as the process: frozen out of the collector's
        # scans, it no longer slows every full collection (as gunicorn and Instagram do).
        gc.collect()
        gc.freeze()
        return app
