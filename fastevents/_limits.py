"""The limits of ``fastevents serve`` with their defaults (no server import: ``--help`` reads them).

Each field carries its command-line help and unit (:func:`option`): ``fastevents serve``
generates its limit options, their help and defaults from these fields in one loop, so a new
limit is one field here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

__all__ = ["Limits", "Unit", "option"]

#: What a limit counts: ``bytes`` and ``count`` are positive whole numbers, ``seconds`` any
#: positive finite number.
Unit = Literal["bytes", "count", "seconds"]


def option(default: Any, unit: Unit, help: str) -> Any:
    """A :class:`Limits` field: its default, its unit and its ``--help`` line (the default is added).

    The option is the field's name with dashes: ``max_body`` is ``--max-body``."""
    return dataclasses.field(default=default, metadata={"unit": unit, "help": help})


@dataclasses.dataclass(frozen=True)
class Limits:
    """Limits of ``fastevents serve``, per worker process; times in seconds, sizes in bytes.

    The field order is the order of the options in ``fastevents serve --help``.
    """

    #: Request body, a chunked one with its chunk sizes and extensions; a larger one is
    #: answered 413 without being read (see ``asgi_app``).
    max_body: int = option(1_048_576, "bytes", "largest request body, a chunked one with its chunk framing")
    #: Request line plus headers, and on its own a chunked body's trailer; a larger one is
    #: answered 431 and the connection closed.
    max_header_size: int = option(32_768, "bytes", "largest request line plus headers, and chunked trailer")
    #: Open connections. One more closes the one waiting longest for a request's headers (a
    #: slow or silent client, an idle keep-alive one), or is answered 503 when every one has a
    #: request in progress. Lowered to fit the open-file limit.
    max_connections: int = option(1000, "count", "open connections per worker")
    #: From a connection's start, or the first byte of a request, to the end of its headers (408).
    header_timeout: float = option(
        10.0, "seconds", "seconds to receive a request's headers, from its first byte or from connecting"
    )
    #: From the end of the headers to the end of the body (408): a 1 MiB body needs 35 KB/s.
    body_timeout: float = option(30.0, "seconds", "seconds to receive a body after its headers")
    #: An idle keep-alive connection is closed this long after its last answer.
    keep_alive_timeout: float = option(5.0, "seconds", "idle seconds before a keep-alive connection closes")
    #: A client that reads nothing of an answer for this long (write buffer full) is cut off.
    write_timeout: float = option(30.0, "seconds", "seconds a client may leave an answer unread before it is cut off")
    #: On SIGTERM, requests in flight get this long to finish; the rest are cancelled (503).
    shutdown_timeout: float = option(
        30.0, "seconds", "seconds requests in flight get to finish on SIGTERM; the rest are cancelled"
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            flag = "--" + field.name.replace("_", "-")
            if field.metadata["unit"] != "seconds":
                if not isinstance(value, int) or value < 1:
                    raise ValueError(f"{flag} must be a positive whole number, got {value!r}")
            elif not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{flag} must be a positive number of seconds, got {value!r}")
