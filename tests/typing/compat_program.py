"""The old package's README example, migrated by changing imports, under ``mypy --strict``
(tests/test_typing.py): code written for 0.2.4 with annotations keeps type-checking."""

from __future__ import annotations

from typing import Any, assert_type

import msgspec

from fastevents.compat import (
    CamelPydanticMixin,
    EventBuilder,
    EventClient,
    EventContextHolder,
    EventErrorType,
    EventHandler,
    EventProcessor,
    EventRegister,
    Field,
    RequestEvent,
    ResponseEvent,
    ValidationError,
    validator,
)


class MyEventSchema(CamelPydanticMixin):
    example: str


class Checked(CamelPydanticMixin):  # pydantic-v1 style, as 0.2.4's schemas were written
    name: str = Field(..., min_length=1, alias="fullName")
    count: int = Field(1, ge=1)

    @validator("name")
    def stripped(cls, value: str) -> str:
        return value.strip()


class Reordered(CamelPydanticMixin, kw_only=True):  # a required field after a default, as pydantic allowed
    count: int = 1
    name: str


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

    checked = Checked.parse_obj({"fullName": "Ada"})
    assert_type(checked, Checked)
    assert_type(checked.dict(by_alias=True), dict[str, Any])
    assert_type(checked.json(), str)
    assert_type(checked.copy(update={"count": 2}), Checked)
    assert_type(Checked.schema(), dict[str, Any])
    try:
        Checked(count=0)
    except ValidationError as exc:
        assert_type(exc.to_dict(), dict[str, Any])
    try:
        msgspec.json.decode(b'{"count": "x"}', type=dict[str, int])
    except msgspec.ValidationError as exc:
        assert_type(ValidationError.from_validation_error(exc), ValidationError)  # the class it is called on
    assert_type(Reordered(name="x").count, int)
