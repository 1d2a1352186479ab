"""The one HTTP helper (``fastevents._http``) the ASGI app and the catalogue pages answer with."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fastevents import EventRouter, asgi_app
from fastevents._http import get_body, http_scope, json_headers, plain_headers, refuse_method, respond


def _exchange(app: Any, scope: dict[str, Any], body: bytes = b"") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    return sent


def _respond(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(respond(send, status, headers, body))
    return sent


def test_the_event_answer_written_out_on_the_hot_path_is_what_respond_sends() -> None:
    router = EventRouter()
    router.add("get:thing", 1, lambda event: {"ok": True})
    body = b'{"name":"get:thing","version":1,"id":"i","flowId":"f"}'
    scope = http_scope("POST", "/events", [(b"content-type", b"application/json")])
    sent = _exchange(asgi_app(router), scope, body)
    answer = sent[1]["body"]
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    assert sent == _respond(200, headers, answer)


@pytest.mark.parametrize(
    ("method", "status", "body"), [("GET", 200, b'{"status":"ok"}'), ("HEAD", 200, b""), ("POST", 405, None)]
)
def test_read_only_pages_answer_get_and_head_and_refuse_other_methods(method: str, status: int, body: Any) -> None:
    sent = _exchange(asgi_app(EventRouter(), health_path="/health"), http_scope(method, "/health"))
    assert sent[0]["status"] == status
    if status == 405:
        assert sent == _respond(
            405, plain_headers(b"Method Not Allowed", [(b"allow", b"GET, HEAD")]), b"Method Not Allowed"
        )
    else:
        assert sent[0]["headers"] == json_headers(b'{"status":"ok"}', b"no-store")
        assert sent[1]["body"] == body


def test_refuse_method_and_get_body_follow_the_scope_method() -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    assert asyncio.run(refuse_method(http_scope("GET", "/x"), send)) is False
    assert sent == []
    assert asyncio.run(refuse_method(http_scope("DELETE", "/x"), send)) is True
    assert sent[0]["status"] == 405
    assert get_body(http_scope("HEAD", "/x"), b"abc") == b""
    assert get_body(http_scope("GET", "/x"), b"abc") == b"abc"


def test_http_scope_is_an_asgi_3_http_scope_with_its_path_and_headers() -> None:
    scope = http_scope("POST", "/a/é", [(b"x", b"1")], root_path="/a")
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert (scope["method"], scope["path"], scope["raw_path"], scope["root_path"]) == (
        "POST",
        "/a/é",
        "/a/é".encode(),
        "/a",
    )
    assert scope["headers"] == [(b"x", b"1")]
