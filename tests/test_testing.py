"""The testing kit: TestClient / AsyncTestClient in process, MockEvents, the pytest plugin."""

from __future__ import annotations

import asyncio
import inspect
import socket
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fastevents import (
    AsyncEventClient,
    CamelStruct,
    Event,
    EventClient,
    EventConnectionError,
    EventErrorType,
    EventException,
    EventRouter,
    FailedDependencyException,
    ResponseEvent,
    TimeoutException,
    asgi_app,
)
from fastevents.testing import AsyncTestClient, MockEvents, TestClient, UnmockedEventError

from .helpers_http import PYTHON, ROOT, Server, free_port

CALLS: list[tuple[str, int, Any]] = [
    ("get:event:example", 1, {"example": "hi"}),
    ("get:event:example", 1, {"wrong": 1}),
    ("async:echo", 1, [1, 2.5, "x", None]),
    ("fail:unhandled", 1, {}),
    ("fail:forbidden", 1, {}),
    ("redirect:me", 1, {}),
    ("no:such", 3, {}),
]


def _plain(answer: ResponseEvent) -> dict[str, Any]:
    value: dict[str, Any] = msgspec.json.decode(answer.to_json())
    return value


# --- TestClient / AsyncTestClient -------------------------------------------------------------


@pytest.mark.parametrize(("fake", "real"), [(TestClient, EventClient), (AsyncTestClient, AsyncEventClient)])
def test_send_event_has_exactly_the_real_signature(fake: type, real: type) -> None:
    assert inspect.signature(fake.send_event) == inspect.signature(real.send_event)
    assert inspect.iscoroutinefunction(fake.send_event) == inspect.iscoroutinefunction(real.send_event)


@pytest.mark.slow
def test_test_client_answers_as_the_served_router_does(router: EventRouter, server: Server) -> None:
    with TestClient(router) as fake, EventClient(server.url) as real:
        for name, version, payload in CALLS:
            kwargs: dict[str, Any] = {"id": "id-1", "flow_id": "flow-1", "auth": {"token": "SECRET"}}
            assert _plain(fake.send_event(name, version, payload, **kwargs)) == _plain(
                real.send_event(name, version, payload, **kwargs)
            ), name


@pytest.mark.slow
def test_async_test_client_answers_as_the_served_router_does(router: EventRouter, server: Server) -> None:
    async def go() -> None:
        async with AsyncTestClient(router) as fake, AsyncEventClient(server.url) as real:
            for name, version, payload in CALLS:
                mine = await fake.send_event(name, version, payload, id="i", flow_id="f")
                theirs = await real.send_event(name, version, payload, id="i", flow_id="f")
                assert _plain(mine) == _plain(theirs), name

    asyncio.run(go())


