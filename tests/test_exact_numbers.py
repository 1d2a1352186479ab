"""Plain payloads keep every number's exact text at a bounded cost: msgspec's own decode when
no number needs more (checked in one pass, ``scan_numbers``), else at most
``MAX_EXACT_NUMBERS`` numbers decoded exactly (``badRequest`` past that)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastevents import EventProcessor, EventRouter, _core_py
from fastevents._wire import MAX_EXACT_NUMBERS, JsonNumber, decode_plain_slow, encode, exact_number

from .conftest import CORES

# Number texts of every kind the scan tells apart: short and long fractions, trailing zeros,
# exponents, tiny and huge values, integers past what int() takes.
number_texts = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(
        lambda sign, whole, fraction: f"{sign}{whole}.{fraction}",
        st.sampled_from(["", "-"]),
        st.one_of(st.just("0"), st.integers(1, 10**17).map(str)),
        st.text("0123456789", min_size=1, max_size=20),
    ),
    st.builds(
        lambda mantissa, e, exponent: f"{mantissa}{e}{exponent}",
        st.sampled_from(["1", "2.5", "-7.25", "0.1"]),
        st.sampled_from(["e", "E"]),
        st.sampled_from(["5", "+5", "-5", "400", "-400"]),
    ),
    st.just("9" * 4301),
)


def document(texts: list[str], keys: list[str]) -> bytes:
    """A JSON document holding the number texts as they are, and strings that look like them."""
    members = [f'"{key}":{text}' for key, text in zip(keys, texts, strict=False)]
    return ("[" + ",".join([*texts, '"2.50 \\" 1E5"', "{" + ",".join(members) + "}"]) + "]").encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(number_texts, max_size=12), st.lists(st.sampled_from(["a", "1.50", 'q"', "e5"]), max_size=12))
def test_both_cores_scan_alike_and_decode_as_the_exact_decoder(texts: list[str], keys: list[str]) -> None:
    keys = [json.dumps(k)[1:-1] for k in keys]
    body = document(texts, keys)
    expected = decode_plain_slow(body)
    for core in CORES.values():
        assert core.scan_numbers(body) == _core_py.scan_numbers(body)
        numbers, _ = core.scan_numbers(body)
        assert numbers == len(texts) + min(len(texts), len(keys))
        decoded = core.decode_plain_payload(msgspec.Raw(body))
        assert encode(decoded) == encode(expected)  # every number written back as the exact decoder would
        assert _kinds(decoded) == _kinds(expected)  # and of the same kind: float, int or JsonNumber


def _kinds(value: Any) -> Any:
    if isinstance(value, list):
        return [_kinds(v) for v in value]
    if isinstance(value, dict):
        return {k: _kinds(v) for k, v in value.items()}
    return type(value).__name__


@settings(max_examples=2000, deadline=None)
@given(number_texts)
def test_a_number_the_scan_passes_is_one_a_float_writes_back_as_sent(text: str) -> None:
    numbers, exact = _core_py.scan_numbers(text.encode())
    assert numbers == 1
    if not exact and ("." in text):
        assert type(exact_number(text)) is float, text


def processor_with_plain_payload(core: ModuleType) -> EventProcessor:
    router = EventRouter()
    router.add("echo", 1, lambda event, payload: payload)
    return EventProcessor(router, core=core)


def call(processor: EventProcessor, payload: bytes) -> dict[str, Any]:
    answer = processor.process_event(b'{"name":"echo","version":1,"payload":%s}' % payload)
    return json.loads(answer)  # type: ignore[no-any-return]


@pytest.mark.parametrize("needs_exact", ["2.50", "1E5", "0.12345678901234567", "9" * 4301])
def test_a_payload_with_too_many_numbers_to_decode_exactly_is_a_bad_request(core: ModuleType, needs_exact: str) -> None:
    processor = processor_with_plain_payload(core)
    within = "[" + ",".join(["1.5"] * (MAX_EXACT_NUMBERS - 1) + [needs_exact]) + "]"
    answer = processor.process_event(b'{"name":"echo","version":1,"payload":%s}' % within.encode())
    assert b'"echo:response"' in answer and needs_exact.encode() in answer  # written back as sent
    over = "[" + ",".join(["1.5"] * MAX_EXACT_NUMBERS + [needs_exact]) + "]"
    refused = call(processor, over.encode())
    assert refused["name"] == "echo:badRequest", refused
    assert str(MAX_EXACT_NUMBERS) in json.dumps(refused)


def test_any_number_of_numbers_a_float_writes_back_pass(core: ModuleType) -> None:
    body = ("[" + ",".join(["1.5", "-0.25", "10.0", "0.0001", "12", "123456.789"] * 100_000) + "]").encode()
    processor = processor_with_plain_payload(core)
    answer = processor.process_event(b'{"name":"echo","version":1,"payload":%s}' % body)
    assert answer.endswith(b',"payload":' + body + b',"identity":{},"auth":{},"metadata":{}}')


def test_exact_numbers_stay_exact_objects(core: ModuleType) -> None:
    value = core.decode_plain_payload(msgspec.Raw(b'{"price": 2.50, "rate": 0.5, "big": 1E400}'))
    assert type(value["price"]) is JsonNumber and value["price"].text == "2.50"
    assert type(value["rate"]) is float
    assert encode(value) == b'{"price":2.50,"rate":0.5,"big":1E400}'


@pytest.mark.parametrize("text", ["1e-05", "1e+16", "1.5e+300", "-2.5E-07", "1e16", "0.00001", "1e400"])
def test_numbers_in_repr_s_exponent_form_are_written_back_as_sent(core: ModuleType, text: str) -> None:
    # repr() writes 1e-05 and 1e+16, the encoder 0.00001 and 1e16: exactness is the encoder's.
    answer = processor_with_plain_payload(core).process_event(
        b'{"name":"echo","version":1,"payload":[%s]}' % text.encode()
    )
    assert b'"payload":[%s]' % text.encode() in answer, answer
