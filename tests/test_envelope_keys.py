"""One envelope key order: every rendering in the package reads ``fastevents._wire.ENVELOPE_KEYS``."""

from __future__ import annotations

import json

from fastevents import EventRouter
from fastevents._answers import answer
from fastevents._conformance import ENVELOPE_KEYS as CONFORMANCE_KEYS
from fastevents._wire import ENVELOPE_KEYS, encode

from .conftest import ENVELOPE_KEYS as PROTOCOL_ORDER


def test_the_envelope_key_order_is_the_protocols() -> None:
    assert list(ENVELOPE_KEYS) == PROTOCOL_ORDER
    assert CONFORMANCE_KEYS == PROTOCOL_ORDER


def test_answers_built_off_the_hot_path_follow_it() -> None:
    body = answer("get:thing:error", 3, encode("i"), encode("f"), b"{}")
    assert list(json.loads(body)) == PROTOCOL_ORDER


def test_the_openapi_envelopes_follow_it() -> None:
    router = EventRouter()
    router.add("get:thing", 1, lambda event: None)
    schemas = router.openapi()["components"]["schemas"]
    envelopes = [s for s in schemas.values() if isinstance(s.get("properties"), dict) and "flowId" in s["properties"]]
    assert envelopes
    for schema in envelopes:
        assert list(schema["properties"]) == PROTOCOL_ORDER
