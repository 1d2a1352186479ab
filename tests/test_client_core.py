"""One send for every client: a MockEvents scoped to one client, the sync client over any
transport, and the in-process test clients, which observers and global mocks leave alone."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

import fastevents
from fastevents import (
    AsyncEventClient,
    BadProtocolException,
    EventClient,
    EventConnectionError,
    EventRouter,
    ResponseEvent,
)
from fastevents.testing import AsyncTestClient, MockEvents, TestClient, UnmockedEventError

from .helpers_http import free_port

ANSWER = (
    b'{"name":"n:response","version":1,"id":"i","flowId":"f","payload":{"ok":1},"identity":{},"auth":{},"metadata":{}}'
)


def _send(client: EventClient | AsyncEventClient, name: str, **kw: Any) -> ResponseEvent:
    if isinstance(client, EventClient):
        return client.send_event(name, 1, **kw)
    return asyncio.run(client.send_event(name, 1, **kw))


@pytest.mark.parametrize("kind", [EventClient, AsyncEventClient])
def test_a_mock_scoped_to_one_client_answers_that_client_only(kind: type[EventClient | AsyncEventClient]) -> None:
    url = f"http://127.0.0.1:{free_port()}/events"  # nobody listens there
    mocked, other = kind(url, timeout=5), kind(url, timeout=5)
    with MockEvents(mocked) as mock:
        mock.add("a:b", 1, "scoped")
        assert _send(mocked, "a:b", headers={"X-K": "v"}).payload == "scoped"
        with pytest.raises(EventConnectionError):
            _send(other, "a:b")
    assert [(c.url, c.name, c.headers) for c in mock.calls] == [(url, "a:b", {"X-K": "v"})]
    with pytest.raises(EventConnectionError):  # the network again once the mock exits
        _send(mocked, "a:b")


def test_a_scoped_mock_wins_over_the_global_one_and_fails_on_unanswered_events() -> None:
    url = f"http://127.0.0.1:{free_port()}/events"
    mine, theirs = EventClient(url), EventClient(url)
    with MockEvents() as everyone, MockEvents(mine) as scoped:
        everyone.add("a:b", 1, "global")
        scoped.add("a:b", 1, "mine")
        assert mine.send_event("a:b", 1).payload == "mine"
        assert theirs.send_event("a:b", 1).payload == "global"
    assert len(scoped.calls) == len(everyone.calls) == 1
    with pytest.raises(UnmockedEventError, match="x:y v1"), MockEvents(mine):
        try:
            mine.send_event("x:y", 1)
        except UnmockedEventError:
            pass  # swallowed by the code under test: the mock still fails when it exits


class Recording:
    """A sync transport that answers every call with ``answer`` and records what it was given."""

    def __init__(self, answer: bytes = ANSWER, status: int = 200) -> None:
        self.answer, self.status = answer, status
        self.calls: list[tuple[str, bytes, dict[str, str], float]] = []
        self.closed = False

    def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        self.calls.append((url, body, dict(headers), timeout))
        return self.status, self.answer

    def close(self) -> None:
        self.closed = True


def test_the_sync_client_sends_through_a_given_transport_and_leaves_it_open() -> None:
    transport = Recording()
    client = EventClient("http://svc/events", 3.0, headers={"X-A": "1"}, transport=transport)
    answer = client.send_event("n", 1, {"k": 1}, id="i", flow_id="f", headers={"X-B": "2"})
    assert answer.payload == {"ok": 1}
    client.send_event("n", 1, timeout=0.5)
    [(url, body, headers, timeout), (_, _, plain, short)] = transport.calls
    assert (url, timeout, short) == ("http://svc/events", 3.0, 0.5)
    assert body.startswith(b'{"name":"n","version":1,"id":"i","flowId":"f","payload":{"k":1}')
    assert headers == {"content-type": "application/json", "x-a": "1", "x-b": "2"}
    assert plain == {"content-type": "application/json", "x-a": "1"}
    client.close()
    assert not transport.closed  # given to us: the caller's to close


@pytest.mark.parametrize(("status", "answer", "error"), [(200, ANSWER, BadProtocolException), (302, b"", None)])
def test_the_sync_client_reads_a_given_transport_s_answer_as_any_other(
    status: int, answer: bytes, error: type[Exception] | None
) -> None:
    client = EventClient("http://svc/events", transport=Recording(answer, status), max_answer=len(ANSWER) - 1)
    with pytest.raises(error or fastevents.FailedDependencyException):
        client.send_event("n", 1)
    with pytest.raises(ValueError, match="either client or transport"):
        EventClient("http://svc/events", client=object(), transport=Recording())  # type: ignore[arg-type]


class Observer:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def request_started(self, call: fastevents.ClientCall) -> None:
        self.seen.append(call.name)

    def request_ended(self, call: fastevents.ClientCall, state: Any) -> None:
        self.seen.append(call.name)


def test_test_clients_are_left_alone_by_observers_and_global_mocks() -> None:
    router = EventRouter()
    router.add("a:b", 1, lambda event: "from the router")
    observer = Observer()
    fastevents.add_client_observer(observer)
    try:
        with MockEvents() as mock:
            mock.add("a:b", 1, "from the mock")
            with TestClient(router) as client:
                assert client.send_event("a:b", 1).payload == "from the router"

            async def go() -> ResponseEvent:
                async with AsyncTestClient(router) as client:
                    return await client.send_event("a:b", 1)

            assert asyncio.run(go()).payload == "from the router"
    finally:
        fastevents.remove_client_observer(observer)
    assert mock.calls == [] and observer.seen == []


def test_test_clients_read_answers_over_the_real_clients_cap() -> None:
    big = "x" * (5 * 1024 * 1024)  # over DEFAULT_MAX_ANSWER: an app in process is not capped
    router = EventRouter()
    router.add("big:one", 1, lambda event: big)
    with TestClient(router) as client:
        assert client.send_event("big:one", 1).payload == big


def test_every_list_of_the_envelope_keys_is_the_wire_s_one_order() -> None:
    from fastevents import _conformance, _openapi, _wire
    from fastevents._client._base import _envelope

    from .conftest import ENVELOPE_KEYS  # the protocol's order, written by the tests on their own

    sent = msgspec.json.decode(_envelope("n", 1, None, "i", "f", None, None, None))
    assert list(_wire.ENVELOPE_KEYS) == ENVELOPE_KEYS == list(sent)
    assert _conformance.ENVELOPE_KEYS == _openapi._envelope("t", {}, {}, {})["required"] == ENVELOPE_KEYS
