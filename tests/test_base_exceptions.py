"""A handler that raises a BaseException (KeyboardInterrupt, SystemExit, GeneratorExit or
its own) is answered ``<name>:error`` like any other failure: in process, both ways, and
over HTTP, where it used to become an HTTP 500 and could take the server's loop down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from fastevents import Event, EventProcessor, EventRouter

from .helpers_http import Server, serve_fastevents


class CustomBaseException(BaseException):
    pass


RAISED: dict[str, type[BaseException]] = {
    "keyboard_interrupt": KeyboardInterrupt,
    "system_exit": SystemExit,
    "generator_exit": GeneratorExit,
    "custom": CustomBaseException,
}


def _handlers(exc_type: type[BaseException]) -> tuple[Any, Any]:
    def sync_handler(event: Event) -> Any:
        raise exc_type()

    async def async_handler(event: Event) -> Any:
        raise exc_type()

    return sync_handler, async_handler


def build_router() -> EventRouter:
    router = EventRouter()
    for name, exc_type in RAISED.items():
        sync_handler, async_handler = _handlers(exc_type)
        router.add(f"sync:{name}", 1, sync_handler)
        router.add(f"async:{name}", 1, async_handler)
    router.add("still:alive", 1, lambda event: {"alive": True})
    return router


router = build_router()
NAMES = [f"{kind}:{name}" for kind in ("sync", "async") for name in RAISED]


def _body(name: str) -> bytes:
    return json.dumps({"name": name, "version": 1, "id": "i-1", "flowId": "f-1"}).encode()


def _is_error_answer(answer: bytes, name: str) -> None:
    value = json.loads(answer)
    assert value["name"] == f"{name}:error"
    assert value["payload"] == {"code": "UNHANDLED_ERROR", "parameters": {}}
    assert (value["id"], value["flowId"]) == ("i-1", "f-1")


@pytest.mark.parametrize("name", NAMES)
def test_process_event_answers_a_base_exception(core: ModuleType, name: str) -> None:
    processor = EventProcessor(build_router(), core=core)
    _is_error_answer(processor.process_event(_body(name)), name)
    # and the processor (and its per-thread loop) keeps working
    assert json.loads(processor.process_event(_body("still:alive")))["payload"] == {"alive": True}


@pytest.mark.parametrize("name", NAMES)
def test_process_event_async_answers_a_base_exception(core: ModuleType, name: str) -> None:
    import asyncio

    processor = EventProcessor(build_router(), core=core)

    async def main() -> tuple[bytes, bytes]:
        first = await processor.process_event_async(_body(name))
        return first, await processor.process_event_async(_body("still:alive"))

    first, second = asyncio.run(main())
    _is_error_answer(first, name)
    assert json.loads(second)["payload"] == {"alive": True}


@pytest.fixture(scope="module")
def served() -> Iterator[Server]:
    with serve_fastevents(target="tests.test_base_exceptions:router") as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_over_http_a_base_exception_is_a_protocol_answer(served: Server, name: str) -> None:
    response = httpx.post(served.url, content=_body(name), headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    _is_error_answer(response.content, name)
    alive = httpx.post(served.url, content=_body("still:alive"), headers={"content-type": "application/json"})
    assert alive.json()["payload"] == {"alive": True}
