"""A router for the schema tests: typed, plain and raw events, as ``fastevents serve`` serves them.

``fastevents serve tests.schema_router:router --catalogue`` serves it with its OpenAPI
document; schemathesis (tests/test_schemathesis.py) and the generated client
(tests/test_codegen.py) talk to it.
"""

from __future__ import annotations

import datetime
import enum
import math
import uuid
from typing import Any, Literal

import msgspec

from fastevents import CamelStruct, Event, EventErrorType, EventException, EventRouter


class Role(enum.Enum):
    ADMIN = "admin"
    MEMBER = "member"


class Address(CamelStruct):
    """Where a user lives."""

    street: str
    postal_code: str | None = None


class GetUser(CamelStruct):
    """Which user to read."""

    user_id: int


class User(CamelStruct):
    """A user, as stored."""

    user_id: int
    display_name: str
    role: Role
    tags: list[str]
    address: Address | None = None
    created: datetime.datetime | None = None


class CreateUser(CamelStruct, forbid_unknown_fields=True):
    """A new user's details."""

    display_name: str
    role: Role = Role.MEMBER
    tags: list[str] = []  # noqa: RUF012 - msgspec copies mutable defaults
    address: Address | None = None
    ref: uuid.UUID | None = None
    kind: Literal["person", "robot"] = "person"


class Created(CamelStruct):
    user_id: int
    ok: bool


class Total(msgspec.Struct):
    count: int
    total: float | None  # None when the sum is no finite number: JSON has no inf or NaN


router = EventRouter()


@router.event("get:user", 1)
def get_user(event: Event, payload: GetUser) -> User:
    """Read one user.

    Answers ``notFound`` (code ``USER_NOT_FOUND``) for an id other than 1 to 100.
    """
    if not 1 <= payload.user_id <= 100:
        raise EventException("USER_NOT_FOUND", {"userId": payload.user_id}, type=EventErrorType.NOT_FOUND)
    return User(
        user_id=payload.user_id,
        display_name=f"user {payload.user_id}",
        role=Role.ADMIN if payload.user_id == 1 else Role.MEMBER,
        tags=["a", "b"],
        address=Address(street="Main street 1"),
        created=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )


@router.event("create:user", 2)
async def create_user(event: Event, payload: CreateUser) -> Created:
    """Create a user (async)."""
    return Created(user_id=len(payload.display_name), ok=True)


@router.event("sum:numbers", 1)
def sum_numbers(event: Event, payload: list[float]) -> Total:
    """Add numbers up (``total`` is null when the sum overflows)."""
    total = sum(payload)
    return Total(count=len(payload), total=total if math.isfinite(total) else None)


@router.event("echo:any", 1)
def echo_any(event: Event, payload: Any) -> Any:
    """Answer the payload, whatever it is (a plain event: no schema)."""
    return payload


@router.event("echo:raw", 1)
def echo_raw(event: Event, payload: msgspec.Raw) -> msgspec.Raw:
    """Answer the payload's bytes as sent (a raw event)."""
    return payload


@router.event("server:ping", 1)
def ping(event: Event) -> str:
    """Answer "pong"; takes no payload."""
    return "pong"


@router.event("always:fails", 1)
def always_fails(event: Event, payload: GetUser) -> None:
    """Raise an unexpected exception: answered ``always:fails:error`` (UNHANDLED_ERROR)."""
    raise RuntimeError("a bug")
