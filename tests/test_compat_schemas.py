"""pydantic-v1-style schemas written for ``events-protocol`` 0.2.4, under ``fastevents.compat``.

What 0.2.4's schemas took from pydantic v1 (``Field`` defaults, aliases and checks,
``@validator``, ``.dict()``, ``.json()``, ``.parse_obj()``, ``.copy()``, ``.schema()``) either
behaves as it did, or fails when the class is defined with a message naming the feature and
the msgspec way to write it (README, "Migrating from events-protocol 0.2.4").

Each ``SAME`` case runs in the real 0.2.4 (its venv, tools/seedenv.py, with pydantic 1
and the old imports) and here (imports pointed at ``fastevents.compat``), and the results
must be equal; each ``DIFFERENCES`` case pins what both sides do. The other tests need no
old package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fastevents import Event, EventProcessor, EventRouter, PayloadValidationError, compat
from fastevents.compat import CamelPydanticMixin, Field, ValidationError, validator

from .test_compat_seed import RUNNER
from .test_interop_seed import _seed_python

SEED_IMPORTS = """
__name__ = "snippets"  # pydantic v1 names validators after their module
from pydantic import Field, validator
from events_protocol.core.model.base import CamelPydanticMixin, ValidationError
from events_protocol.core.model.event import RequestEvent
from events_protocol.core.builder import EventBuilder
from events_protocol.server.handler.event_handler import EventHandler
from events_protocol.server.handler.event_handler_registry import EventRegister
from events_protocol.server.parser.event_processor import EventProcessor
from events_protocol.core.exception import MissingEventInformationException

def error_fields(exc):
    return [field["name"] for field in exc.to_dict()["fields"]]
"""

COMPAT_IMPORTS = """
__name__ = "snippets"
from fastevents.compat import (
    CamelPydanticMixin, EventBuilder, EventHandler, EventProcessor, EventRegister, Field,
    MissingEventInformationException, RequestEvent, ValidationError, validator,
)

def error_fields(exc):
    return [field["name"] for field in exc.to_dict()["fields"]]
"""

COMMON = """
import json, logging, typing
logging.disable(logging.CRITICAL)
calls = []

def outcome(build):
    try:
        return ["built", build().to_dict()]
    except ValidationError as exc:
        return ["ValidationError", error_fields(exc)]

class Inner(CamelPydanticMixin):
    inner_id: int
    labels: typing.List[str] = Field(default_factory=list)

class Person(CamelPydanticMixin):
    first_name: str = Field(..., min_length=2, max_length=8, regex="[A-Za-z]")
    age: int = Field(30, ge=0, le=150)
    ratio: float = Field(0.5, gt=0, lt=1)
    nick: typing.Optional[str] = None
    tags: typing.List[str] = Field(default_factory=list)
    odd: int = Field(3, alias="oddOne")
    inner: typing.Optional[Inner] = None

    @validator("first_name")
    def capitalised(cls, value):
        calls.append(["first_name", value])
        return value.capitalize()

    @validator("nick")
    def stripped(cls, value, values):
        calls.append(["nick", value, sorted(values)])
        return value.strip()

class Order(CamelPydanticMixin):
    low: int
    high: int
    note: str = "none"

    @validator("high")
    def above_low(cls, value, values):
        if "low" in values and value < values["low"]:
            raise ValueError("high must not be below low")
        return value

    @validator("note", always=True)
    def upper(cls, value):
        return value.upper()

    @validator("*")
    def no_negatives(cls, value):
        assert not isinstance(value, int) or value >= 0, "negative"
        return value

class Validated(EventHandler):
    _SCHEMA = Person
    @classmethod
    def handle(cls, event):
        payload = cls.parse_event(event)
        return EventBuilder.response_for(event, payload.to_dict())

type("Register", (EventRegister,), {"event_name": "compat:validated", "event_version": 1,
                                    "event_handler": Validated}).register_event()

def process(payload):
    answer = json.loads(EventProcessor.process_event(json.dumps(
        {"name": "compat:validated", "version": 1, "id": "i", "flowId": "f", "payload": payload})))
    return [answer["name"], answer["payload"] if answer["name"].endswith(":response")
            else sorted(f["name"] for f in answer["payload"]["parameters"]["fields"])]
