"""Serving a router over NATS: the same :class:`EventProcessor`, a queue group, draining.

Every message on the subject is answered by the processor with the bytes HTTP would carry
(``eventNotFound`` and ``badProtocol`` included); a body over the cap (the NATS server's
``max_payload``, or ``max_body`` if lower) is refused with status 413 in the services API's
headers. nats-py runs a subscription's callback one message at a time, so the callback only
takes a slot (at most ``concurrency`` events in flight) and hands the message to a task.
Messages wait for a slot in the subscription's queue, up to ``max_pending`` of them and
128 MiB (nats-py's byte limit); past either nats-py drops them, and each dropped request is
answered 503 at once (``_nats.connect``).

Stopping drains: the subscription is dropped first (NATS then sends new events to the other
members of the queue group), the events already taken are answered, and the connection
closes, all within ``shutdown_timeout`` seconds of the stop. The stop begins at SIGTERM or
SIGINT (the handlers the server installed are chained, not replaced), before the HTTP side
has finished its own drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from . import _nats, _observe
from ._processor import EventProcessor
from ._version import __version__

__all__ = ["NatsServer", "NatsSettings"]

logger = logging.getLogger("fastevents.nats")


@dataclasses.dataclass(frozen=True)
class NatsSettings:
    """How a process serves over NATS (picklable: each worker builds its server from it)."""

    url: str
    subject: str
    queue: str = "fastevents"
    concurrency: int = 256
    max_body: int = 1_048_576
    shutdown_timeout: float = 30.0
    #: Register with the NATS services API (``$SRV.PING``, ``$SRV.INFO``, ``$SRV.STATS``).
    service: bool = True
    #: Messages waiting for a slot, past which nats-py drops them (as past 128 MiB of them, its
    #: own byte limit) and each dropped request is answered 503 at once (default: nats-py's).
    max_pending: int = 524_288

    def __post_init__(self) -> None:
        _nats.parse_url(self.url)  # a ValueError for anything but NATS server URLs
        if not self.subject or any(c in self.subject for c in " \t\r\n"):
            raise ValueError(f"--nats-subject: not a subject to serve: {self.subject!r}")
        if self.concurrency < 1:
            raise ValueError(f"--nats-concurrency must be at least 1, not {self.concurrency}")
        if self.max_pending < 1:
            raise ValueError(f"--nats-max-pending must be at least 1, not {self.max_pending}")
        if not self.queue or any(c in self.queue for c in " \t\r\n"):
            raise ValueError(f"--nats-queue: not a queue group name: {self.queue!r}")


def _service_name(subject: str) -> str:
    """The services API's name for a subject: ``users.events`` -> ``users-events``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", subject).strip("-") or "fastevents"


