"""``fastevents serve``'s processes: :class:`Server` and, for ``--workers N``, :class:`Manager`.

* :class:`Server` -- uvicorn's server, exiting 0 after a graceful stop on SIGTERM/SIGINT;
  the connections queued on the listening socket when it stops are accepted and answered.
* :class:`Manager` -- uvicorn's multiprocess supervisor for ``--workers N``, with workers
  that die with it (``PR_SET_PDEATHSIG`` on Linux), that are replaced whenever they die
  after they started, restarts with backoff for a worker that keeps failing to start (then
  exit status 1), and a listening socket that is closed as soon as it stops, so new
  clients are refused rather than queued and then reset. Its signals are uvicorn's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.server import HANDLED_SIGNALS
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from ._config import AppFactory, ServeConfig

__all__ = ["Manager", "Server"]

logger = logging.getLogger("fastevents.serve")

#: Restarts of a worker that keeps failing to start: after 0.25, 0.5, 1 and 2 s; then give up.
RESTART_DELAYS = (0.25, 0.5, 1.0, 2.0)


class Server(uvicorn.Server):
    """uvicorn's server; a graceful stop on SIGTERM or SIGINT ends with exit status 0.

    (uvicorn re-raises the signal once stopped, so a lone server would die "by SIGTERM"
    while the workers' manager exits 0.) ``on_started`` is called once it has started: after
    the lifespan startup, listening.
    """

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def handle_exit(self, sig: int, frame: Any) -> None:
        # Stopping: the health probe answers 503 from now on, while requests in flight finish.
        factory = self.config.app
        if isinstance(factory, AppFactory) and factory.app is not None:
            factory.app.stopping()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Connections the kernel has queued on the listening socket would be reset when it
        # closes: accept them first (each is then answered, see the protocol's shutdown), and
        # close it right after, with nothing in between (uvicorn closes it again, harmlessly):
        # later ones are refused. A connection that completes its handshake in between would
        # be reset: the gap is kept to a few microseconds.
        queued = _accept_queued(sockets or [])
        for server in self.servers:
            server.close()
        loop = asyncio.get_running_loop()
        adopting = [loop.create_task(self._adopt(conn)) for conn in queued]
        await super().shutdown(sockets=sockets)
        for task in adopting:
            task.cancel()

    async def _adopt(self, conn: socket.socket) -> None:
        config = self.config

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        try:
            _, adopted = await asyncio.get_running_loop().connect_accepted_socket(protocol, sock=conn)
        except OSError:
            conn.close()
            return
        adopted.shutdown()  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def _accept_queued(sockets: list[socket.socket]) -> list[socket.socket]:
    """The connections waiting in the listening sockets' accept queues, accepted."""
    accepted: list[socket.socket] = []
    for sock in sockets:
        try:
            sock.setblocking(False)
            while True:
                conn, _ = sock.accept()
                conn.setblocking(False)
                accepted.append(conn)
        except OSError:  # BlockingIOError: none left (or out of file descriptors)
            continue
    return accepted


class _Worker(Process):
    """uvicorn's worker process, running :class:`Server`, which reports once it has started.

    The report is one message down a pipe of its own, sent after the lifespan startup, once
    the worker listens. A message outlives its sender, so a worker that dies a moment after
    it started (a request that crashes it) is never taken for one that failed to start, as
    it could be by a health check that polls.
    """

    def __init__(self, config: ServeConfig, sockets: list[Any]) -> None:
        self._started_in, self._started_out = multiprocessing.get_context("spawn").Pipe(duplex=False)
        super().__init__(config, sockets)
        self.launched = 0.0
        #: Starts that failed in a row before this worker's (it carries the count on).
        self.failures = 0
        #: When a worker that failed to start is replaced (the backoff), else None.
        self.restart_at: float | None = None
        self._has_started = False

    @property
    def server(self) -> Server:  # the worker's server (uvicorn's property builds a plain one)
        if self._server is None:
            self._server = Server(config=self.config, on_started=self._report_started)
        return self._server  # type: ignore[return-value]

    def _report_started(self) -> None:  # in the worker
        with contextlib.suppress(OSError):
            self._started_out.send_bytes(b"started")

    def start(self) -> None:
        self.launched = time.monotonic()
        super().start()

    def has_started(self) -> bool:
        """Whether the worker reported its start (it may have died since)."""
        if not self._has_started:
            with contextlib.suppress(OSError, EOFError):
                if self._started_in.poll():
                    self._has_started = self._started_in.recv_bytes() == b"started"
        return self._has_started

    def close_pipes(self) -> None:
        """Once the worker is gone: its pipes' file descriptors are not left to the collector."""
        self.has_started()  # read before the pipe closes
        for conn in (self._started_in, self._started_out, self.parent_conn, self.child_conn):
            conn.close()


class Manager(Multiprocess):
    """uvicorn's multiprocess supervisor with backoff, a give-up and an early socket close.

    A worker that dies after it started is replaced at once, always. One that dies before
    it started is restarted after :data:`RESTART_DELAYS`, then the manager gives up (exit
    status 1), and at once when it exits with uvicorn's ``STARTUP_FAILURE`` status (the app
    cannot be loaded, or its lifespan startup failed: a restart would fail the same way).
    uvicorn's signals all work: SIGTERM, SIGINT (and SIGBREAK) stop, SIGHUP replaces every
    worker, SIGTTIN adds one, SIGTTOU removes one; the other signals it catches are logged
    and ignored.
    """

    processes: list[_Worker]  # type: ignore[assignment]
    config: ServeConfig  # what run() passes: uvicorn's Config plus the shared startup flag

    def __init__(self, config: ServeConfig, sockets: list[Any]) -> None:
        super().__init__(config, sockets)
        self.exit_code = 0

    def _spawn(self, failures: int = 0) -> _Worker:
        worker = _Worker(self.config, self.sockets)
        worker.failures = failures
        worker.start()
        return worker

    # uvicorn's init_processes, restart_all and handle_ttin, with workers that report
    # their start (``_uvicorn.COPIED`` fingerprints the originals).

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._spawn())

    def restart_all(self) -> None:
        """Replace each worker, its replacement serving before the old one is stopped."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                new.close_pipes()
                if not self.should_exit.is_set():
                    logger.error("new worker %s was not ready in time; keeping worker %s", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            old.close_pipes()
            self.processes[idx] = new

    def handle_hup(self) -> None:
        logger.warning("received SIGHUP: replacing every worker")
        self.restart_all()

    def handle_ttin(self) -> None:
        logger.warning("received SIGTTIN: adding a worker")
        self.processes_num += 1
        self.processes.append(self._spawn())

    def handle_ttou(self) -> None:
        if self.processes_num <= 1:
            logger.warning("received SIGTTOU: ignored, one worker is the fewest")
            return
        logger.warning("received SIGTTOU: removing a worker")
        self.processes_num -= 1
        worker = self.processes.pop()
        worker.terminate()
        worker.join()
        worker.close_pipes()

    def _ignore(self, name: str, level: int = logging.WARNING) -> None:
        logger.log(level, "received %s: ignored", name)

    handle_quit = functools.partialmethod(_ignore, "SIGQUIT")
    handle_usr1 = functools.partialmethod(_ignore, "SIGUSR1")
    handle_usr2 = functools.partialmethod(_ignore, "SIGUSR2")
    # SIGWINCH, a terminal's resize, is not worth a warning.
    handle_winch = functools.partialmethod(_ignore, "SIGWINCH", logging.INFO)

    def _startup_failed(self) -> bool:
        """A worker's lifespan startup failed (it said why): stop, exit status 1, no restart."""
        flag = self.config.startup_failed
        if flag is None or not flag.value:
            return False
        self.exit_code = 1
        self.should_exit.set()
        return True

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set() or self._startup_failed():
            return
        for idx, worker in enumerate(self.processes):
            if worker.restart_at is not None:  # failed to start: waiting for its restart
                if time.monotonic() >= worker.restart_at:
                    self.processes[idx] = self._spawn(worker.failures)
                continue
            if worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            worker.kill()  # hung or dead: make sure it is gone
            worker.join()
            worker.close_pipes()
            if self.should_exit.is_set() or self._startup_failed():
                return
            if worker.has_started():  # it had been serving: replace it at once, always
                logger.warning("worker %s exited with status %s; restarting it", worker.pid, worker.exitcode)
                self.processes[idx] = self._spawn()
                continue
            if worker.exitcode == STARTUP_FAILURE:
                logger.error("worker %s could not start (exit status %d); stopping", worker.pid, STARTUP_FAILURE)
                self.exit_code = 1
                self.should_exit.set()
                return
            failures = worker.failures + 1
            if failures > len(RESTART_DELAYS):
                logger.error(
                    "worker failed to start %d times in a row (last exit status %s); stopping",
                    failures,
                    worker.exitcode,
                )
                self.exit_code = 1
                self.should_exit.set()
                return
            delay = RESTART_DELAYS[failures - 1]
            logger.warning(
                "worker %s exited with status %s %.1f s after it was launched, before it started; "
                "restarting in %g s (attempt %d of %d)",
                worker.pid,
                worker.exitcode,
                time.monotonic() - worker.launched,
                delay,
                failures,
                len(RESTART_DELAYS),
            )
            worker.failures = failures
            worker.restart_at = time.monotonic() + delay

    def terminate_all(self) -> None:
        # The manager's copy of the listening socket closes first: the workers then hold the
        # only copies, and each accepts what is queued when it stops, then closes its own.
        # Once the last one has, new clients are refused, instead of being queued on a socket
        # nobody accepts from (the manager's, were it closed last) and reset when it closes.
        for sock in self.sockets:
            sock.close()
        super().terminate_all()