"""

# name -> snippet that sets ``result``; equal on both sides.
SAME: dict[str, str] = {
    # Field: defaults, default_factory, ... (required), aliases
    "field_defaults": "result = Person(firstName='ada').dict()",
    "field_default_factory_is_fresh": (
        "a, b = Person(firstName='ada'), Person(firstName='bob')\na.tags.append('x')\nresult = [a.tags, b.tags]"
    ),
    "field_required": "result = outcome(lambda: Person(age=3))",
    "field_alias_is_the_wire_key": (
        "p = Person(firstName='ada', oddOne=5)\n"
        "result = [p.odd, p.to_dict()['oddOne'], p.dict(by_alias=True)['oddOne'], Person.parse_obj("
        "{'firstName': 'ada', 'oddOne': 7}).odd, json.loads(p.to_json())['oddOne']]"
    ),
    # Field checks: at the bounds, and one step past them
    "field_ge_le": "result = [outcome(lambda: Person(firstName='ada', age=a)) for a in (0, 150, -1, 151)]",
    "field_gt_lt": "result = [outcome(lambda: Person(firstName='ada', ratio=r)) for r in (0.01, 0.99, 0, 1)]",
    "field_min_max_length": (
        "result = [outcome(lambda: Person(firstName=n)) for n in ('ab', 'abcdefgh', 'a', 'abcdefghi')]"
    ),
    "field_regex_matches_at_the_start": (
        "result = [outcome(lambda: Person(firstName=n)) for n in ('ada', 'a1', '1a', '12')]"
    ),
    # @validator
    "validator_changes_the_value": "calls.clear()\np = Person(firstName='ada')\nresult = [p.first_name, calls]",
    "validator_skips_a_default_and_sees_values": (
        "calls.clear()\nPerson(firstName='ada')\nPerson(firstName='bob', nick=' Bo ')\nresult = calls"
    ),
    "validator_refuses_with_value_error": (
        "result = [outcome(lambda: Order(low=1, high=2)), outcome(lambda: Order(low=3, high=2))]"
    ),
    "validator_always_runs_on_the_default": "result = [Order(low=1, high=2).note, Order(low=1, high=2, note='x').note]",
    "validator_star_and_assertion": "result = outcome(lambda: Order(low=-1, high=2))",
    "validator_runs_on_a_handlers_payload": (
        "result = [process({'firstName': 'ada', 'nick': ' A '}), process({'firstName': 'a'}), process({'age': 3})]"
    ),
    "validator_is_still_a_classmethod": "result = Person.capitalised('eve')",
    "parse_event_raises_missing_event_information": (
        "try:\n"
        '    Validated.parse_event(RequestEvent.from_json(\'{"name": "a:b", "version": 1, "payload": {"age": 3}}\'))\n'
        "    result = 'accepted'\n"
        "except MissingEventInformationException as exc:\n"
        "    result = [exc.code, str(exc.event_error_type), [f['name'] for f in exc.parameters['fields']]]"
    ),
    # .dict() / .json()
    "dict_by_attribute_name_and_by_alias": (
        "p = Person(firstName='ada', inner={'innerId': 1})\nresult = [p.dict(), p.dict(by_alias=True)]"
    ),
    "dict_include_exclude_none_defaults": (
        "p = Person(firstName='ada', age=31)\n"
        "result = [p.dict(include={'first_name', 'age'}), p.dict(exclude={'tags', 'inner', 'nick'}),"
        " p.dict(exclude_none=True), p.dict(exclude_defaults=True), p.dict(by_alias=True, exclude_defaults=True)]"
    ),
    "json_text_as_pydantic_writes_it": (
        "p = Person(firstName='ada', inner={'innerId': 1, 'labels': ['a']})\n"
        "result = [p.json(), p.json(by_alias=True), p.json(exclude_none=True), p.json(indent=2),"
        " p.json(include={'age'}, sort_keys=True)]"
    ),
    # .parse_obj()
    "parse_obj_by_wire_key_and_by_attribute_name": (
        "result = [Person.parse_obj({'firstName': 'ada', 'inner': {'innerId': 2}}).dict(),"
        " Person.parse_obj({'first_name': 'bob'}).dict()]"
    ),
    "parse_obj_refuses": (
        "def refused(value):\n"
        "    try:\n"
        "        Person.parse_obj(value)\n"
        "        return 'accepted'\n"
        "    except Exception as exc:\n"
        "        return type(exc).__name__\n"
        "result = [refused([1]), refused('text'), refused({'age': 3}), refused({'firstName': 'ada', 'age': -1})]"
    ),
    # .copy()
    "copy_update_is_not_validated": (
        "calls.clear()\np = Person(firstName='ada')\n"
        "c = p.copy(update={'first_name': 'zed', 'age': -5})\n"
        "result = [c.dict(), p.dict(), type(c).__name__, calls]"
    ),
    "copy_shallow_and_deep": (
        "calls.clear()\np = Person(firstName='ada', tags=['a'], inner={'innerId': 1})\n"
        "shallow, deep = p.copy(), p.copy(deep=True)\n"
        "p.tags.append('b')\n"
        "p.inner.labels.append('l')\n"
        "result = [shallow.tags, deep.tags, shallow.inner.labels, deep.inner.labels, calls]"
    ),
    # .schema()
    "schema_by_alias": "result = Person.schema()",
    "schema_by_attribute_name": "result = Person.schema(by_alias=False)",
    "schema_with_title_and_description": (
        "class Described(CamelPydanticMixin):\n"
        "    size: int = Field(1, title='Size in cm', description='how big', ge=1)\n"
        "    names: typing.List[str] = Field(..., min_items=1, max_items=3)\n"
        "    extra: typing.Dict[str, typing.Any] = Field(default_factory=dict)\n"
        "result = [Described.schema(), outcome(lambda: Described(names=[])),"
        " outcome(lambda: Described(names=['a', 'b', 'c', 'd']))]"
    ),
}

# name -> (snippet, what 0.2.4 gives, what fastevents.compat gives): the README's list.
REFUSED = ["TypeError", True, True]  # the message names the feature and the msgspec way
DIFFERENCES: dict[str, tuple[str, Any, Any]] = {
    "an_aliased_field_also_takes_its_attribute_name": (
        "result = Person(firstName='ada', odd=5).odd",
        3,  # pydantic v1 ignored the unknown key
        5,
    ),
    "validator_pre_is_refused_at_definition": (
        "try:\n"
        "    class Pre(CamelPydanticMixin):\n"
        "        n: int\n"
        "        @validator('n', pre=True)\n"
        "        def digits(cls, value):\n"
        "            return int(str(value).strip())\n"
        "    result = Pre(n=' 4 ').n\n"
        "except Exception as exc:\n"
        "    result = [type(exc).__name__, 'not supported by fastevents.compat' in str(exc),"
        " 'the msgspec way' in str(exc)]",
        4,
        REFUSED,
    ),
    "validator_each_item_is_refused_at_definition": (
        "try:\n"
        "    class Each(CamelPydanticMixin):\n"
        "        names: typing.List[str]\n"
        "        @validator('names', each_item=True)\n"
        "        def lower(cls, value):\n"
        "            return value.lower()\n"
        "    result = Each(names=['A']).names\n"
        "except Exception as exc:\n"
        "    result = [type(exc).__name__, 'not supported by fastevents.compat' in str(exc),"
        " 'the msgspec way' in str(exc)]",
        ["a"],
        REFUSED,
    ),
    "validator_field_parameter_is_refused_at_definition": (
        "try:\n"
        "    class WithField(CamelPydanticMixin):\n"
        "        n: int\n"
        "        @validator('n')\n"
        "        def named(cls, value, values, field):\n"
        "            return value\n"
        "    result = WithField(n=1).n\n"
        "except Exception as exc:\n"
        "    result = [type(exc).__name__, 'not supported by fastevents.compat' in str(exc),"
        " 'the msgspec way' in str(exc)]",
        1,
        REFUSED,
    ),
    "config_class_is_refused_at_definition": (
        "try:\n"
        "    class Configured(CamelPydanticMixin):\n"
        "        name: str\n"
        "        class Config:\n"
        "            anystr_strip_whitespace = True\n"
        "    result = Configured(name=' a ').name\n"
        "except Exception as exc:\n"
        "    result = [type(exc).__name__, 'not supported by fastevents.compat' in str(exc),"
        " 'the msgspec way' in str(exc)]",
        ["AttributeError", False, False],  # 0.2.4's CamelPydanticMixin broke with any Config
        REFUSED,
    ),
    "field_options_without_a_check_are_refused_at_definition": (
        "try:\n"
        "    class Constant(CamelPydanticMixin):\n"
        "        kind: str = Field('a', const=True)\n"
        "    result = Constant().kind\n"
        "except Exception as exc:\n"
        "    result = [type(exc).__name__, 'not supported by fastevents.compat' in str(exc),"
        " 'the msgspec way' in str(exc)]",
        "a",
        REFUSED,
    ),
    "dict_exclude_unset_is_refused": (
        "try:\n"
        "    result = Person(firstName='ada', age=31).dict(exclude_unset=True)\n"
        "except Exception as exc:\n"
        "    result = [type(exc).__name__, 'not supported by fastevents.compat' in str(exc),"
        " 'the msgspec way' in str(exc)]",
        {"first_name": "Ada", "age": 31},
        REFUSED,
    ),
    "a_nested_error_names_the_path": (
        "class Box(CamelPydanticMixin):\n"
        "    size: int = Field(..., gt=0)\n"
        "class Crate(CamelPydanticMixin):\n"
        "    boxes: typing.List[Box]\n"
        "result = [outcome(lambda: Crate(boxes=[{'size': 1}])), outcome(lambda: Crate(boxes=[{'size': 0}]))]",
        [["built", {"boxes": [{"size": 1}]}], ["ValidationError", ["size"]]],
        [["built", {"boxes": [{"size": 1}]}], ["ValidationError", ["boxes[0].size"]]],
    ),
    "check_errors_are_msgspecs": (
        "try:\n"
        "    Person(firstName='ada', age=-1)\n"
        "except ValidationError as exc:\n"
        "    result = [(f['name'], f['errorType']) for f in exc.to_dict()['fields']]",
        [("age", "value_error.number.not_ge")],
        [("age", "constraint")],
    ),
}


def _run(python: str, imports: str, out: Path) -> dict[str, Any]:
    cases = {name: textwrap.dedent(code) for name, code in SAME.items()}
    cases.update({name: textwrap.dedent(case[0]) for name, case in DIFFERENCES.items()})
    result = subprocess.run(
        [python, "-c", RUNNER, imports, COMMON, json.dumps(cases), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case's result: ``{"seed": {...}, "compat": {...}}``, one subprocess per side."""
    tmp = tmp_path_factory.mktemp("compat_schemas")
    return {
        "seed": _run(_seed_python(), SEED_IMPORTS, tmp / "seed.json"),
        "compat": _run(sys.executable, COMPAT_IMPORTS, tmp / "compat.json"),
    }


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples as lists, as the runner writes them


