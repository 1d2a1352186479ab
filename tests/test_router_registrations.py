"""The router's public, read-only view of its registrations (``EventRouter.registrations``)."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import msgspec
import pytest

from fastevents import EventHandler, EventRouter
from fastevents._router import Registration


class Point(msgspec.Struct):
    x: int


class ClassStyle(EventHandler):
    """Answers with the point."""

    schema = Point

    def handle(self, event: Any, payload: Point) -> Point:
        return payload


def _router() -> EventRouter:
    router = EventRouter(default_timeout=3.0)

    @router.event("get:typed", 1, timeout=1.5)
    def typed(event: Any, payload: Point) -> int:
        """Typed summary.

        Longer text."""
        return payload.x

    @router.event("get:json", 2)
    def plain(event: Any, payload: Any) -> None:
        return None

    @router.event("get:raw", 1)
    def raw(event: Any, payload: msgspec.Raw) -> bytes:
        return bytes(payload)

    @router.event("get:none", 1)
    def none(event: Any):  # type: ignore[no-untyped-def]
        return {}

    router.add_handler("get:class", 1, ClassStyle())
    return router


def test_registrations_list_every_event_in_registration_order_with_its_payload_mode() -> None:
    found = _router().registrations()
    assert all(isinstance(reg, Registration) for reg in found)
    assert [(r.name, r.version, r.payload_mode, r.payload_type) for r in found] == [
        ("get:typed", 1, "typed", Point),
        ("get:json", 2, "json", None),
        ("get:raw", 1, "raw", None),
        ("get:none", 1, "none", None),
        ("get:class", 1, "typed", Point),
    ]


def test_registrations_show_the_timeout_and_the_handler_with_its_docs_and_return_annotation() -> None:
    typed, _, _, none, class_style = _router().registrations()
    assert typed.timeout == 1.5
    assert none.timeout is None  # the router's default applies when dispatching, not here
    assert typed.handler.__name__ == "typed"
    assert typed.doc() == "Typed summary.\n\nLonger text."
    assert typed.response_annotation() is int
    assert none.response_annotation() is inspect.Signature.empty
    assert class_style.doc() == "Answers with the point."
    assert class_style.response_annotation() is Point


def test_included_routes_show_the_timeout_of_the_router_they_came_from() -> None:
    outer = EventRouter()
    outer.include(_router())
    found = {reg.name: reg for reg in outer.registrations()}
    assert found["get:typed"].timeout == 1.5
    assert found["get:json"].timeout == 3.0


def test_registrations_are_read_only_and_detached_from_the_router() -> None:
    router = _router()
    found = router.registrations()
    assert isinstance(found, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found[0].name = "get:other"  # type: ignore[misc]
    router.add("get:later", 1, lambda event: None)
    assert len(found) == 5
    assert [r.name for r in router.registrations()][-1] == "get:later"
    assert router.routes == [(r.name, r.version) for r in router.registrations()]
