"""The old package's README example, migrated by changing imports, under ``mypy --strict``
(tests/test_typing.py): code written for 0.2.4 with annotations keeps type-checking."""

from __future__ import annotations

from typing import assert_type

from fastevents.compat import (
    CamelPydanticMixin,
    EventBuilder,
    EventClient,
    EventContextHolder,
    EventErrorType,
    EventHandler,
    EventProcessor,
    EventRegister,
    RequestEvent,
    ResponseEvent,
)


class MyEventSchema(CamelPydanticMixin):
    example: str


class MyHandler(EventHandler):
    _SCHEMA = MyEventSchema

    @classmethod
    def handle(cls, event: RequestEvent) -> ResponseEvent:
        payload: MyEventSchema = cls.parse_event(event)
        return EventBuilder.response_for(event, {"MyEventPayload": payload.example})


class MyEventRegister(EventRegister):
    event_name = "get:event:example"
    event_version = 1
    event_handler = MyHandler


MyEventRegister.register_event()
assert_type(EventProcessor.process_event('{"name": "get:event:example", "version": 1}'), str)


def check(event: RequestEvent) -> None:
    assert_type(event.to_json(), str)
    assert_type(event.user.user_id, int | str | None)
    assert_type(ResponseEvent.from_event(event, EventErrorType.BAD_REQUEST), ResponseEvent)
    assert_type(EventErrorType.is_in("badRequest"), bool)
    assert_type(EventErrorType.get_type("badRequest"), EventErrorType)
    assert_type(MyEventSchema.from_json('{"example": "x"}'), MyEventSchema)
    with EventContextHolder.with_context("id", "flow-id", "get:event:example", 1) as context:
        assert_type(context.id, str | None)
    response = EventClient("http://127.0.0.1:8000/events").send_event("get:event:example", 1, {}, "id", "flow")
    assert_type(response, ResponseEvent)
    assert_type(response.to_json(), str)
