"""Building answers by hand, for handlers that want to control the whole envelope."""

from __future__ import annotations

from typing import Any

from ._errors import EventException
from ._model import Event, RedirectPayload, ResponseEvent
from ._wire import FLOW_ID_SLOT, ID_SLOT

__all__ = ["EventBuilder"]


def _reply(
    event: Event,
    name: str,
    payload: Any,
    identity: dict[str, Any] | None,
    auth: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
) -> ResponseEvent:
    # The ids are taken from the slots as they are: on a received event they are still
    # the request's raw JSON strings, written back to the wire without a decode.
    return ResponseEvent(
        name=name,
        version=event.version,
        id=ID_SLOT.__get__(event),
        flow_id=FLOW_ID_SLOT.__get__(event),
        payload=payload,
        identity=identity if identity is not None else {},
        auth=auth if auth is not None else {},
        metadata=metadata if metadata is not None else {},
    )


class EventBuilder:
    """Answers to an event: success, redirect and error, with the event's ids."""

    @staticmethod
    def response_for(
        event: Event,
        payload: Any = None,
        *,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ResponseEvent:
        """``<name>:response`` carrying ``payload`` (``{}`` when omitted)."""
        return _reply(event, f"{event.name}:response", {} if payload is None else payload, identity, auth, metadata)

    @staticmethod
    def redirect_for(
        event: Event,
        redirect: RedirectPayload | str,
        query_parameters: dict[str, Any] | None = None,
        *,
        identity: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ResponseEvent:
        """``<name>:redirect`` to ``redirect`` (a :class:`RedirectPayload` or a URL)."""
        if not isinstance(redirect, RedirectPayload):
            redirect = RedirectPayload(url=redirect, query_parameters=dict(query_parameters or {}))
        return _reply(event, f"{event.name}:redirect", redirect, identity, None, metadata)

    @staticmethod
    def error_for(
        event: Event | EventException,
        exception: EventException | Event,
        *,
        identity: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ResponseEvent:
        """``<name>:<type>`` with ``{"code", "parameters"}`` from ``exception``.

        Either argument order works: ``error_for(event, exc)`` or the old package's
        ``error_for(exc, event)``.
        """
        if isinstance(event, EventException):
            event, exception = exception, event
        assert isinstance(event, Event) and isinstance(exception, EventException)
        payload = {"code": exception.code, "parameters": exception.parameters}
        return _reply(event, f"{event.name}:{exception.type}", payload, identity, None, metadata)
