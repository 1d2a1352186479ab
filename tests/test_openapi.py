"""The OpenAPI 3.1 document: ``router.openapi()``, ``fastevents openapi`` and ``GET <path>/openapi.json``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from fastevents import Event, EventErrorType, EventException, EventProcessor, EventRouter, _cli, asgi_app
from fastevents._catalogue import docs_page

from . import schema_router
from .test_asgi import Call, post
from .test_catalogue import build_router as build_catalogue_router


def _routers() -> dict[str, EventRouter]:
    return {"schema": schema_router.router, "catalogue": build_catalogue_router(), "empty": EventRouter()}


def operation(document: dict[str, Any], path: str = "/events") -> dict[str, Any]:
    return document["paths"][path]["post"]  # type: ignore[no-any-return]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for one schema of the document, its ``#/components/...`` references resolved."""
    return Draft202012Validator({**schema, "components": document["components"]})


def answers(document: dict[str, Any]) -> Draft202012Validator:
    return validator(document, operation(document)["responses"]["200"]["content"]["application/json"]["schema"])


def requests(document: dict[str, Any]) -> Draft202012Validator:
    return validator(document, operation(document)["requestBody"]["content"]["application/json"]["schema"])


@pytest.mark.parametrize("name", sorted(_routers()))
def test_document_validates_with_openapi_spec_validator(name: str) -> None:
    document = _routers()[name].openapi(title=name, version="2.0.0")
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == name
    assert document["info"]["version"] == "2.0.0"
    assert json.loads(json.dumps(document)) == document


