"""Old-style registrations (``fastevents.compat``), served by ``fastevents serve
tests.compat_served:default_router`` in tests/test_compat.py: the module that registers
them imports ``default_router``, and ``fastevents serve`` serves it."""

from __future__ import annotations

from fastevents.compat import (
    CamelPydanticMixin,
    Event,
    EventBuilder,
    EventHandler,
    EventRegister,
    Field,
    ResponseEvent,
    default_router,
    validator,
)


class MyEventSchema(CamelPydanticMixin):
    example: str = Field(..., min_length=1)

    @validator("example")
    def shout(cls, value: str) -> str:
        return value.upper()


class MyHandler(EventHandler):
    _SCHEMA = MyEventSchema

    @classmethod
    def handle(cls, event: Event) -> ResponseEvent:
        payload = cls.parse_event(event)
        return EventBuilder.response_for(event, {"MyEventPayload": payload.example})


class MyEventRegister(EventRegister):
    event_name = "get:event:example"
    event_version = 1
    event_handler = MyHandler


MyEventRegister.register_event()

__all__ = ["default_router"]
