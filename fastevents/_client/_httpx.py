"""Transports over httpx, imported when one is built: the sync client's
(:class:`HttpxSyncTransport`) and one over an ``httpx.AsyncClient`` (:class:`HttpxTransport`).
Both read the answer with the capped reader (:class:`_Body`) and never follow a redirect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import monotonic
from typing import TYPE_CHECKING

from ._base import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_ANSWER,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TIMEOUT,
    KEEPALIVE_EXPIRY,
    _Body,
    _TransportErrors,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpxSyncTransport", "HttpxTransport"]


def _reader(url: str, cap: int, response: httpx.Response) -> _Body:
    """The capped reader of an httpx answer (already fed if httpx read the body: MockTransport)."""
    headers, consumed = response.headers, response.is_stream_consumed  # read already, and decoded
    length = headers.get("content-length", "")
    declared = int(length) if length.isdigit() else None
    body = _Body(url, cap, declared, None if consumed else headers.get("content-encoding"))
    if consumed:
        body.feed(response.content)
    return body


class HttpxSyncTransport:
    """The sync client's transport: an ``httpx.Client``, yours (as :class:`~fastevents.EventClient`
    says) or ours, over :class:`~fastevents._client._sync_transport.DeadlineTransport` and with
    the client's ``headers`` as its defaults."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        import httpx

        from ._sync_transport import DeadlineTransport, current_deadline

        self._httpx = httpx
        self._deadline = current_deadline
        self._urls: dict[str, httpx.URL] = {}
        self._owns_client = client is None
        # The client's headers, and what to send for them: nothing with our client (they are
        # its defaults, and the timeout too), with yours the encodings _Body decodes added once.
        self._defaults = headers
        self._sent: dict[str, str] | None = {"accept-encoding": ACCEPT_ENCODING, **(headers or {})}
        self._timeout: float | None = None
        if client is None:
            pool = DeadlineTransport(max_connections=max_connections, keepalive_expiry=KEEPALIVE_EXPIRY)
            client = httpx.Client(timeout=timeout, headers=self._sent, transport=pool)
            self._timeout, self._sent = timeout, None
        self._client = client
        self._max_answer = max_answer

    def _url(self, url: str) -> httpx.URL:
        # Parsed once: httpx parses a str URL again on every request (about 13 us here).
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._httpx.URL(url)
            if len(self._urls) < 16:
                self._urls[url] = parsed
        return parsed

    def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        """One POST, never redirected; the answer read up to ``max_answer`` and the deadline."""
        call_headers: Mapping[str, str] | None = headers
        if headers is self._defaults:
            call_headers = self._sent
        elif not self._owns_client and "accept-encoding" not in headers:  # what _Body decodes
            call_headers = {**headers, "accept-encoding": ACCEPT_ENCODING}
        client, deadline = self._client, monotonic() + timeout
        token = self._deadline.set(deadline)
        try:
            with _TransportErrors(url, timeout):
                request = client.build_request(
                    "POST",
                    self._url(url),
                    content=body,
                    headers=call_headers,
                    timeout=self._httpx.USE_CLIENT_DEFAULT if timeout == self._timeout else timeout,
                )
                response = client.send(request, stream=True, follow_redirects=False)
                try:
                    if not self._owns_client:
                        left = deadline - monotonic()
                        if left <= 0:
                            raise TimeoutError("the call's total timeout ran out")
                        if left < timeout - 0.001:
                            # httpx reads the body's read timeout from here when the body starts:
                            # each read may only take the time left (the total, give or take 1 ms).
                            request.extensions["timeout"] = {"connect": left, "read": left, "write": left, "pool": left}
                    decoded = _reader(url, self._max_answer, response)
                    if not response.is_stream_consumed:
                        for chunk in response.iter_raw():  # decoded here, within the cap (not by httpx)
                            decoded.feed(chunk)
                            if monotonic() > deadline:
                                raise TimeoutError("the call's total timeout ran out")
                    answer = decoded.finish()
                finally:
                    response.close()
        finally:
            self._deadline.reset(token)
        return response.status_code, answer

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


class HttpxTransport:
    """A transport over an ``httpx.AsyncClient`` (yours: used as is, never closed by us).

    Redirects are not followed even if your client would. Without a client, one is made with
    ``max_connections`` and :data:`KEEPALIVE_EXPIRY`.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        import httpx

        self._owns_client = client is None
        if client is None:
            limits = httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY,
            )
            client = httpx.AsyncClient(limits=limits)
        self._client = client
        self._max_answer = max_answer

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        client = self._client
        with _TransportErrors(url, timeout):
            # httpx times each connect/write/read on its own; the protocol's timeout is a total.
            async with asyncio.timeout(timeout):
                if "accept-encoding" not in headers:  # what _Body decodes, whatever the client's default
                    headers = {**headers, "accept-encoding": ACCEPT_ENCODING}
                request = client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    decoded = _reader(url, self._max_answer, response)
                    if not response.is_stream_consumed:
                        async for chunk in response.aiter_raw():  # decoded here, within the cap
                            decoded.feed(chunk)
                    answer = decoded.finish()
                finally:
                    await response.aclose()
        return response.status_code, answer

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