@pytest.mark.slow
@pytest.mark.seed
@pytest.mark.timeout(600)  # provisions the old package's venv on first use
@pytest.mark.parametrize("case", sorted(SAME))
def test_pydantic_v1_schema_features_behave_as_in_0_2_4(results: dict[str, dict[str, Any]], case: str) -> None:
    seed, compat_result = results["seed"][case], results["compat"][case]
    assert not (isinstance(seed, dict) and "unexpected" in seed), seed
    assert compat_result == seed


@pytest.mark.slow
@pytest.mark.seed
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(DIFFERENCES))
def test_pydantic_v1_schema_features_differ_only_where_documented(
    results: dict[str, dict[str, Any]], case: str
) -> None:
    _, seed_expected, compat_expected = DIFFERENCES[case]
    assert results["seed"][case] == _plain(seed_expected)
    assert results["compat"][case] == _plain(compat_expected)


# --- without the old package ----------------------------------------------------------


class Sized(CamelPydanticMixin):
    size: int = Field(1, ge=1)
    name: str = Field("box", regex="b")

    @validator("name")
    def lower(cls, value: str) -> str:
        if value == "bad":
            raise ValueError("not this name")
        return value.lower()


def test_field_default_is_the_value_not_the_field_info() -> None:
    assert Sized().size == 1 and Sized().name == "box"
    assert Sized().to_json() == '{"size":1,"name":"box"}'


