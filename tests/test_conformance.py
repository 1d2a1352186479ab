"""Every case of the shared conformance suite, through both processor entry points."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fastevents import EventProcessor
from fastevents._conformance import matches

from .conftest import ENVELOPE_KEYS, load_cases

CASES = load_cases()


def _body(case: dict[str, Any]) -> bytes:
    return case["request"].encode(case.get("encoding", "utf-8"))


def _check(case: dict[str, Any], answer: bytes) -> None:
    value = json.loads(answer)
    assert list(value) == ENVELOPE_KEYS, case["case"]
    assert matches(value, case["expect"]) == [], case["case"]


@pytest.mark.parametrize("case", [c for c in CASES if c["mode"] == "any"], ids=lambda c: c["case"])
def test_conformance_sync(processor: EventProcessor, case: dict[str, Any]) -> None:
    _check(case, processor.process_event(_body(case)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["case"])
def test_conformance_async(processor: EventProcessor, case: dict[str, Any]) -> None:
    _check(case, asyncio.run(processor.process_event_async(_body(case))))


def test_matcher_rejects_a_wrong_answer() -> None:
    # The matcher itself must be able to fail, or the cases above prove nothing.
    case = CASES[0]
    wrong = json.loads(case["request"])
    assert matches(wrong, case["expect"]) != []
    assert matches("not-a-uuid", "$uuid") != []
    assert matches([], "$nonempty") != []
    assert matches({"a": 1}, {"$has": {"b": 1}}) != []