def test_one_post_path_with_one_request_entry_per_event_name_and_version_as_consts() -> None:
    router = build_catalogue_router()
    document = router.openapi()
    assert list(document["paths"]) == ["/events"]
    assert list(document["paths"]["/events"]) == ["post"]
    entries = operation(document)["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    pairs = [(e["properties"]["name"]["const"], e["properties"]["version"]["const"]) for e in entries]
    assert pairs == router.routes
    catalogue = router.catalogue()
    for entry, event in zip(entries, catalogue["events"], strict=True):
        if event["payload"] is not None:
            assert entry["properties"]["payload"] == event["payload"]
            assert "payload" in entry["required"]
    assert set(catalogue["components"]["schemas"]) <= set(document["components"]["schemas"])


def test_summaries_and_descriptions_come_from_the_catalogue() -> None:
    document = build_catalogue_router().openapi()
    entries = operation(document)["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    greet = next(e for e in entries if e["title"] == "greet:person v1")
    assert greet["description"] == "Greet a person.\n\nSays hello to ``first_name``.\nTwo lines of description."
    assert "- `greet:person` v1: Greet a person." in operation(document)["description"]
    success = next(a for a in answers(document).schema["oneOf"] if a.get("title") == "greet:person v1: response")
    assert success["description"] == "Greet a person."


@pytest.mark.parametrize("path", ["/api/events", "api/events/", "/"])
def test_document_describes_the_configured_path(path: str) -> None:
    document = schema_router.router.openapi(path=path)
    expected = "/" + path.strip("/")
    assert list(document["paths"]) == [expected]
    validate(document)


def test_request_examples_are_envelopes_the_request_schema_accepts() -> None:
    document = schema_router.router.openapi()
    media = operation(document)["requestBody"]["content"]["application/json"]
    check = requests(document)
    assert sorted(media["examples"]) == sorted(f"{n} v{v}" for n, v in schema_router.router.routes)
    for example in media["examples"].values():
        check.validate(example["value"])


def test_request_schema_refuses_unknown_events_and_wrong_payloads() -> None:
    check = requests(schema_router.router.openapi())
    assert check.is_valid({"name": "get:user", "version": 1, "payload": {"userId": 3}})
    assert not check.is_valid({"name": "get:user", "version": 2, "payload": {"userId": 3}})
    assert not check.is_valid({"name": "get:user", "version": 1, "payload": {"userId": "x"}})
    assert not check.is_valid({"name": "nobody", "version": 1, "payload": {}})


class Slow(msgspec.Struct):
    seconds: float


def _answer_router() -> EventRouter:
    router = EventRouter()
    router.include(schema_router.router)

    @router.event("custom:type", 1)
    def custom(event: Event) -> dict[str, int]:
        raise EventException("ODD", {"why": 1}, type="somethingElse")

    @router.event("slow:one", 1, timeout=0.01)
    async def slow(event: Event, payload: Slow) -> dict[str, int]:
        await asyncio.sleep(payload.seconds)
        return {}

    return router


# Each body, and the answer it gets (the ``name`` the server sends), described by the document.
ANSWERS = [
    (b'{"name":"get:user","version":1,"payload":{"userId":1}}', "get:user:response"),
    (b'{"name":"get:user","version":"1","payload":{"userId":1}}', "get:user:response"),
    (b'{"name":"get:user","version":1,"payload":{"userId":0}}', "get:user:notFound"),
    (b'{"name":"get:user","version":1,"payload":{}}', "get:user:badRequest"),
    (b'{"name":"get:user","version":1}', "get:user:badRequest"),
    (b'{"name":"create:user","version":2,"payload":{"displayName":"a","x":1}}', "create:user:badRequest"),
    (b'{"name":"create:user","version":2,"payload":{"displayName":"ab","role":"admin"}}', "create:user:response"),
    (b'{"name":"sum:numbers","version":1,"payload":[1,2.5]}', "sum:numbers:response"),
    # a sum past the largest float (schemathesis found it): the handler declares what it returns
    (b'{"name":"sum:numbers","version":1,"payload":[1.7e308,1.7e308]}', "sum:numbers:response"),
    (b'{"name":"echo:any","version":1,"payload":[1,"x",null]}', "echo:any:response"),
    (b'{"name":"echo:raw","version":1,"payload":{"a":[1.50]}}', "echo:raw:response"),
    (b'{"name":"server:ping","version":1,"payload":"ignored"}', "server:ping:response"),
    (b'{"name":"always:fails","version":1,"payload":{"userId":1}}', "always:fails:error"),
    (b'{"name":"custom:type","version":1}', "custom:type:somethingElse"),
    (b'{"name":"slow:one","version":1,"payload":{"seconds":5}}', "slow:one:error"),
    (b'{"name":"get:user","version":7,"payload":{}}', "eventNotFound"),
    (b'{"name":"nobody","version":"3"}', "eventNotFound"),
    (b"not json", "badProtocol"),
    (b"[]", "badProtocol"),
    (b'{"name":"get:user","version":1,"identity":[]}', "badProtocol"),
    (b'{"version":1}', "badProtocol"),
]


@pytest.mark.parametrize(("body", "name"), ANSWERS, ids=[a[1] + ":" + a[0][:40].decode() for a in ANSWERS])
def test_every_answer_the_server_gives_matches_exactly_one_documented_answer(body: bytes, name: str) -> None:
    router = _answer_router()
    answer = msgspec.json.decode(asyncio.run(EventProcessor(router).process_event_async(body)))
    assert answer["name"] == name
    answers(router.openapi()).validate(answer)  # oneOf: exactly one entry matches


def test_a_success_payload_off_its_schema_is_not_a_documented_answer() -> None:
    check = answers(schema_router.router.openapi())
    good = {
        "name": "sum:numbers:response",
        "version": 1,
        "id": "i",
        "flowId": "f",
        "payload": {"count": 1, "total": 2.0},
        "identity": {},
        "auth": {},
        "metadata": {},
    }
    assert check.is_valid(good)
    assert not check.is_valid({**good, "payload": {"count": "one", "total": 2.0}})
    assert not check.is_valid({**good, "version": 2})
    assert not check.is_valid({**good, "name": "sum:numbers:redirect"})  # typed handlers never redirect
    error = {**good, "name": "sum:numbers:notFound", "payload": {"code": "X", "parameters": {}}}
    assert check.is_valid(error)
    assert not check.is_valid({**error, "payload": {"code": "X"}})


def test_error_suffixes_are_listed_from_the_error_types() -> None:
    document = schema_router.router.openapi()
    error = next(a for a in answers(document).schema["oneOf"] if a.get("title") == "get:user v1: error")
    for kind in EventErrorType:
        if kind is not EventErrorType.UNKNOWN:
            assert f"`{kind.value}`" in error["description"]


def test_event_names_with_pattern_characters_match_only_themselves() -> None:
    router = EventRouter()
    router.add("a.b+c", 1, lambda event: None)
    router.add("a.b+c:x", 1, lambda event: None)
    check = answers(router.openapi())
    envelope = {"version": 1, "id": "i", "flowId": "f", "identity": {}, "auth": {}, "metadata": {}}
    error = {"code": "E", "parameters": {}}
    assert check.is_valid({**envelope, "name": "a.b+c:forbidden", "payload": error})
    assert check.is_valid({**envelope, "name": "a.b+c:x:response", "payload": None})
    assert not check.is_valid({**envelope, "name": "aXb+c:forbidden", "payload": error})


# --- the command and the served document ---------------------------------------------------


def test_openapi_command_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["openapi", "tests.schema_router:router", "--title", "users", "--api-version", "3.0.0", "--path", "/api"]
    assert _cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema_router.router.openapi(title="users", version="3.0.0", path="/api")


def test_openapi_command_titles_the_document_after_the_module(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["openapi", "tests.schema_router:router"]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["title"] == "schema_router"


def test_openapi_command_reports_a_bad_target_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["openapi", "tests.schema_router:nothing"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("fastevents: ")


@pytest.mark.parametrize("path", ["/events", "/api/v1"])
def test_openapi_json_is_served_next_to_the_catalogue(path: str) -> None:
    app = asgi_app(schema_router.router, path=path, catalogue=True)
    call = Call(app, method="GET", path=path + "/openapi.json", headers=()).run()
    assert call.status == 200
    assert call.headers["content-type"] == "application/json"
    assert json.loads(call.body) == schema_router.router.openapi(path=path)
    head = Call(app, method="HEAD", path=path + "/openapi.json", headers=()).run()
    assert (head.status, head.body) == (200, b"")
    assert Call(app, method="PUT", path=path + "/openapi.json", headers=()).run().status == 405


def test_openapi_json_is_not_served_without_the_catalogue() -> None:
    app = asgi_app(schema_router.router)
    assert Call(app, method="GET", path="/events/openapi.json", headers=()).run().status == 404


def test_served_document_follows_routes_added_after_the_first_request() -> None:
    router = EventRouter()
    router.add("first", 1, lambda event: None)
    app = asgi_app(router, catalogue=True)
    first = json.loads(Call(app, method="GET", path="/events/openapi.json", headers=()).run().body)
    router.add("second", 1, lambda event: None)
    second = json.loads(Call(app, method="GET", path="/events/openapi.json", headers=()).run().body)
    assert len(operation(first)["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == 1
    assert len(operation(second)["requestBody"]["content"]["application/json"]["schema"]["oneOf"]) == 2


def test_events_are_answered_as_before_with_the_catalogue_on() -> None:
    body = b'{"name":"get:user","version":1,"id":"i","flowId":"f","payload":{"userId":2}}'
    plain = post(asgi_app(schema_router.router), body)
    with_catalogue = post(asgi_app(schema_router.router, catalogue=True), body)
    assert (plain.status, plain.headers, plain.body) == (
        with_catalogue.status,
        with_catalogue.headers,
        with_catalogue.body,
    )


def test_docs_page_links_the_openapi_document() -> None:
    assert b'href="openapi.json"' in docs_page()


def test_each_document_owns_its_lists() -> None:
    """A caller may edit the document it gets: the next one is not changed by it."""
    router = schema_router.router

    def required_lists(document: dict[str, Any]) -> list[list[str]]:
        found: list[list[str]] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("required"), list):
                    found.append(node["required"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(document)
        return found

    first = router.openapi()
    before = json.dumps(router.openapi(), sort_keys=True)
    for required in required_lists(first):
        required.append("edited")
    assert json.dumps(router.openapi(), sort_keys=True) == before
