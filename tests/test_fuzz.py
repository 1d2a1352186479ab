"""Mutated and random bodies: the processor never raises and always answers an envelope."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastevents import EventProcessor

from .conftest import CORES, assert_envelope, build_fixture_router, load_cases

SEEDS = [case["request"].encode() for case in load_cases()]
PROCESSORS = [EventProcessor(build_fixture_router(), core=core) for core in CORES.values()]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if action == "flip":
            body[at] = draw(st.integers(0, 255))
        elif action == "delete":
            del body[at]
        elif action == "insert":
            body[at:at] = draw(st.sampled_from([b"{", b"}", b"[", b'"', b"\\", b",", b":", b"null", b"\xff", b"\xc3"]))
        elif action == "truncate":
            del body[at:]
        else:
            body[at:at] = body[at : at + draw(st.integers(1, 20))]
    return bytes(body)


def check_all(body: bytes) -> None:
    for processor in PROCESSORS:
        assert_envelope(processor.process_event(body))
        assert_envelope(asyncio.run(processor.process_event_async(body)))


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(body=mutated())
def test_mutated_bodies_always_answer_an_envelope(body: bytes) -> None:
    check_all(body)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300))
def test_random_bytes_always_answer_an_envelope(body: bytes) -> None:
    check_all(body)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    )
)
def test_any_json_document_answers_an_envelope(value: object) -> None:
    check_all(json.dumps(value).encode())
