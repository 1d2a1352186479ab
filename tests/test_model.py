"""The envelope model: events, responses, error types, builders, exceptions."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from fastevents import (
    CamelStruct,
    Event,
    EventBuilder,
    EventContextHolder,
    EventErrorType,
    EventException,
    EventSuccessType,
    InvalidEnvelopeError,
    PayloadValidationError,
    RedirectPayload,
    RequestEvent,
    ResponseEvent,
)

SEED = (
    b'{"name": "get:event:example", "version": 1, "id": "9230c47c-3bcf-11ea-b77f-2e728ce88125", '
    b'"flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125", "payload": {"example": "example"}, '
    b'"identity": {"userId": "USER_ID"}, "auth": {"token": "SECRET-TOKEN"}, "metadata": {"date": "00-00-0000"}}'
)


class Example(CamelStruct):
    example: str


class Person(CamelStruct):
    first_name: str
    user_id: int = 0


def test_from_json_reads_every_field() -> None:
    event = RequestEvent.from_json(SEED)
    assert isinstance(event, RequestEvent) and isinstance(event, Event)
    assert event.name == "get:event:example"
    assert event.version == 1
    assert event.id == "9230c47c-3bcf-11ea-b77f-2e728ce88125"
    assert event.flow_id == "a47830ca-3bcf-11ea-a232-2e728ce88125"
    assert event.payload == {"example": "example"}
    assert event.identity == {"userId": "USER_ID"}
    assert event.auth == {"token": "SECRET-TOKEN"}
    assert event.metadata == {"date": "00-00-0000"}


def test_payload_is_decoded_once_and_kept() -> None:
    event = Event.from_json(SEED)
    assert event.payload is event.payload


def test_payload_as_decodes_into_a_type_and_raw_gives_a_copy() -> None:
    event = Event.from_json(SEED)
    assert event.payload_as(Example) == Example(example="example")
    raw = event.payload_as(msgspec.Raw)
    assert bytes(raw) == b'{"example": "example"}'
    assert event.payload_as(dict) == {"example": "example"}


def test_payload_as_after_the_payload_was_read_converts_the_value() -> None:
    event = Event.from_json(SEED)
    assert event.payload == {"example": "example"}
    assert event.payload_as(Example) == Example(example="example")
    assert json.loads(bytes(event.payload_as(msgspec.Raw))) == {"example": "example"}


def test_payload_as_raises_a_bad_request_exception() -> None:
    event = Event.from_json(SEED)
    with pytest.raises(PayloadValidationError) as info:
        event.payload_as(Person)
    assert info.value.type is EventErrorType.BAD_REQUEST
    assert info.value.code == "MISSING_FIELDS"
    assert info.value.parameters["fields"][0]["name"] == "firstName"


def test_identity_as_and_auth_as_decode_into_types() -> None:
    event = Event.from_json(
        b'{"name": "a:b", "version": 1, "identity": {"firstName": "Ada", "userId": 3}, "auth": {"firstName": "x"}}'
    )
    assert event.identity_as(Person) == Person(first_name="Ada", user_id=3)
    assert event.auth_as(Person) == Person(first_name="x")
    missing = Event.from_json(b'{"name": "a:b", "version": 1}')
    assert missing.identity_as(dict) == {}


def test_to_json_writes_canonical_order_and_camel_case() -> None:
    event = Event(name="a:b", version=2, id="i", flow_id="f", payload=[1], identity={"u": 1})
    assert event.to_json() == (
        b'{"name":"a:b","version":2,"id":"i","flowId":"f","payload":[1],"identity":{"u":1},"auth":{},"metadata":{}}'
    )


def test_a_received_event_round_trips_without_changes() -> None:
    event = Event.from_json(SEED)
    assert json.loads(event.to_json()) == json.loads(SEED)


def test_hand_built_events_get_fresh_distinct_ids() -> None:
    a, b = Event(name="a:b", version=1), Event(name="a:b", version=1)
    assert a.id != b.id and a.flow_id != b.flow_id
    assert uuid.UUID(a.id).version == 4


@pytest.mark.parametrize(
    ("body", "prop"),
    [
        (b"{", None),
        (b"[]", None),
        (b'{"version": 1}', "name"),
        (b'{"name": "a:b"}', "version"),
        (b'{"name": "a:b", "version": "x"}', "version"),
        (b'{"name": "a:b", "version": 1, "id": 5}', "id"),
        (b'{"name": "a:b", "version": 1, "auth": []}', "auth"),
    ],
)
def test_from_json_rejects_invalid_envelopes(body: bytes, prop: str | None) -> None:
    with pytest.raises(InvalidEnvelopeError) as info:
        Event.from_json(body)
    assert info.value.property_name == prop
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("identity", "user_id", "as_str"),
    [
        ({"userId": 42}, 42, "42"),
        ({"userId": "42"}, 42, "42"),
        ({"userId": "-7"}, -7, "-7"),
        (
            {"userId": "9b2f6a3e-0c4e-4d8e-9a57-0a6a0cf5d9f1"},
            "9b2f6a3e-0c4e-4d8e-9a57-0a6a0cf5d9f1",
            "9b2f6a3e-0c4e-4d8e-9a57-0a6a0cf5d9f1",
        ),
        ({"userId": "USER_ID"}, "USER_ID", "USER_ID"),
        ({"user": {"id": 5, "type": "CUSTOMER"}}, 5, "5"),
        ({"user": {"id": "abc"}}, "abc", "abc"),
        ({"userId": None, "user": {"id": 6}}, 6, "6"),
        ({"userId": 12345678901234567890123}, 12345678901234567890123, "12345678901234567890123"),
        ({}, None, None),
        ({"userId": None}, None, None),
        ({"user": "not-an-object"}, None, None),
        ({"userId": True}, None, None),
        ({"userId": "  42 "}, 42, "42"),
        ({"userId": " u-1 "}, "u-1", "u-1"),
        ({"userId": ""}, None, None),
        ({"userId": "", "user": {"id": 8}}, 8, "8"),
        ({"userId": {"x": 1}, "user": {"id": 5}}, 5, "5"),
        ({"userId": 42.0}, 42, "42"),
        ({"userId": 4.2e1}, 42, "42"),
        ({"userId": 1.5}, None, None),
        ({"userId": 10**39}, 10**39, str(10**39)),
        ({"userId": 10**40}, None, None),
        ({"userId": "1" * 40}, int("1" * 40), "1" * 40),
        ({"userId": "1" * 41}, "1" * 41, "1" * 41),
    ],
)
def test_user_id_reads_user_id_then_user_dot_id(identity: dict[str, Any], user_id: Any, as_str: Any) -> None:
    event = Event.from_json(json.dumps({"name": "a:b", "version": 1, "identity": identity}))
    assert event.user_id == user_id
    assert event.user_id_as_str == as_str


def test_user_and_origin() -> None:
    event = Event(name="a:b", version=1, identity={"user": {"id": 1, "type": "T"}}, metadata={"origin": "web"})
    assert event.user == (1, "T")
    assert event.origin == "web"
    bare = Event.from_json(b'{"name": "a:b", "version": 1, "identity": null, "metadata": null}')
    assert bare.user is None and bare.origin is None and bare.identity == {} and bare.metadata == {}


def test_repr_hides_auth() -> None:
    event = Event.from_json(SEED)
    text = repr(event)
    assert "SECRET-TOKEN" not in text
    assert "get:event:example" in text and "auth={...}" in text


@pytest.mark.parametrize(
    ("name", "success", "redirect", "error", "error_type"),
    [
        ("a:b:response", True, False, False, None),
        ("a:b:redirect", False, True, False, None),
        ("a:b:error", False, False, True, EventErrorType.GENERIC),
        ("a:b:badRequest", False, False, True, EventErrorType.BAD_REQUEST),
        ("a:b:bad_request", False, False, True, EventErrorType.BAD_REQUEST),
        ("a:b:not_found", False, False, True, EventErrorType.NOT_FOUND),
        ("a:b:user_denied", False, False, True, EventErrorType.USER_DENIED),
        ("a:b:resource_denied", False, False, True, EventErrorType.RESOURCE_DENIED),
        ("a:b:event_not_found", False, False, True, EventErrorType.EVENT_NOT_FOUND),
        ("a:b:bad_protocol", False, False, True, EventErrorType.BAD_PROTOCOL),
        ("eventNotFound", False, False, True, EventErrorType.EVENT_NOT_FOUND),
        ("badProtocol", False, False, True, EventErrorType.BAD_PROTOCOL),
        ("a:b:teapot", False, False, True, EventErrorType.UNKNOWN),
        ("a:b:unknown", False, False, True, EventErrorType.UNKNOWN),
    ],
)
def test_response_classification(name: str, success: bool, redirect: bool, error: bool, error_type: Any) -> None:
    response = ResponseEvent(name=name, version=1)
    assert (response.is_success, response.is_redirect, response.is_error) == (success, redirect, error)
    assert response.error_type is error_type
    if success:
        assert response.event_type is EventSuccessType.SUCCESS


def test_every_error_suffix_of_the_protocol_maps_to_its_type() -> None:
    suffixes = [
        "error",
        "badRequest",
        "badProtocol",
        "unauthorized",
        "notFound",
        "forbidden",
        "userDenied",
        "resourceDenied",
        "expired",
        "unprocessable",
        "gone",
        "eventNotFound",
    ]
    assert [EventErrorType.from_suffix(s).value for s in suffixes] == suffixes


def test_response_from_event_shares_fields() -> None:
    event = Event.from_json(SEED)
    response = ResponseEvent.from_event(event)
    assert isinstance(response, ResponseEvent)
    assert response.id == event.id and response.payload == event.payload


def test_builders_keep_the_request_ids() -> None:
    event = Event.from_json(SEED)
    ok = EventBuilder.response_for(event, {"a": 1})
    moved = EventBuilder.redirect_for(event, "https://x.test/", {"q": "1"})
    failed = EventBuilder.error_for(event, EventException("NOPE", {"p": 1}, type=EventErrorType.FORBIDDEN))
    old_order = EventBuilder.error_for(EventException("NOPE"), event)
    for response in (ok, moved, failed, old_order):
        assert response.id == event.id and response.flow_id == event.flow_id
        assert json.loads(response.to_json())["auth"] == {}
    assert ok.name == "get:event:example:response" and ok.payload == {"a": 1}
    assert json.loads(moved.to_json())["payload"] == {"url": "https://x.test/", "queryParameters": {"q": "1"}}
    assert failed.name == "get:event:example:forbidden"
    assert failed.payload == {"code": "NOPE", "parameters": {"p": 1}}
    assert old_order.name == "get:event:example:error"


def test_redirect_payload_defaults_are_not_shared() -> None:
    a, b = RedirectPayload(url="a"), RedirectPayload(url="b")
    a.query_parameters["x"] = "1"
    assert b.query_parameters == {}
    assert msgspec.json.encode(b) == b'{"url":"b","queryParameters":{}}'


class OldStyle(EventException):
    _CODE = "OLD_CODE"
    _TYPE = EventErrorType.UNAUTHORIZED


class NewStyle(EventException):
    code = "NEW_CODE"
    type = EventErrorType.EXPIRED


def test_exception_codes_and_types_from_arguments_or_class_attributes() -> None:
    assert (OldStyle().code, OldStyle().type) == ("OLD_CODE", EventErrorType.UNAUTHORIZED)
    assert (NewStyle().code, NewStyle().type) == ("NEW_CODE", EventErrorType.EXPIRED)
    explicit = NewStyle("OTHER", {"a": 1}, type="gone", expected=True)
    assert (explicit.code, explicit.type, explicit.parameters, explicit.expected) == (
        "OTHER",
        EventErrorType.GONE,
        {"a": 1},
        True,
    )
    assert EventException().code == "GENERIC_ERROR" and EventException().type is EventErrorType.GENERIC
    # the old package's EventException(parameters, expected=...)
    old_call = OldStyle({"k": "v"}, expected=True)
    assert old_call.parameters == {"k": "v"} and old_call.code == "OLD_CODE"
    assert old_call.event_error_type is EventErrorType.UNAUTHORIZED


def test_camel_struct_uses_camel_case_on_the_wire() -> None:
    assert msgspec.json.encode(Person(first_name="A", user_id=1)) == b'{"firstName":"A","userId":1}'


def test_null_or_missing_identity_auth_metadata_are_written_as_objects() -> None:
    for body in (
        b'{"name": "x:y", "version": "2", "identity": null, "auth": null, "metadata": null}',
        b'{"name": "x:y", "version": 2}',
    ):
        out = json.loads(Event.from_json(body).to_json())
        assert (out["identity"], out["auth"], out["metadata"]) == ({}, {}, {})
        assert out["version"] == 2


def test_received_events_pickle_compare_and_convert_like_hand_built_ones() -> None:
    import pickle

    received = RequestEvent.from_json(b'{"name": "a:b", "version": 1, "id": "i", "flowId": "f", "payload": {"x": 1.5}}')
    built = RequestEvent(name="a:b", version=1, id="i", flow_id="f", payload={"x": 1.5})
    assert received == built and built == received
    assert received.payload == {"x": 1.5}
    assert received == built  # reading a slot changes nothing
    assert received != ResponseEvent(name="a:b", version=1, id="i", flow_id="f", payload={"x": 1.5})
    assert received != RequestEvent(name="a:b", version=2, id="i", flow_id="f", payload={"x": 1.5})
    copy = pickle.loads(pickle.dumps(received))
    assert isinstance(copy, RequestEvent) and copy == received
    assert pickle.loads(pickle.dumps(built)) == built
    assert received.to_dict() == {
        "name": "a:b",
        "version": 1,
        "id": "i",
        "flowId": "f",
        "payload": {"x": 1.5},
        "identity": {},
        "auth": {},
        "metadata": {},
    }


HOSTILE_USER_IDS = {
    "1e1000000": (b"1e1000000", None),
    "-1e999999": (b"-1e999999", None),
    "1.5e300000": (b"1.5e300000", None),
    "1e-999999": (b"1e-999999", None),
    "5000-digit number": (b"7" * 5000, None),
    "5000-digit numeric string": (b'"' + b"7" * 5000 + b'"', "7" * 5000),
}


@pytest.mark.parametrize("where", ["userId", "user.id"])
@pytest.mark.parametrize("name", sorted(HOSTILE_USER_IDS))
def test_hostile_identity_numbers_answer_at_once_and_never_raise(name: str, where: str) -> None:
    raw, expected = HOSTILE_USER_IDS[name]
    identity = b'{"userId":%s}' % raw if where == "userId" else b'{"user":{"id":%s}}' % raw
    event = Event.from_json(b'{"name":"a:b","version":1,"identity":%s}' % identity)
    # Building the integer of 1e1000000 took 33 s; every read here is bounded before any
    # conversion. The generous limit only tells a hang from an answer.
    started = time.perf_counter()
    assert event.user_id == expected
    assert event.user_id_as_str == (None if expected is None else str(expected))
    with EventContextHolder.with_context(event):
        assert EventContextHolder.get().user_id == expected
    assert time.perf_counter() - started < 1.0


def test_integers_too_long_for_int_are_kept_exact() -> None:
    big = b"7" * 5000
    event = Event.from_json(b'{"name":"a:b","version":1,"payload":{"n":%s},"identity":{"n":%s}}' % (big, big))
    assert event.identity["n"] == Decimal(big.decode())
    assert event.to_json().count(big) == 2
