"""NATS test helpers: a real nats-server (alone or as a two-node cluster) on free loopback
ports, and ``fastevents serve --nats`` processes.

The server binary is ``$NATS_SERVER``, else ``nats-server`` on PATH, else Debian's
``/usr/sbin/nats-server`` (``.ci/run`` installs Debian's package). Without it the tests
skip, except in CI (``CI=true``), where a missing server fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from fastevents import Event, EventRouter

from .helpers_http import PYTHON, Server, build_served_router, free_port

#: ``fastevents serve tests.helpers_nats:router``: the HTTP tests' router, plus
#: ``lifespan:state`` (what the router's lifespan set up) and ``seen:ids`` (the ids this
#: process has handled with ``count:id``, to find an event answered twice).
_state: dict[str, Any] = {}
_seen: list[str] = []


@contextlib.asynccontextmanager
async def _lifespan(router: EventRouter) -> Any:
    _state["started"] = os.getpid()
    yield
    _state.clear()


def build_nats_router() -> EventRouter:
    router = build_served_router()
    router.lifespan = _lifespan

    @router.event("lifespan:state", 1)
    def state(event: Event) -> Any:
        return dict(_state)

    @router.event("count:id", 1)
    def count(event: Event) -> Any:
        _seen.append(event.id)
        return {"pid": os.getpid()}

    return router


router = build_nats_router()


DEBIAN_PATH = "/usr/sbin/nats-server"


def nats_server_binary() -> str:
    """The nats-server to run; skips without one, but fails in CI (``CI=true``)."""
    found = os.environ.get("NATS_SERVER") or shutil.which("nats-server")
    if not found and os.access(DEBIAN_PATH, os.X_OK):  # not on PATH for users other than root
        found = DEBIAN_PATH
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but nats-server is missing: .ci/run installs Debian's nats-server package")
        pytest.skip("nats-server is not installed (apt-get install nats-server)")
    return found


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nats-server did not listen on 127.0.0.1:{port} within {timeout} s")


class NatsProcess:
    """One nats-server on 127.0.0.1; optionally a cluster node routing to ``routes``."""

    def __init__(self, *, cluster_port: int | None = None, routes: Sequence[int] = ()) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
        if cluster_port is not None:
            argv += ["--cluster_name", "fastevents-test", "--cluster", f"nats://127.0.0.1:{cluster_port}"]
            if routes:
                argv += ["--routes", ",".join(f"nats://127.0.0.1:{p}" for p in routes)]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            _wait_port(self.port, self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


@contextlib.contextmanager
def nats_cluster(size: int) -> Iterator[list[NatsProcess]]:
    """``size`` nats-servers routed to each other (started one after the other)."""
    cluster_ports = [free_port() for _ in range(size)]
    nodes: list[NatsProcess] = []
    try:
        for port in cluster_ports:
            nodes.append(NatsProcess(cluster_port=port, routes=[p for p in cluster_ports if p != port]))
        yield nodes
    finally:
        for node in nodes:
            node.stop()


class NatsServing(Server):
    """``fastevents serve ... --nats URL --nats-subject SUBJECT`` in a subprocess; always stop it."""

    def __init__(self, nats_url: str, subject: str, *extra: str, target: str = "tests.helpers_nats:router") -> None:
        argv = [PYTHON, "-m", "fastevents", "serve", target, "--nats", nats_url, "--nats-subject", subject, *extra]
        self.http = "--no-http" not in extra
        if self.http:  # ``url``: its HTTP events endpoint
            super().__init__([*argv, "--port", "0"])
        else:
            super().__init__(argv, ready=re.compile(r"(serving) on NATS subject (\S+)"))

    def _wait_connectable(self) -> None:  # subscribed to NATS: see wait_for_services
        if self.http:
            super()._wait_connectable()


async def wait_for_services(nc: Any, subject: str, count: int, timeout: float = 30.0) -> dict[int, str]:
    """Poll ``$SRV.PING.<name>`` until ``count`` service instances answer (all subscribed);
    their services API ids by pid."""
    from fastevents._nats_serve import _service_name

    name = _service_name(subject)
    inbox = nc.new_inbox()
    found: dict[int, str] = {}

    async def answer(msg: Any) -> None:
        ping = json.loads(msg.data)
        found[int(ping["metadata"]["pid"])] = ping["id"]

    sub = await nc.subscribe(inbox, cb=answer)
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                await nc.publish(f"$SRV.PING.{name}", b"", reply=inbox)
                await nc.flush()
                await asyncio.sleep(0.05)
    finally:
        await sub.unsubscribe()
    return found


async def wait_until_gone(nc: Any, subject: str, service_id: str, timeout: float = 30.0) -> None:
    """Poll ``$SRV.PING.<name>.<id>`` until nobody answers: that process has unsubscribed."""
    from fastevents._nats_serve import _service_name

    async with asyncio.timeout(timeout):
        while True:
            try:
                await nc.request(f"$SRV.PING.{_service_name(subject)}.{service_id}", b"", timeout=1)
            except Exception as exc:  # NoRespondersError: gone
                if type(exc).__name__ == "NoRespondersError":
                    return
            await asyncio.sleep(0.01)