class NatsServer:
    """Answers ``processor``'s events on ``settings.subject``; see the module docstring."""

    def __init__(self, processor: EventProcessor, settings: NatsSettings) -> None:
        self.processor = processor
        self.settings = settings
        self.servers, _ = _nats.parse_url(settings.url)
        self.subject = settings.subject  # wildcards too: one process may serve users.*
        self.nc: Any = None
        self.service: Any = None
        self._sub: Any = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._max_body = settings.max_body
        self.answered = 0
        self.failed = 0
        self._busy_ns = 0
        self._last_error = ""

    # --- starting ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe (joining the queue group); register with the services API."""
        self._loop = asyncio.get_running_loop()
        self.nc = await _nats.connect(self.servers, f"fastevents {self.subject} pid {os.getpid()}")
        # NATS refuses bodies over its max_payload; below it, max_body is the cap, as over HTTP.
        self._max_body = min(self.settings.max_body, self.nc.max_payload)
        self._sub = await self.nc.subscribe(
            self.subject, queue=self.settings.queue, cb=self._on_message, pending_msgs_limit=self.settings.max_pending
        )
        if self.settings.service:
            self.service = await self._register()
        await self.nc.flush()
        logger.info(
            "serving %d events on NATS subject %s (queue %s)",
            len(self.processor.router),
            self.subject,
            self.settings.queue,
        )

    async def _register(self) -> Any:
        """The services API's $SRV.PING/INFO/STATS, listing the events; None if unavailable."""
        try:
            from nats.micro.service import EndpointInfo, EndpointStats, Service, ServiceConfig
        except ImportError:  # pragma: no cover - nats-py before the services API
            logger.warning("nats-py has no services API (nats.micro): not registered with $SRV")
            return None
        server = self
        events = json.dumps([f"{name}:V{version}" for name, version in self.processor.router.routes])
        endpoint: dict[str, Any] = {"name": "events", "subject": self.subject, "queue_group": self.settings.queue}

        class EventsService(Service):
            """nats.micro's service, describing the one subscription this server reads."""

            def info(self) -> Any:
                info = super().info()
                info.endpoints.append(EndpointInfo(**endpoint, metadata={"events": events}))
                return info

            def stats(self) -> Any:
                stats = super().stats()
                count = server.answered + server.failed
                stats.endpoints.append(
                    EndpointStats(
                        **endpoint,
                        num_requests=count,
                        num_errors=server.failed,
                        processing_time=server._busy_ns,
                        average_processing_time=server._busy_ns // count if count else 0,
                        last_error=server._last_error or None,
                    )
                )
                return stats

        config = ServiceConfig(
            name=_service_name(self.subject),
            version=__version__ if re.fullmatch(r"\d+\.\d+\.\d+.*", __version__) else "0.0.0",
            description=f"fastevents: {len(self.processor.router)} events on {self.subject}",
            metadata={"fastevents": __version__, "events": events, "pid": str(os.getpid())},
        )
        try:
            service = EventsService(self.nc, config)
            await service.start()
        except Exception as exc:  # e.g. a server that denies $SRV subjects: serve anyway
            logger.warning("not registered with the NATS services API: %r", exc)
            return None
        return service

    # --- answering --------------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _answer(self, msg: Any) -> None:
        started = time.perf_counter_ns()
        data = msg.data
        headers = None
        if len(data) > self._max_body:
            answer, headers = _nats.TOO_LARGE
        else:
            if _observe.observing():  # observers read trace context from the NATS headers
                _observe.request_headers.set(msg.headers)
            try:
                answer = await self.processor.process_event_async(data)
            except asyncio.CancelledError:  # stopped past the shutdown timeout: nobody is answered
                self.failed += 1
                raise
        if msg.reply:
            try:
                await self.nc.publish(msg.reply, answer, headers=headers)
            except Exception as exc:  # too large for NATS, connection closed: the client times out
                self.failed += 1
                self._last_error = repr(exc)
                logger.error("could not answer an event on %s: %r", self.subject, exc)
                return
        self.answered += 1
        self._busy_ns += time.perf_counter_ns() - started

    # --- stopping ---------------------------------------------------------------------------

    def begin_stop(self) -> None:
        """Start draining (idempotent): unsubscribe now, answer what was taken, then close."""
        if self._stopping is None and self._loop is not None:
            self._stopping = self._loop.create_task(self._drain(self._loop.time() + self.settings.shutdown_timeout))

    async def stop(self) -> None:
        """Drain (see :meth:`begin_stop`) and wait until the connection is closed."""
        self.begin_stop()
        if self._stopping is not None:
            await asyncio.shield(self._stopping)

    async def _drain(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        nc = self.nc
        try:
            draining = None
            if self._sub is not None and nc.is_connected:
                # Unsubscribe first: the drain's first step writes the UNSUB, its flush makes
                # sure NATS has seen it, then the messages already delivered here go through
                # the callback (one slot each).
                draining = loop.create_task(self._sub.drain())
                await asyncio.sleep(0)  # the UNSUB is written before anything else
            if self.service is not None:  # then leave $SRV: once gone there, gone for events too
                with contextlib.suppress(Exception):
                    async with asyncio.timeout_at(deadline):
                        await self.service.stop()
            if draining is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout_at(deadline):
                        await draining
            if self._tasks:
                _, pending = await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - loop.time()))
                if pending:
                    logger.error(
                        "%d event(s) still running %g s after the stop (--shutdown-timeout): cancelled, unanswered",
                        len(pending),
                        self.settings.shutdown_timeout,
                    )
                    for task in pending:
                        task.cancel()
                    await asyncio.wait(pending, timeout=1.0)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(max(0.1, min(2.0, deadline - loop.time()))):
                    await nc.flush()  # the last answers leave before the connection closes
            with contextlib.suppress(Exception):
                await nc.close()

    def _chain_signals(self) -> dict[int, tuple[Any, Any]]:
        """Begin draining at SIGTERM/SIGINT, then call the handler the server installed;
        ``{signal: (ours, previous)}``, for :meth:`running` to restore."""
        loop = self._loop
        chained: dict[int, tuple[Any, Any]] = {}
        if loop is None or threading.current_thread() is not threading.main_thread():
            return chained
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.begin_stop)
                previous(signum, frame)

            signal.signal(sig, handler)
            chained[sig] = (handler, previous)
        return chained

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[NatsServer]:
        """Serve while inside: the shape of a router's lifespan."""
        try:
            await self.start()
        except BaseException:
            if self.nc is not None:
                await self.nc.close()
            raise
        chained = self._chain_signals()
        try:
            yield self
        finally:
            try:
                await self.stop()
            finally:
                for sig, (ours, previous) in chained.items():
                    if signal.getsignal(sig) is ours:  # not replaced since (uvicorn restores its own)
                        signal.signal(sig, previous)


def lifespan(settings: NatsSettings, processor: EventProcessor) -> Any:
    """A router lifespan that serves ``processor`` over NATS inside the others' lifespans."""
    return lambda router: NatsServer(processor, settings).running()