def _served(payload: bytes) -> Any:
    """What a handler typed with ``Sized`` answers ``payload`` with: its payload, or the
    names of the fields a ``badRequest`` answer lists."""
    router = EventRouter()

    @router.event("sized:thing", 1)
    def sized(event: Event, body: Sized) -> Any:
        return body.to_dict()

    answer = json.loads(
        EventProcessor(router).process_event(b'{"name": "sized:thing", "version": 1, "payload": %s}' % payload)
    )
    if answer["name"].endswith(":response"):
        return answer["payload"]
    assert answer["name"] == "sized:thing:badRequest", answer
    return [field["name"] for field in answer["payload"]["parameters"]["fields"]]


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        (b'{"size": 2, "name": "bIG"}', {"size": 2, "name": "big"}),
        (b'{"size": 0}', ["size"]),
        (b'{"name": "abc"}', ["name"]),  # the regex matches at the start only, as pydantic v1's
        (b'{"name": "bad"}', ["name"]),  # the validator's ValueError names its field
    ],
)
def test_checks_and_validators_hold_when_a_handler_decodes_the_payload(payload: bytes, answer: Any) -> None:
    assert _served(payload) == answer


def test_a_schema_error_is_the_old_validation_error_and_a_payload_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        Sized(size=0)
    assert isinstance(caught.value, PayloadValidationError)
    assert [(f.name, f.error_type) for f in caught.value.fields] == [("size", "constraint")]
    assert (
        json.loads(caught.value.to_json())
        == caught.value.to_dict()
        == {"fields": [{"name": "size", "errorType": "constraint", "message": "Expected `int` >= 1"}]}
    )


