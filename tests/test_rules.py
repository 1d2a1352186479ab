"""The envelope rules are one table (``_wire.RULES``): a broken rule answers the same
``(propertyName, message)`` on every path -- either core's fast path (the typed decode
passed, a raw check failed), the slow path (the typed decode failed and the body is
diagnosed), and ``Event.from_json``."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from fastevents import EventProcessor, EventRouter, InvalidEnvelopeError, RequestEvent
from fastevents._wire import RULES, Rule

# For each rule, bodies that break it and no rule before it: through the fast path, and
# through the slow path where one exists (only name and version can fail the typed decode).
BROKEN: list[tuple[Rule, str, bytes]] = [
    (Rule.NAME, "slow", b'{"name": "", "version": 1}'),
    (Rule.NAME, "slow", b'{"name": 5, "version": 1}'),
    (Rule.NAME, "slow", b'{"version": 1}'),
    (Rule.VERSION, "fast", b'{"name": "a:b", "version": "x"}'),
    (Rule.VERSION, "fast", b'{"name": "a:b", "version": "1234567890123456789"}'),
    (Rule.VERSION, "slow", b'{"name": "a:b", "version": 1.5}'),
    (Rule.VERSION, "slow", b'{"name": "a:b", "version": -1}'),
    (Rule.VERSION, "slow", b'{"name": "a:b", "version": true}'),
    (Rule.VERSION, "slow", b'{"name": "a:b"}'),
    (Rule.ID, "fast", b'{"name": "a:b", "version": 1, "id": 5}'),
    (Rule.FLOW_ID, "fast", b'{"name": "a:b", "version": 1, "flowId": {}}'),
    (Rule.IDENTITY, "fast", b'{"name": "a:b", "version": 1, "identity": []}'),
    (Rule.AUTH, "fast", b'{"name": "a:b", "version": 1, "auth": "token"}'),
    (Rule.METADATA, "fast", b'{"name": "a:b", "version": 1, "metadata": 1}'),
]


@pytest.mark.parametrize(("rule", "path", "body"), BROKEN, ids=lambda v: v if isinstance(v, str) else None)
def test_a_broken_rule_answers_the_same_on_every_path(core: ModuleType, rule: Rule, path: str, body: bytes) -> None:
    property_name, message = RULES[rule]
    answer = json.loads(EventProcessor(EventRouter(), core=core).process_event(body))
    assert answer["name"] == "badProtocol"
    assert answer["payload"]["parameters"] == {"propertyName": property_name, "message": message}
    with pytest.raises(InvalidEnvelopeError) as info:
        RequestEvent.from_json(body)
    assert (info.value.property_name, info.value.message) == (property_name, message)


def test_every_rule_is_exercised() -> None:
    assert {rule for rule, _, _ in BROKEN} == set(Rule)
