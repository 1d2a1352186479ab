"""NATS plumbing shared by the client, the server and the conformance kit (the ``nats`` extra).

A NATS subject plays the role of the URL: the request is the envelope's bytes, the reply
the answer's bytes, exactly as over HTTP. ``nats://host:port/subject`` names both the
servers and the subject (``nats://a:4222,nats://b:4222/subject`` lists a cluster's
servers). A transport-level refusal travels as the status headers of the NATS services API
(``Nats-Service-Error-Code``), the NATS twin of an HTTP status: 413 for a body over the cap.

nats-py is imported when a connection is first opened, never by ``import fastevents``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ._errors import EventConnectionError, FailedDependencyException, TimeoutException

__all__ = ["NatsTransport", "connect", "parse_url", "request"]

logger = logging.getLogger("fastevents.nats")

SCHEMES = ("nats", "tls", "ws", "wss")
#: The NATS services API's status headers (what ``nats.micro`` answers errors with).
ERROR_CODE = "Nats-Service-Error-Code"
ERROR_TEXT = "Nats-Service-Error"
#: The answer to a body over the cap, as over HTTP (413).
TOO_LARGE: tuple[bytes, dict[str, str]] = (b"Content Too Large", {ERROR_CODE: "413", ERROR_TEXT: "Content Too Large"})
#: The answer to a request dropped past a subscription's pending limit (503): the caller
#: fails at once (and may try again) instead of waiting out its timeout.
UNAVAILABLE: tuple[bytes, dict[str, str]] = (
    b"Service Unavailable",
    {ERROR_CODE: "503", ERROR_TEXT: "Service Unavailable"},
)
#: At most one warning per this many seconds about dropped messages, with their count.
DROPS_WARNED_EVERY = 10.0
_INSTALL = "NATS needs nats-py: pip install 'fastevents-protocol[nats]'"


def is_url(url: str) -> bool:
    """Whether ``url`` is one NATS takes (the one list of schemes: the client, the CLI, the kit)."""
    return url.strip().partition("://")[0].lower() in SCHEMES  # parse_url strips too


def check_url(url: str) -> None:
    if not is_url(url):
        raise ValueError(f"not a NATS URL: {url!r}")


def parse_url(url: str | Sequence[str], subject: str | None = None) -> tuple[list[str], str | None]:
    """``(servers, subject)`` of ``nats://host:port[/subject]``, a comma-separated list of
    such URLs, or a list of them; an explicit ``subject`` wins over the URL's path."""
    urls = [u.strip() for u in url.split(",")] if isinstance(url, str) else [str(u).strip() for u in url]
    servers = []
    found = None
    for item in urls:
        try:
            parts = urlsplit(item)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise ValueError(f"not a NATS URL: {item!r} ({exc})") from None
        if parts.scheme.lower() not in SCHEMES or not parts.hostname:
            raise ValueError(f"not a NATS URL: {item!r} (expected nats://HOST[:PORT][/SUBJECT])")
        path = parts.path.strip("/")
        if path:
            found = path
        servers.append(f"{parts.scheme}://{parts.netloc}")
    if not servers:
        raise ValueError("no NATS server given")
    subject = subject or found
    if subject is not None and (not subject or any(c in subject for c in " \t\r\n") or ">" in subject):
        raise ValueError(f"not a NATS subject to send events to: {subject!r}")
    return servers, subject


def nats_py() -> Any:
    """The ``nats`` package (nats-py); an ImportError that says how to install it."""
    try:
        import nats
    except ImportError:
        raise ImportError(_INSTALL) from None
    return nats


