"""Log records that say which event they belong to: :class:`EventContextFilter`.

Kept apart from :mod:`fastevents.otel` so that it never imports OpenTelemetry: the trace and
span ids come from a function the instrumentor installs here while it is active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._context import current_event

__all__ = ["EventContextFilter"]

#: Set by ``FastEventsInstrumentor`` while instrumented: the current span's
#: ``(trace_id, span_id)`` as lower-case hex, or ``None`` when no span is recording.
span_ids: Callable[[], tuple[str, str] | None] | None = None


class EventContextFilter(logging.Filter):
    """Adds the current event to every record: ``event_id``, ``flow_id``, ``event_name``,
    ``event_version``, and ``trace_id``, ``span_id`` when OpenTelemetry is instrumented.

    Attach it to a handler (``handler.addFilter(EventContextFilter())``) so that records of
    every logger pass through it, then use the fields in a format string:
    ``"%(levelname)s [%(event_name)s:V%(event_version)s %(flow_id)s] %(message)s"``.

    The fields are always set, ``None`` outside a handler and when not instrumented, so a
    format string that names them never fails. Values passed with ``extra=`` win. The
    event's ``auth``, ``identity`` and payload are never copied (they carry tokens and
    personal data). The filter never drops a record. It reads a context variable, so it
    must run in the thread that logs: with a ``QueueHandler``, attach it to that handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        event = current_event.get()
        if event is None:
            fields.setdefault("event_id", None)
            fields.setdefault("flow_id", None)
            fields.setdefault("event_name", None)
            fields.setdefault("event_version", None)
        else:
            fields.setdefault("event_id", event.id)
            fields.setdefault("flow_id", event.flow_id)
            fields.setdefault("event_name", event.name)
            fields.setdefault("event_version", event.version)
        ids = span_ids() if span_ids is not None else None
        if ids is None:
            fields.setdefault("trace_id", None)
            fields.setdefault("span_id", None)
        else:
            fields.setdefault("trace_id", ids[0])
            fields.setdefault("span_id", ids[1])
        return True
