"""The current event, for code that runs inside a handler (logging, outgoing calls)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._model import Event

__all__ = ["EventContext", "EventContextHolder"]

current_event: ContextVar[Event | None] = ContextVar("fastevents.current_event", default=None)


class EventContext:
    """A read-only view of the event being handled; every attribute is ``None`` outside one."""

    __slots__ = ("_event",)

    def __init__(self, event: Event | None) -> None:
        self._event = event

    @property
    def event(self) -> Event | None:
        return self._event

    @property
    def id(self) -> str | None:
        return self._event.id if self._event is not None else None

    @property
    def flow_id(self) -> str | None:
        return self._event.flow_id if self._event is not None else None

    @property
    def event_name(self) -> str | None:
        return self._event.name if self._event is not None else None

    @property
    def event_version(self) -> int | None:
        return self._event.version if self._event is not None else None

    @property
    def user_id(self) -> int | str | None:
        return self._event.user_id if self._event is not None else None

    @property
    def user_type(self) -> Any:
        user = self._event.user if self._event is not None else None
        return user[1] if user is not None else None

    @property
    def origin(self) -> Any:
        return self._event.origin if self._event is not None else None

    def __repr__(self) -> str:
        return (
            f"EventContext(id={self.id!r}, flow_id={self.flow_id!r}, "
            f"event_name={self.event_name!r}, event_version={self.event_version!r})"
        )


class EventContextHolder:
    """Access to the current event's context (a :mod:`contextvars` variable).

    The processor sets it for the duration of each handler call and restores the previous
    value afterwards, so it follows ``await`` and nests.
    """

    @staticmethod
    def get() -> EventContext:
        return EventContext(current_event.get())

    @staticmethod
    @contextlib.contextmanager
    def with_context(event: Event) -> Iterator[EventContext]:
        """Make ``event`` current inside a ``with`` block (and restore the outer one after)."""
        token = current_event.set(event)
        try:
            yield EventContext(event)
        finally:
            current_event.reset(token)

    @staticmethod
    @contextlib.asynccontextmanager
    async def with_async_context(event: Event) -> AsyncIterator[EventContext]:
        """``with_context`` for ``async with``."""
        with EventContextHolder.with_context(event) as context:
            yield context
