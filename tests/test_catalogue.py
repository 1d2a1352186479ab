"""The event catalogue: ``router.catalogue()`` and ``fastevents catalogue MODULE:ROUTER``."""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import re
from typing import Any

import httpx
import msgspec
import pytest

from fastevents import CamelStruct, Event, EventBuilder, EventHandler, EventRouter, ResponseEvent, _cli, asgi_app
from fastevents._catalogue import docs_page, example_value

from .conftest import ExampleSchema
from .helpers_http import router as served_router
from .helpers_http import serve_fastevents
from .test_asgi import Call, post
from .waiting import wait_until


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


# --- served: asgi_app(router, catalogue=True) ---------------------------------------------


def get(app: Any, path: str, method: str = "GET", root_path: str = "") -> Call:
    return Call(app, method=method, path=path, headers=[], root_path=root_path).run()


@pytest.mark.parametrize("events_path", ["/events", "/api/events/", "/"])
def test_catalogue_and_docs_are_served_next_to_the_events_path(events_path: str) -> None:
    router = build_router()
    app = asgi_app(router, path=events_path, catalogue=True)
    base = events_path.rstrip("/")
    answer = get(app, base + "/catalogue")
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == router.catalogue()
    page = get(app, base + "/docs")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.body == docs_page() and b'id="filter"' in page.body
    assert post(app, b'{"name": "ping:now", "version": 1}', path=events_path).status == 200


def test_catalogue_is_off_by_default(router: EventRouter) -> None:
    app = asgi_app(router)
    for path in ("/events/catalogue", "/events/docs"):
        assert get(app, path).status == 404


def test_catalogue_pages_refuse_other_methods_and_paths() -> None:
    app = asgi_app(build_router(), catalogue=True)
    answer = get(app, "/events/docs", method="POST")
    assert answer.status == 405 and answer.headers["allow"] == "GET, HEAD"
    assert get(app, "/events/docs/").status == 404
    assert get(app, "/events/other").status == 404
    head = get(app, "/events/catalogue", method="HEAD")
    assert head.status == 200 and head.body == b"" and int(head.headers["content-length"]) > 0


def test_catalogue_sees_routes_added_after_startup() -> None:
    router = EventRouter()
    app = asgi_app(router, catalogue=True)
    assert json.loads(get(app, "/events/catalogue").body)["events"] == []
    router.add("late:event", 1, lambda event: {})
    assert [e["name"] for e in json.loads(get(app, "/events/catalogue").body)["events"]] == ["late:event"]


def test_catalogue_pages_work_mounted_under_a_root_path() -> None:
    app = asgi_app(build_router(), catalogue=True)
    assert get(app, "/api/events/docs", root_path="/api").status == 200


def test_docs_page_is_self_contained_under_a_strict_csp() -> None:
    page = docs_page()
    assert re.search(rb"""(src|href)=["']?(https?:)?//""", page) is None  # no external assets
    assert b"@import" not in page and b"url(" not in page
    csp = get(asgi_app(build_router(), catalogue=True), "/events/docs").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    script = page.split(b"<script>", 1)[1].split(b"</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp  # the page's own script and nothing else


# --- the command line -----------------------------------------------------------------------


def test_catalogue_command_prints_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["catalogue", "tests.helpers_http:router"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("{\n  ")
    assert json.loads(out) == served_router.catalogue()


def test_catalogue_command_with_a_bad_target_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _cli.main(["catalogue", "tests.helpers_http:nothing"])
    assert exc.value.code == 2
    assert "has no attribute" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_catalogue_flag_turns_the_pages_on() -> None:
    with serve_fastevents("--catalogue") as on, serve_fastevents() as off:
        assert httpx.get(on.url + "/catalogue", timeout=10).json() == served_router.catalogue()
        assert httpx.get(on.url + "/docs", timeout=10).text.startswith("<!doctype html>")
        assert httpx.get(off.url + "/catalogue", timeout=10).status_code == 404
        assert httpx.get(off.url + "/docs", timeout=10).status_code == 404
        wait_until(lambda: f"fastevents: docs page {on.url}/docs\n" in on.stdout_lines, what="the second startup line")
        assert not any("docs page" in line for line in off.stdout_lines)


@pytest.mark.slow
def test_serve_catalogue_flag_works_with_workers() -> None:
    with serve_fastevents("--catalogue", "--workers", "2") as server:
        for _ in range(6):
            assert httpx.get(server.url + "/catalogue", timeout=10).status_code == 200


def _odd(event: Event) -> Any:
    return {}


_odd.__doc__ = "Broken \ud800 summary\n\nPair \ud83d\ude00 kept, lone \udfff replaced."
odd_docs_router = EventRouter()
odd_docs_router.add("odd:doc", 1, _odd)


@pytest.mark.parametrize("way", ["served", "command"])
def test_a_lone_surrogate_in_a_docstring_is_answered_not_a_500(way: str, capsys: pytest.CaptureFixture[str]) -> None:
    if way == "served":
        answer = get(asgi_app(odd_docs_router, catalogue=True), "/events/catalogue")
        assert answer.status == 200, answer.body
        text = answer.body.decode()
    else:
        assert _cli.main(["catalogue", "tests.test_catalogue:odd_docs_router"]) == 0
        text = capsys.readouterr().out
    entry = json.loads(text)["events"][0]
    assert entry["summary"] == "Broken \ufffd summary"
    assert entry["description"] == "Pair \U0001f600 kept, lone \ufffd replaced."


@pytest.mark.parametrize("way", ["served", "command"])
def test_a_lone_surrogate_in_a_docstring_leaves_the_openapi_document_whole(
    way: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if way == "served":
        answer = get(asgi_app(odd_docs_router, catalogue=True), "/events/openapi.json")
        assert answer.status == 200, answer.body
        text = answer.body.decode()
    else:
        assert _cli.main(["openapi", "tests.test_catalogue:odd_docs_router"]) == 0
        text = capsys.readouterr().out
    assert "Broken \ufffd summary" in json.dumps(json.loads(text), ensure_ascii=False)
