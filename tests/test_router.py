"""Registration: handler styles, payload types, duplicates, composition, name checks."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import msgspec
import pytest

from fastevents import DuplicateEventError, Event, EventHandler, EventProcessor, EventRouter

from .conftest import ExampleSchema


def call(router: EventRouter, core: ModuleType, name: str, payload: Any = None, version: int = 1) -> dict[str, Any]:
    body = json.dumps({"name": name, "version": version, "payload": payload if payload is not None else {}})
    return json.loads(EventProcessor(router, core=core).process_event(body))


def test_payload_type_comes_from_the_annotation(core: ModuleType) -> None:
    router = EventRouter()

    @router.event("typed:one", 1)
    def typed(event: Event, payload: ExampleSchema) -> Any:
        return {"type": type(payload).__name__, "value": payload.example}

    assert call(router, core, "typed:one", {"example": "x"})["payload"] == {"type": "ExampleSchema", "value": "x"}
    assert call(router, core, "typed:one", {"nope": 1})["name"] == "typed:one:badRequest"


def test_schema_argument_wins_over_the_annotation(core: ModuleType) -> None:
    router = EventRouter()
    router.add("typed:two", 1, lambda event, payload: type(payload).__name__, schema=ExampleSchema)
    assert call(router, core, "typed:two", {"example": "x"})["payload"] == "ExampleSchema"


def test_container_schemas_work(core: ModuleType) -> None:
    router = EventRouter()
    router.add("typed:list", 1, lambda event, payload: sum(payload), schema=list[int])
    assert call(router, core, "typed:list", [1, 2, 3])["payload"] == 6
    assert call(router, core, "typed:list", [1, "x"])["name"] == "typed:list:badRequest"


def test_unannotated_payload_is_a_plain_json_value(core: ModuleType) -> None:
    router = EventRouter()
    router.add("plain:one", 1, lambda event, payload: [type(payload).__name__, payload is event.payload])
    assert call(router, core, "plain:one", {"a": 1})["payload"] == ["dict", True]


def test_event_only_handlers(core: ModuleType) -> None:
    router = EventRouter()
    router.add("only:event", 1, lambda event: event.name)
    assert call(router, core, "only:event")["payload"] == "only:event"


def test_class_style_handlers(core: ModuleType) -> None:
    class Handler(EventHandler):
        schema = ExampleSchema

        def handle(self, event: Event, payload: ExampleSchema) -> Any:
            return {"got": payload.example}

    class AsyncHandler(EventHandler):
        async def handle(self, event: Event, payload: Any) -> Any:
            return payload

    router = EventRouter()
    router.add_handler("class:style", 1, Handler())
    router.add("class:async", 1, AsyncHandler())
    assert call(router, core, "class:style", {"example": "e"})["payload"] == {"got": "e"}
    assert call(router, core, "class:async", [1])["payload"] == [1]


def test_callable_objects_and_varargs(core: ModuleType) -> None:
    class Callable:
        def __call__(self, event: Event, payload: Any) -> Any:
            return payload

    router = EventRouter()
    router.add("obj:call", 1, Callable())
    router.add("var:args", 1, lambda *args: len(args))
    assert call(router, core, "obj:call", [2])["payload"] == [2]
    assert call(router, core, "var:args")["payload"] == 2


def test_duplicate_registration_raises() -> None:
    router = EventRouter()
    router.add("dup:event", 1, lambda e: None)
    router.add("dup:event", 2, lambda e: None)
    with pytest.raises(DuplicateEventError):
        router.add("dup:event", 1, lambda e: None)
    assert router.routes == [("dup:event", 1), ("dup:event", 2)]


def test_include_composes_routers_and_rejects_clashes(core: ModuleType) -> None:
    a, b, c = EventRouter(), EventRouter(), EventRouter()
    a.add("from:a", 1, lambda e: "a")
    b.add("from:b", 1, lambda e: "b")
    c.add("from:a", 1, lambda e: "c")
    a.include(b)
    assert len(a) == 2 and ("from:b", 1) in a
    assert call(a, core, "from:b")["payload"] == "b"
    with pytest.raises(DuplicateEventError):
        a.include(c)
    assert call(a, core, "from:a")["payload"] == "a"


def test_routers_are_independent() -> None:
    a, b = EventRouter(), EventRouter()
    a.add("only:here", 1, lambda e: None)
    assert ("only:here", 1) not in b


@pytest.mark.parametrize(
    "name", ["get:event:example", "ab:cd", "a:b", "some_thing:do_it:now", "get:user:by_id", "get:user:profile:v2"]
)
def test_name_validation_accepts_whole_valid_names(name: str) -> None:
    EventRouter(validate_names=True).add(name, 1, lambda e: None)


@pytest.mark.parametrize(
    "name", ["get:event:example!", "get:event:Example", "noColon", "a:b:", "get:event:x y", "get::x", ":a:b", "a-b:c"]
)
def test_name_validation_checks_the_whole_name(name: str) -> None:
    with pytest.raises(ValueError, match="invalid event name"):
        EventRouter(validate_names=True).add(name, 1, lambda e: None)


def test_name_validation_is_off_by_default_and_custom_patterns_work() -> None:
    EventRouter().add("Anything Goes!", 1, lambda e: None)
    router = EventRouter(name_pattern=r"[A-Z]+")
    router.add("ABC", 1, lambda e: None)
    with pytest.raises(ValueError):
        router.add("ABC1", 1, lambda e: None)


@pytest.mark.parametrize(("name", "version"), [("", 1), (None, 1), ("a:b", -1), ("a:b", "1"), ("a:b", True)])
def test_invalid_names_and_versions_are_rejected(name: Any, version: Any) -> None:
    with pytest.raises(ValueError):
        EventRouter().add(name, version, lambda e: None)


def test_bad_handlers_and_schemas_are_rejected_at_registration() -> None:
    router = EventRouter()
    with pytest.raises(TypeError):
        router.add("not:callable", 1, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        router.add("no:args", 1, lambda: None)
    with pytest.raises(TypeError, match="schema"):
        router.add("bad:schema", 1, lambda e, p: None, schema=object())
    with pytest.raises(TypeError, match="no payload"):
        router.add("no:payload", 1, lambda e: None, schema=ExampleSchema)


def test_raw_schema_passes_undecoded_bytes(core: ModuleType) -> None:
    router = EventRouter()
    router.add(
        "raw:in", 1, lambda event, payload: [type(payload).__name__, bytes(payload).decode()], schema=msgspec.Raw
    )
    assert call(router, core, "raw:in", {"a": 1})["payload"] == ["Raw", '{"a": 1}']


def _three_required(event: Any, payload: Any, extra: Any) -> Any:
    return None


def _keyword_only_payload(event: Any, *, payload: Any) -> Any:
    return None


def _sync_generator(event: Any) -> Any:
    yield {}


async def _async_generator(event: Any, payload: Any) -> Any:
    yield {}


class _GeneratorObject:
    def __call__(self, event: Any) -> Any:
        yield {}


class _GeneratorHandler(EventHandler):
    def handle(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        yield {}


@pytest.mark.parametrize(
    ("handler", "named"),
    [
        (_three_required, "_three_required"),
        (_keyword_only_payload, "_keyword_only_payload"),
        (_sync_generator, "_sync_generator"),
        (_async_generator, "_async_generator"),
        (_GeneratorObject(), "_GeneratorObject"),
        (_GeneratorHandler(), "_GeneratorHandler.handle"),
    ],
    ids=["three-required", "keyword-only-payload", "sync-generator", "async-generator", "generator-object", "class"],
)
def test_a_handler_that_cannot_answer_is_refused_at_registration(handler: Any, named: str) -> None:
    with pytest.raises(TypeError, match=named):
        EventRouter().add("a:b", 1, handler)


def _one_argument(event: Any) -> Any:
    return None


def _three_arguments(event: Any, call_next: Any, extra: Any) -> Any:
    return None


@pytest.mark.parametrize("interceptor", [_one_argument, _three_arguments])
def test_an_interceptor_that_cannot_take_event_and_call_next_is_refused_at_registration(interceptor: Any) -> None:
    with pytest.raises(TypeError, match=interceptor.__name__):
        EventRouter().add_interceptor(interceptor)
    with pytest.raises(TypeError, match=interceptor.__name__):
        EventRouter(interceptors=[interceptor])
    with pytest.raises(TypeError, match=interceptor.__name__):
        EventRouter().add_exception_handler(ValueError, interceptor)


@pytest.mark.parametrize(
    "handler",
    [
        lambda event: None,
        lambda event, payload: None,
        lambda event, payload=None, *rest, extra=1, **kw: None,
        lambda *args: None,
        print,  # a builtin without a signature is trusted
    ],
)
def test_handlers_of_every_accepted_shape_still_register(handler: Any) -> None:
    EventRouter().add("a:b", 1, handler)
