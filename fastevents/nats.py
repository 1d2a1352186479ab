"""Events over NATS (the ``nats`` extra): send with :class:`NatsEventClient`, serve with
``fastevents serve app:router --nats URL --nats-subject SUBJECT`` (see docs/nats.md).

A NATS subject plays the role of the URL: the envelope and the answer are the same bytes as
over HTTP. :class:`NatsEventClient` is :class:`fastevents.AsyncEventClient` over a NATS
transport: the same ``send_event`` signature, ids, observers (OpenTelemetry's trace context
goes into NATS headers and ``metadata.trace``), ``MockEvents`` and exceptions; no responders
on the subject is an :class:`EventConnectionError` at once, no answer in time a
:class:`TimeoutException`, a body over the server's ``max_payload`` a
:class:`FailedDependencyException` with status 413.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._client._base import DEFAULT_MAX_ANSWER, DEFAULT_TIMEOUT
from ._client._clients import AsyncEventClient
from ._nats import NatsTransport, check_url, parse_url
from ._nats_serve import NatsServer, NatsSettings

__all__ = ["NatsEventClient", "NatsServer", "NatsSettings", "NatsTransport"]

#: Events in flight at once per event loop (others queue in the client, see ``pool_timeout``).
DEFAULT_IN_FLIGHT = 1024


class NatsEventClient(AsyncEventClient):
    """Sends events to ``subject`` over NATS; ``await send_event(...)`` as with
    :class:`fastevents.AsyncEventClient`.

    ``url``: ``nats://host:port``, a comma-separated list or a list of a cluster's servers
    (the client fails over between them and reconnects for ever); the subject is
    ``subject``, else the URL's path (``nats://host:4222/users.events``). ``options`` go to
    ``nats.connect`` (TLS, credentials, ``dont_randomize``...). One connection per event
    loop, opened on first use; ``max_connections`` bounds the events in flight.
    """

    _check_url = staticmethod(check_url)

    def __init__(
        self,
        url: str | Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        subject: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_answer: int = DEFAULT_MAX_ANSWER,
        max_connections: int = DEFAULT_IN_FLIGHT,
        pool_timeout: float | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        servers, found = parse_url(url, subject)
        if found is None:
            raise ValueError(f"no subject to send to: pass subject=... or nats://HOST:PORT/SUBJECT (got {url!r})")
        self.servers = servers
        self.subject = found
        super().__init__(
            f"{servers[0]}/{found}",
            timeout,
            headers=headers,
            transport=NatsTransport(servers, found, options),
            max_answer=max_answer,
            max_connections=max_connections,
            pool_timeout=pool_timeout,
        )
        self._owns_transport = True

    def __repr__(self) -> str:
        return f"<NatsEventClient {','.join(self.servers)} subject={self.subject} timeout={self.timeout}>"
