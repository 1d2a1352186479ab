"""The sync client's own httpx transport: an httpcore pool whose sockets honour a per-call deadline.

httpx and httpcore time each read, write and connect on its own, so a server that drips its
answer (headers included) a byte at a time holds a call for ever. Here every socket operation
waits at most what is left before the deadline the client sets in :data:`current_deadline`
around a call. Only public APIs of httpx and httpcore are used.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from time import monotonic
from typing import Any

import httpcore
import httpx

__all__ = ["DeadlineTransport", "current_deadline"]

#: The monotonic time by which the call running in this context must be done (None: no cap).
current_deadline: ContextVar[float | None] = ContextVar("fastevents_client_deadline", default=None)


def _cap(timeout: float | None, expired: type[Exception]) -> float | None:
    """The operation's own timeout, or the time left before the call's deadline if shorter."""
    deadline = current_deadline.get()
    if deadline is None:
        return timeout
    left = deadline - monotonic()
    if left <= 0:
        raise expired("the call's total timeout ran out")
    return left if timeout is None or left < timeout else timeout


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write waits no longer than the call has left."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _cap(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    """httpcore's blocking socket backend, with each TCP stream capped by the call's deadline (the
    pool is built without ``uds``, so no Unix socket is ever opened)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options))


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    """An ``httpx`` transport over ``httpcore.ConnectionPool`` with deadline-capped sockets.

    httpcore's own errors (``httpcore.ReadTimeout``...) pass through untranslated: the client
    maps them in one place with every other transport error.
    """

    def __init__(self, *, max_connections: int, keepalive_expiry: float) -> None:
        self._pool = httpcore.ConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        assert isinstance(request.stream, httpx.SyncByteStream)
        answer = self._pool.handle_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status, headers=answer.headers, stream=_Body(answer.stream), extensions=answer.extensions
        )

    def close(self) -> None:
        self._pool.close()
