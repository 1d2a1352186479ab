"""The event catalogue: ``router.catalogue()`` and ``fastevents catalogue MODULE:ROUTER``."""

from __future__ import annotations

import enum
import json
from typing import Any

import msgspec
import pytest

from fastevents import CamelStruct, Event, EventBuilder, EventHandler, EventRouter, ResponseEvent
from fastevents._catalogue import example_value

from .conftest import ExampleSchema
from .helpers_http import router as served_router


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Person(CamelStruct):
    """Someone to greet."""

    first_name: str
    age: int
    colour: Colour = Colour.BLUE
    tags: list[str] = []  # noqa: RUF012 - msgspec copies mutable defaults


class Greeting(CamelStruct):
    text: str
    person: Person


class Tree(msgspec.Struct):
    label: str
    children: list[Tree] = []


class Opaque:
    """Not a type msgspec can describe."""


class Documented(EventHandler):
    """Class-style handler: summary line.

    Longer text about it.
    """

    schema = Person

    def handle(self, event: Event, payload: Person) -> Greeting:
        return Greeting(text="hi", person=payload)


def build_router() -> EventRouter:
    router = EventRouter()

    @router.event("greet:person", 1)
    def greet(event: Event, payload: Person) -> Greeting:
        """Greet a person.

        Says hello to ``first_name``.
        Two lines of description.
        """
        return Greeting(text="hi", person=payload)

    @router.event("greet:person", 2)
    async def greet_v2(event: Event, payload: Person) -> list[Person]:
        """Greet, the async way."""
        return [payload]

    @router.event("echo:payload", 1)
    def echo(event: Event, payload: Any) -> Any:
        return payload

    @router.event("ping:now", 1)
    def ping(event: Event) -> dict[str, int]:
        """No payload at all."""
        return {"pong": 1}

    @router.event("raw:bytes", 1)
    def raw(event: Event, payload: msgspec.Raw) -> msgspec.Raw:
        return payload

    @router.event("built:answer", 1)
    def built(event: Event) -> ResponseEvent:
        return EventBuilder.response_for(event, {})

    @router.event("opaque:answer", 1)
    def opaque(event: Event, payload: Tree) -> Opaque:
        return Opaque()

    router.add_handler("class:style", 1, Documented())
    return router


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Any]:
    return build_router().catalogue()


def event(catalogue: dict[str, Any], name: str, version: int = 1) -> dict[str, Any]:
    return next(e for e in catalogue["events"] if (e["name"], e["version"]) == (name, version))


def resolve(catalogue: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    prefix = "#/components/schemas/"
    assert schema["$ref"].startswith(prefix)
    return catalogue["components"]["schemas"][schema["$ref"][len(prefix) :]]  # type: ignore[no-any-return]


def test_catalogue_is_json_ready_and_lists_every_route_in_order(catalogue: dict[str, Any]) -> None:
    assert json.loads(json.dumps(catalogue)) == catalogue
    assert [(e["name"], e["version"]) for e in catalogue["events"]] == build_router().routes


def test_summary_and_description_come_from_the_docstring(catalogue: dict[str, Any]) -> None:
    greet = event(catalogue, "greet:person")
    assert greet["summary"] == "Greet a person."
    assert greet["description"] == "Says hello to ``first_name``.\nTwo lines of description."
    assert event(catalogue, "greet:person", 2)["description"] == ""
    undocumented = event(catalogue, "echo:payload")
    assert (undocumented["summary"], undocumented["description"]) == ("", "")


def test_class_style_handler_is_described_by_its_class_docstring(catalogue: dict[str, Any]) -> None:
    entry = event(catalogue, "class:style")
    assert entry["summary"] == "Class-style handler: summary line."
    assert entry["description"] == "Longer text about it."
    assert resolve(catalogue, entry["payload"])["title"] == "Person"
    assert resolve(catalogue, entry["response"])["title"] == "Greeting"


def test_payload_and_response_schemas_come_from_the_types(catalogue: dict[str, Any]) -> None:
    greet = event(catalogue, "greet:person")
    person = resolve(catalogue, greet["payload"])
    assert person["properties"]["firstName"] == {"type": "string"}  # camelCase, as on the wire
    assert person["required"] == ["firstName", "age"]
    assert person["description"] == "Someone to greet."
    assert resolve(catalogue, greet["response"])["properties"]["person"] == {"$ref": "#/components/schemas/Person"}
    assert event(catalogue, "greet:person", 2)["response"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Person"},
    }
    assert event(catalogue, "ping:now")["response"] == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_named_schemas_are_shared_through_components(catalogue: dict[str, Any]) -> None:
    assert sorted(catalogue["components"]["schemas"]) == ["Colour", "Greeting", "Person", "Tree"]
    refs = [
        e["payload"] for e in catalogue["events"] if e["payload"] and e["payload"].get("$ref", "").endswith("/Person")
    ]
    assert len(refs) == 3  # greet v1, v2 and the class-style handler all point at one Person


@pytest.mark.parametrize(
    ("name", "payload_kind", "response_kind"),
    [
        ("echo:payload", "any", "unknown"),  # annotated Any both ways
        ("ping:now", "ignored", "schema"),  # handler(event): the payload is not read
        ("raw:bytes", "raw", "unknown"),  # msgspec.Raw in and out
        ("built:answer", "ignored", "unknown"),  # builds its own ResponseEvent
        ("opaque:answer", "schema", "unknown"),  # a return type msgspec cannot describe
    ],
)
def test_events_without_a_schema_say_so(
    catalogue: dict[str, Any], name: str, payload_kind: str, response_kind: str
) -> None:
    entry = event(catalogue, name)
    assert entry["payloadKind"] == payload_kind
    assert entry["responseKind"] == response_kind
    assert (entry["payload"] is None) == (payload_kind != "schema")
    assert (entry["response"] is None) == (response_kind != "schema")


def test_examples_decode_into_the_payload_type(catalogue: dict[str, Any]) -> None:
    for name, version, schema in [
        ("greet:person", 1, Person),
        ("greet:person", 2, Person),
        ("class:style", 1, Person),
        ("opaque:answer", 1, Tree),
    ]:
        example = event(catalogue, name, version)["example"]
        assert (example["name"], example["version"]) == (name, version)
        msgspec.json.decode(msgspec.json.encode(example["payload"]), type=schema)  # raises if not
    assert event(catalogue, "greet:person")["example"]["payload"] == {
        "firstName": "string",
        "age": 0,
        "colour": "blue",
        "tags": [],
    }
    assert event(catalogue, "echo:payload")["example"]["payload"] == {}


def test_example_of_a_recursive_schema_terminates() -> None:
    (schema,), components = msgspec.json.schema_components([Tree], ref_template="#/components/schemas/{name}")
    components["Tree"]["properties"]["children"].pop("default")  # force the recursion
    value = example_value(schema, components)
    depth = 0
    while value is not None:
        value = value["children"][0]
        depth += 1
    assert 1 < depth < 20


def test_empty_router_has_an_empty_catalogue() -> None:
    assert EventRouter().catalogue() == {"events": [], "components": {"schemas": {}}}


def test_served_fixture_router_catalogue() -> None:
    entry = next(e for e in served_router.catalogue()["events"] if e["name"] == "get:event:example")
    assert entry["payloadKind"] == "schema"
    assert entry["example"]["payload"] == {"example": "string"}
    msgspec.json.decode(msgspec.json.encode(entry["example"]["payload"]), type=ExampleSchema)