def test_test_clients_open_no_socket(router: EventRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sockets(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a socket was opened")

    with TestClient(router) as client:  # the client's own event loop exists before the patch
        monkeypatch.setattr(socket, "socket", no_sockets)
        assert client.send_event("async:echo", 1, {"a": 1}).payload == {"a": 1}

        async def go() -> ResponseEvent:
            return await AsyncTestClient(router).send_event("get:event:example", 1, {"example": "x"})

        assert client._run(go()).is_success


def test_test_client_timeout_raises_timeout_exception() -> None:
    router = EventRouter()

    @router.event("slow:sleep", 1)
    async def slow(event: Event) -> Any:
        await asyncio.sleep(30)

    with TestClient(router, timeout=0.05) as client, pytest.raises(TimeoutException):
        client.send_event("slow:sleep", 1)
    with TestClient(router) as client, pytest.raises(TimeoutException):
        client.send_event("slow:sleep", 1, timeout=0.05)


def test_test_client_non_2xx_is_failed_dependency(router: EventRouter) -> None:
    with TestClient(asgi_app(router, max_body=256)) as client:
        with pytest.raises(FailedDependencyException) as caught:
            client.send_event("echo:payload", 1, {"text": "x" * 300})
        assert caught.value.status == 413
        # a per-call header reaches the app: a non-JSON content type is refused
        with pytest.raises(FailedDependencyException) as caught:
            client.send_event("echo:payload", 1, headers={"Content-Type": "text/plain"})
        assert caught.value.status == 415


def test_test_client_request_gives_raw_http_answers(router: EventRouter) -> None:
    with TestClient(router) as client:
        assert client.request(b"", {}, method="GET") == (405, b"Method Not Allowed")
        status, body = client.request(b"{", {"content-type": "application/json"})
        assert status == 200 and msgspec.json.decode(body)["name"] == "badProtocol"


def test_test_client_refuses_to_run_inside_an_event_loop(router: EventRouter) -> None:
    client = TestClient(router)

    async def go() -> None:
        with pytest.raises(RuntimeError, match="use AsyncTestClient"):
            client.send_event("echo:payload", 1)

    asyncio.run(go())
    client.close()


class LifespanRecorder:
    """An ASGI app around the events app that records its lifespan messages."""

    def __init__(self, router: EventRouter, fail_startup: bool = False) -> None:
        self.inner = asgi_app(router)
        self.log: list[str] = []
        self.fail_startup = fail_startup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            self.log.append("request")
            return await self.inner(scope, receive, send)
        while True:
            message = await receive()
            self.log.append(message["type"])
            if message["type"] == "lifespan.startup":
                if self.fail_startup:
                    return await send({"type": "lifespan.startup.failed", "message": "no database"})
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return None


def test_test_client_runs_the_lifespan_around_the_test(router: EventRouter) -> None:
    app = LifespanRecorder(router)
    with TestClient(app) as client:
        assert app.log == ["lifespan.startup"]
        client.send_event("echo:payload", 1)
    assert app.log == ["lifespan.startup", "request", "lifespan.shutdown"]
    with pytest.raises(RuntimeError, match="no database"), TestClient(LifespanRecorder(router, fail_startup=True)):
        pass


def test_async_test_client_runs_the_lifespan(router: EventRouter) -> None:
    app = LifespanRecorder(router)

    async def go() -> None:
        async with AsyncTestClient(app) as client:
            await client.send_event("echo:payload", 1)
        await AsyncTestClient(app).send_event("echo:payload", 1)  # no lifespan without ``async with``

    asyncio.run(go())
    assert app.log == ["lifespan.startup", "request", "lifespan.shutdown", "request"]


# --- MockEvents ---------------------------------------------------------------------------------


class User(CamelStruct):
    user_id: int


def test_mock_answers_the_real_clients_and_records_calls() -> None:
    with MockEvents() as mock:
        mock.add("user:get", 1, {"name": "Ada"})
        with EventClient("http://users.invalid/events") as client:
            answer = client.send_event("user:get", 1, {"userId": 7}, id="i-1", headers={"x-trace": "t"})
        assert answer.is_success and answer.payload == {"name": "Ada"}
        assert (answer.name, answer.id) == ("user:get:response", "i-1")

        async def go() -> ResponseEvent:
            async with AsyncEventClient("http://users.invalid/events") as client:
                return await client.send_event("user:get", 1, {"userId": 8})

        assert asyncio.run(go()).payload == {"name": "Ada"}
    assert [(c.url, c.name, c.version, c.payload) for c in mock.calls] == [
        ("http://users.invalid/events", "user:get", 1, {"userId": 7}),
        ("http://users.invalid/events", "user:get", 1, {"userId": 8}),
    ]
    assert mock.calls[0].headers == {"x-trace": "t"} and mock.calls[0].event.id == "i-1"
    assert mock.calls_for("user:get", 1) == mock.calls and mock.calls_for("user:get", 2) == []


def test_mock_answers_from_handlers_and_exceptions() -> None:
    async def lookup(event: Event, payload: User) -> Any:
        return {"id": payload.user_id, "name": "Ada"}

    with MockEvents() as mock, EventClient("http://users.invalid/events") as client:
        mock.add("user:get", 1, lookup)
        mock.add("user:delete", 1, EventException("NO_ACCESS", {"why": "admin only"}, type=EventErrorType.FORBIDDEN))
        mock.add("user:crash", 1, RuntimeError("boom"))
        assert client.send_event("user:get", 1, {"userId": 3}).payload == {"id": 3, "name": "Ada"}
        bad = client.send_event("user:get", 1, {"userId": "three"})
        assert bad.error_type is EventErrorType.BAD_REQUEST  # typed payloads are checked as by a router
        denied = client.send_event("user:delete", 1)
        assert denied.error_type is EventErrorType.FORBIDDEN
        assert denied.payload == {"code": "NO_ACCESS", "parameters": {"why": "admin only"}}
        crash = client.send_event("user:crash", 1)
        assert crash.error_type is EventErrorType.GENERIC and "boom" not in crash.to_json().decode()


def test_unregistered_event_fails_at_the_call_and_at_exit() -> None:
    with pytest.raises(UnmockedEventError, match="user:other"), MockEvents():  # noqa: SIM117
        with EventClient("http://users.invalid/events") as client:
            client.send_event("user:other", 2)
    # swallowed by the code under test: the mock still fails when it exits
    with pytest.raises(UnmockedEventError, match="user:other v2"), MockEvents():  # noqa: SIM117
        with EventClient("http://users.invalid/events") as client:
            try:
                client.send_event("user:other", 2)
            except Exception:
                pass


def test_mocks_nest_and_the_network_is_back_after_exit() -> None:
    url = f"http://127.0.0.1:{free_port()}/events"  # nobody listens there
    with MockEvents() as outer:
        outer.add("a:b", 1, "outer")
        with MockEvents() as inner, EventClient(url) as client:
            inner.add("a:b", 1, "inner")
            assert client.send_event("a:b", 1).payload == "inner"
        with EventClient(url) as client:
            assert client.send_event("a:b", 1).payload == "outer"
    with EventClient(url, timeout=5) as client, pytest.raises(EventConnectionError):
        client.send_event("a:b", 1)


def test_handler_that_calls_another_service(mock_events: MockEvents) -> None:
    # The README's example: the handler under test calls a user service over a real client.
    router = EventRouter()
    users = EventClient("http://users.internal/events")

    @router.event("greet:user", 1)
    def greet(event: Event, payload: User) -> Any:
        user = users.send_event("user:get", 1, {"userId": payload.user_id})
        if not user.is_success:
            raise EventException("USER_UNKNOWN", type=EventErrorType.NOT_FOUND)
        return {"text": f"Hello {user.payload['name']}!"}

    def user_service(event: Event, payload: Any) -> Any:
        if payload["userId"] != 1:
            raise EventException("NOT_FOUND", type=EventErrorType.NOT_FOUND)
        return {"name": "Ada"}

    mock_events.add("user:get", 1, user_service)
    with TestClient(router) as client:
        answer = client.send_event("greet:user", 1, {"userId": 1}, flow_id="flow-9")
        assert answer.payload == {"text": "Hello Ada!"}
        assert client.send_event("greet:user", 1, {"userId": 2}).error_type is EventErrorType.NOT_FOUND
    first = mock_events.calls[0]
    assert first.payload == {"userId": 1}
    assert first.event.flow_id == "flow-9"  # the outgoing call kept the incoming event's flow


# --- the pytest plugin --------------------------------------------------------------------------


PLUGIN_TESTS = """
import pytest
from fastevents import Event, EventClient, EventRouter


@pytest.fixture
def events_router():
    router = EventRouter()

    @router.event("order:total", 1)
    def total(event: Event, payload: dict) -> dict:
        prices = EventClient("http://prices.invalid/events").send_event("price:get", 1, payload["items"])
        return {"total": sum(prices.payload)}

    return router


def test_with_fixtures(events_client, mock_events):
    mock_events.add("price:get", 1, lambda event, payload: [len(item) for item in payload])
    assert events_client.send_event("order:total", 1, {"items": ["ab", "cde"]}).payload == {"total": 5}
    assert [c.payload for c in mock_events.calls] == [["ab", "cde"]]


def test_async_fixture(async_events_client, mock_events):
    import asyncio
    mock_events.add("price:get", 1, [1, 2])
    answer = asyncio.run(async_events_client.send_event("order:total", 1, {"items": []}))
    assert answer.payload == {"total": 3}


def test_unmocked_event_fails(events_client, mock_events):
    events_client.send_event("order:total", 1, {"items": []})
"""


@pytest.mark.slow
def test_pytest_plugin_offers_the_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_plugin_use.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    result = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin_use.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The handler under test turned the mock's error into an error answer; the fixture's
    # teardown still fails the test.
    assert "3 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "ERROR test_plugin_use.py::test_unmocked_event_fails" in result.stdout
    assert "UnmockedEventError" in result.stdout and "price:get" in result.stdout


@pytest.mark.slow
def test_readme_testing_example_passes(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    marker = "<!-- tests/test_testing.py runs this block with pytest -->\n```python\n"
    block = readme.split(marker, 1)[1].split("```", 1)[0]
    (tmp_path / "test_readme_example.py").write_text(block)
    result = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0 and "3 passed" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("client_class", [EventClient, AsyncEventClient])
def test_mocked_answer_is_read_as_a_network_answer_max_answer_included(client_class: type) -> None:
    # MockEvents stands in for the transport only: its answer goes through the client's read,
    # so a mocked answer over max_answer is refused as one from the network would be.
    from fastevents import BadProtocolException

    client = client_class("http://svc/events", max_answer=400)
    with MockEvents(client) as mock:
        mock.add("big", 1, {"text": "x" * 1000})
        mock.add("small", 1, {"ok": True})

        async def send(name: str) -> ResponseEvent:
            return await client.send_event(name, 1)

        def call(name: str) -> ResponseEvent:
            return client.send_event(name, 1) if client_class is EventClient else asyncio.run(send(name))

        assert call("small").payload == {"ok": True}
        with pytest.raises(BadProtocolException, match="max_answer=400"):
            call("big")
