"""The router served by the HTTP benchmarks: ``fastevents serve benchmarks.http_app:router``."""

from __future__ import annotations

from typing import Any

import msgspec

from fastevents import Event, EventRouter


class ExampleSchema(msgspec.Struct):
    example: str


router = EventRouter()


@router.event("get:event:example", 1)
def example(event: Event, payload: ExampleSchema) -> Any:
    return {"MyEventPayload": payload.example}


@router.event("echo:payload", 1)
def echo(event: Event, payload: Any) -> Any:
    return payload