def _v1_marked(attribute: str) -> Any:
    """A pydantic v1 decorator's result: a classmethod carrying pydantic's marker."""
    marked = classmethod(lambda cls, value: value)
    setattr(marked, attribute, ("n", None))
    return marked


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            type("FieldInfo", (), {"__module__": "pydantic.fields"})(),
            ["pydantic's FieldInfo", "import Field from fastevents.compat"],
        ),
        (_v1_marked("__validator_config__"), ["pydantic's @validator", "import validator from fastevents.compat"]),
        (_v1_marked("__root_validator_config__"), ["@root_validator", "__post_init__"]),
    ],
    ids=["Field", "validator", "root_validator"],
)
def test_pydantics_own_field_and_validators_are_refused_at_definition(value: Any, words: list[str]) -> None:
    # Code that kept `from pydantic import Field, validator`: fastevents would not read them.
    with pytest.raises(TypeError) as caught:
        type(CamelPydanticMixin)("Unread", (CamelPydanticMixin,), {"__annotations__": {"n": "int"}, "n": value})
    assert all(word in str(caught.value) for word in words), str(caught.value)


@pytest.mark.parametrize(
    "define",
    [
        lambda: Field(1, unique_items=True),
        lambda: validator("n", pre=True),
        lambda: validator("n", each_item=True),
        lambda: Sized().dict(exclude_unset=True),
        lambda: Sized().dict(include={"size": True}),
        lambda: Sized().copy(include={"size"}),
    ],
    ids=["Field-option", "pre", "each_item", "exclude_unset", "include-mapping", "copy-include"],
)
def test_what_compat_does_not_do_raises_naming_the_feature_and_the_msgspec_way(define: Any) -> None:
    with pytest.raises(TypeError, match=r"is not supported by fastevents\.compat; the msgspec way: "):
        define()


def test_a_validator_naming_an_unknown_field_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match=r"unknown fields \['nope'\]"):

        class Wrong(CamelPydanticMixin):
            n: int

            @validator("nope")
            def check(cls, value: int) -> int:
                return value


def test_a_users_post_init_still_runs_after_the_validators() -> None:
    seen: list[Any] = []

    class Both(CamelPydanticMixin):
        n: int

        @validator("n")
        def double(cls, value: int) -> int:
            return value * 2

        def __post_init__(self) -> None:
            seen.append(self.n)

    class Child(Both):
        m: int = 0

    assert Both(n=2).n == 4 and Child(n=3).n == 6
    assert seen == [4, 6]


def test_compat_names_the_new_features() -> None:
    assert {"Field", "ValidationError", "validator"} <= set(compat.__all__)


def test_the_old_client_exceptions_are_fastevents_client_errors() -> None:
    # `except TimeoutException` written for 0.2.4's client catches what compat.EventClient raises.
    import fastevents

    for name in ("TimeoutException", "FailedDependencyException", "BadProtocolException"):
        assert getattr(compat, name) is getattr(fastevents, name)
        assert issubclass(getattr(compat, name), compat.BaseRequestException)
    assert issubclass(fastevents.EventConnectionError, compat.BaseRequestException)
