"""A user's program, type-checked (never run) by tests/test_typing.py under ``mypy --strict``.

Each ``assert_type`` pins a type that users' code relies on: if a signature of fastevents
regresses (an untyped decorator, a ``handle`` override that no longer fits, a ``payload_as``
that loses its type), mypy reports it and the test fails.
"""

from __future__ import annotations

from typing import assert_type

import msgspec

import fastevents
from fastevents import CamelStruct, Event, EventBuilder, EventContextHolder, EventHandler, EventRouter, ResponseEvent


class Greeting(CamelStruct):
    first_name: str
    times: int = 1


router = EventRouter()


# --- the decorator forms, sync and async -----------------------------------------------


@router.event("greet:person", 1)
def greet(event: Event, payload: Greeting) -> dict[str, str]:
    return {"text": f"Hello {payload.first_name}!"}


@router.event("greet:later", 1, schema=Greeting)
async def greet_later(event: Event, payload: Greeting) -> dict[str, str]:
    return {"text": payload.first_name}


@router.event("ping:pong", 1)
def ping(event: Event) -> ResponseEvent:
    return EventBuilder.response_for(event, {"pong": True})


async def check_decorated(event: Event) -> None:
    # The decorators hand back the functions unchanged, with their signatures.
    assert_type(greet(event, Greeting(first_name="Ada")), dict[str, str])
    assert_type(await greet_later(event, Greeting(first_name="Ada")), dict[str, str])
    assert_type(ping(event), ResponseEvent)


def plain_handler(event: Event) -> list[int]:
    return [1]


async def async_handler(event: Event, payload: dict[str, int]) -> int:
    return payload["n"]


router.add("plain:handler", 1, plain_handler)
router.add("async:handler", 1, async_handler, schema=dict[str, int])


# --- class-style handlers: the one-argument override, the two-argument one, async ------


class OneArgument(EventHandler):
    def handle(self, event: Event) -> dict[str, int]:
        return {"n": 1}


class TwoArguments(EventHandler):
    schema = Greeting

    def handle(self, event: Event, payload: Greeting) -> str:
        return payload.first_name


class Asynchronous(EventHandler):
    async def handle(self, event: Event) -> None:
        return None


router.add_handler("one:argument", 1, OneArgument())
router.add_handler("two:arguments", 1, TwoArguments())
router.add_handler("async:class", 1, Asynchronous())


def check_handlers(event: Event) -> None:
    assert_type(OneArgument().handle(event), dict[str, int])
    assert_type(TwoArguments().handle(event, Greeting(first_name="Ada")), str)


# --- reading an event ----------------------------------------------------------------


def check_event(event: Event) -> None:
    assert_type(event.payload_as(Greeting), Greeting)
    assert_type(event.payload_as(dict[str, int]), dict[str, int])
    assert_type(event.payload_as(list[Greeting]), list[Greeting])
    assert_type(event.payload_as(msgspec.Raw), msgspec.Raw)
    maybe: int | None = event.payload_as(int | None)  # a union is no type[T]: it is accepted, as Any
    assert_type(event.identity_as(dict[str, str]), dict[str, str])
    assert_type(event.user_id, int | str | None)
    assert_type(event.user_id_as_str, str | None)
    user = event.user
    if user is not None:
        user_id, user_type = user  # still unpacks as (id, type)
        assert_type(user.user_id, int | str | None)
    assert_type(event.to_json(), bytes)
    assert_type(EventContextHolder.get().user_id, int | str | None)
    assert_type(ResponseEvent.from_json(b"{}").is_success, bool)
    del maybe, user_id, user_type


processor = fastevents.EventProcessor(router)
answer: bytes = processor.process_event(b'{"name": "greet:person", "version": 1}')


async def check_async_processor() -> None:
    assert_type(await processor.process_event_async(b"{}"), bytes)


def check_client() -> None:
    with fastevents.EventClient("http://127.0.0.1:8000/events") as client:
        assert_type(client.send_event("greet:person", 1, {"firstName": "Ada"}), ResponseEvent)
