"""The limits of ``fastevents serve`` with their defaults (no server import: ``--help`` reads them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """Limits of ``fastevents serve``, per worker process; times in seconds, sizes in bytes."""

    #: Request line plus headers, and on its own a chunked body's trailer; a larger one is
    #: answered 431 and the connection closed.
    max_header_size: int = 32_768
    #: From a connection's start, or the first byte of a request, to the end of its headers (408).
    header_timeout: float = 10.0
    #: From the end of the headers to the end of the body (408): a 1 MiB body needs 35 KB/s.
    body_timeout: float = 30.0
    #: An idle keep-alive connection is closed this long after its last answer.
    keep_alive_timeout: float = 5.0
    #: A client that reads nothing of an answer for this long (write buffer full) is cut off.
    write_timeout: float = 30.0
    #: Open connections. One more closes the one waiting longest for a request's headers (a
    #: slow or silent client, an idle keep-alive one), or is answered 503 when every one has a
    #: request in progress. Lowered to fit the open-file limit.
    max_connections: int = 1000
    #: Request body, a chunked one with its chunk sizes and extensions; a larger one is
    #: answered 413 without being read (see ``asgi_app``).
    max_body: int = 1_048_576
    #: On SIGTERM, requests in flight get this long to finish; the rest are cancelled (503).
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            option = "--" + field.name.replace("_", "-")
            if field.type == "int":
                if not isinstance(value, int) or value < 1:
                    raise ValueError(f"{option} must be a positive whole number, got {value!r}")
            elif not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{option} must be a positive number of seconds, got {value!r}")