class _Drops:
    """Messages nats-py dropped past a subscription's pending limits ("slow consumer"): a
    warning at the first, then the count of the rest every ``DROPS_WARNED_EVERY`` seconds
    while there are any (so every drop is told, within that delay, in at most one line each)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dropped = self.refused = 0
        self.subject = ""
        self.timer: asyncio.TimerHandle | None = None

    def count(self, subject: str, refused: bool) -> None:
        self.dropped += 1
        self.refused += refused
        self.subject = subject
        if self.timer is None:  # none told lately: now, then what follows in a while
            self.tell()

    def closed(self) -> None:
        """The connection is closed: what is left to tell, now."""
        if self.timer is not None:
            self.timer.cancel()
            self.tell(again=False)

    def tell(self, again: bool = True) -> None:
        self.timer = None
        if not self.dropped:
            return
        refused = f", {self.refused} of them requests answered 503 Service Unavailable" if self.refused else ""
        logger.warning(
            "NATS: %s: %d message(s) dropped past the pending limits of the subscription to %s%s",
            self.name,
            self.dropped,
            self.subject,
            refused,
        )
        self.dropped = self.refused = 0
        if again:
            self.timer = asyncio.get_running_loop().call_later(DROPS_WARNED_EVERY, self.tell)


async def connect(servers: list[str], name: str, **options: Any) -> Any:
    """A nats-py connection that fails at once when no server can be reached (each is tried
    twice), and once connected reconnects for ever across the servers of a cluster
    (``max_reconnect_attempts`` in ``options`` changes that)."""
    nats = nats_py()
    drops = _Drops(name)

    async def error_cb(exc: Exception) -> None:
        if isinstance(exc, nats.errors.SlowConsumerError):
            refused = False
            if exc.reply:  # a request: refused now rather than left to time out
                try:  # nothing may escape: this runs inside nats-py's read loop, which it would stop
                    await nc.publish(exc.reply, UNAVAILABLE[0], headers=UNAVAILABLE[1])
                    refused = True
                except Exception as failed:
                    logger.debug("NATS: %s: could not refuse a dropped request: %r", name, failed)
            drops.count(exc.subject, refused)
        else:
            logger.debug("NATS: %s: %r", name, exc)

    async def closed_cb() -> None:
        drops.closed()

    settings: dict[str, Any] = {
        "name": name,
        "connect_timeout": 2,
        "allow_reconnect": True,
        "reconnect_time_wait": 0.5,
        "error_cb": error_cb,
        "closed_cb": closed_cb,
    }
    settings.update(options)
    # nats-py applies max_reconnect_attempts to the first connection too, where -1 would
    # retry for ever: one retry per server first, then the long-run setting.
    reconnects = settings.pop("max_reconnect_attempts", -1)  # a service outlives any one NATS server
    try:
        nc = await nats.connect(servers=servers, max_reconnect_attempts=1, **settings)
    except (OSError, TimeoutError, nats.errors.Error) as exc:
        raise EventConnectionError(f"cannot reach NATS at {', '.join(servers)}: {exc!r}") from exc
    nc.options["max_reconnect_attempts"] = reconnects
    return nc


async def request(
    nc: Any, url: str, subject: str, body: bytes, headers: Mapping[str, str] | None, timeout: float
) -> tuple[int, bytes]:
    """One request/reply: ``(status, answer)``; client-side failures as over HTTP."""
    errors = nats_py().errors
    try:
        reply = await nc.request(subject, body, timeout=timeout, headers=dict(headers) if headers else None)
    except errors.NoRespondersError:
        raise EventConnectionError(f"cannot reach {url}: no service answers on subject {subject!r}") from None
    except (errors.TimeoutError, TimeoutError):
        raise TimeoutException(f"no answer from {url} in {timeout:g} s") from None
    except errors.MaxPayloadError:
        raise FailedDependencyException(
            f"{url}: the event is {len(body)} bytes, over the NATS server's max_payload of {nc.max_payload} "
            "(413 Content Too Large)",
            status=413,
            body=b"",
        ) from None
    except (errors.Error, OSError) as exc:
        raise EventConnectionError(f"cannot reach {url}: {exc!r}") from exc
    # The status the reply's headers carry: 200 unless a services API error code says otherwise.
    code = reply.headers.get(ERROR_CODE) if reply.headers else None
    try:
        return (200 if code is None else int(code)), reply.data
    except ValueError:
        return 500, reply.data


class NatsTransport:
    """An :class:`fastevents.AsyncTransport` over NATS request/reply: one connection per
    event loop, opened on first use, reconnecting through a cluster's servers.

    The HTTP ``content-type`` header the client adds is not sent (a NATS message needs
    none); other headers, trace context included, travel as NATS headers.
    """

    def __init__(self, servers: list[str], subject: str, options: Mapping[str, Any] | None = None) -> None:
        self.servers = servers
        self.subject = subject
        self._options = dict(options or {})
        self._connections: dict[asyncio.AbstractEventLoop, asyncio.Future[Any]] = {}
        self._current: tuple[asyncio.AbstractEventLoop | None, Any] = (None, None)

    async def connection(self) -> Any:
        """The running loop's connection, opened on first use (concurrent callers share it)."""
        loop = asyncio.get_running_loop()
        current, nc = self._current
        if current is loop and nc is not None:
            return nc
        for old in [old for old in self._connections if old.is_closed()]:
            del self._connections[old]
        opening = self._connections.get(loop)
        if opening is None:
            opening = self._connections[loop] = loop.create_future()
            try:
                opening.set_result(await connect(self.servers, "fastevents-client", **self._options))
            except BaseException as exc:
                del self._connections[loop]
                if isinstance(exc, asyncio.CancelledError):
                    opening.cancel()
                else:
                    opening.set_exception(exc)
                    opening.exception()  # marked retrieved: waiters, if any, get it too
                raise
        nc = await asyncio.shield(opening)
        self._current = (loop, nc)
        return nc

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        nc = await self.connection()
        if len(headers) == 1 and "content-type" in headers:
            extra: Mapping[str, str] | None = None
        else:
            extra = {k: v for k, v in headers.items() if k != "content-type"} or None
        return await request(nc, url, self.subject, body, extra, timeout)

    async def aclose(self) -> None:
        """Close the running loop's connection (after its answers in flight have arrived)."""
        loop = asyncio.get_running_loop()
        opening = self._connections.pop(loop, None)
        self._current = (None, None)
        if opening is not None and opening.done() and not opening.cancelled() and not opening.exception():
            nc = opening.result()
            if not nc.is_closed:
                await nc.close()
