"""One codec for client and server: a handler that forwards a received payload through either
client sends every number byte for byte (README, "Sending events").

``fastevents serve tests.test_client_codec:router`` serves ``forward:sync`` and
``forward:async``: each forwards its payload (plus a ``Decimal``) to ``echo:payload`` at
``$FORWARD_URL`` and answers with the echoed payload's bytes as they came back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from fastevents import AsyncEventClient, Event, EventClient, EventRouter

from .helpers_http import Server, serve_fastevents

pytestmark = pytest.mark.slow

router = EventRouter()


def _forwarded(event: Event) -> Any:
    payload = event.payload
    assert isinstance(payload, dict)
    return {**payload, "decimal": Decimal("12.340")}


@router.event("forward:sync", 1)
def forward_sync(event: Event) -> Any:
    with EventClient(os.environ["FORWARD_URL"], 5.0) as client:
        answer = client.send_event("echo:payload", 1, _forwarded(event))
    assert answer.is_success, answer
    return answer.payload_as(msgspec.Raw)


@router.event("forward:async", 1)
async def forward_async(event: Event) -> Any:
    async with AsyncEventClient(os.environ["FORWARD_URL"], 5.0) as client:
        answer = await client.send_event("echo:payload", 1, _forwarded(event))
    assert answer.is_success, answer
    return answer.payload_as(msgspec.Raw)


# Numbers a float would not write back as sent, and some it would.
PAYLOAD = (
    b'{"a":2.50,"b":1E5,"c":1e400,"d":-1e400,"e":12345678901234567890123,"f":0.1000000000000000055511151231257827,'
    b'"g":[1.0,-0.0,1e-7,3,-17],"h":{"deep":[2.50,{"x":6.02214076E+23}]},"s":"text"}'
)


TARGET = "tests.test_client_codec:router"


@pytest.fixture(scope="module")
def forwarder() -> Iterator[Server]:
    with serve_fastevents() as echo, serve_fastevents(target=TARGET, env={"FORWARD_URL": echo.url}) as fwd:
        yield fwd


@pytest.mark.parametrize("name", ["forward:sync", "forward:async"])
def test_forwarded_payload_keeps_every_number_byte_for_byte(forwarder: Server, name: str) -> None:
    body = b'{"name":"%s","version":1,"payload":%s}' % (name.encode(), PAYLOAD)
    answer = httpx.post(forwarder.url, content=body, headers={"content-type": "application/json"}, timeout=10)
    assert answer.status_code == 200
    assert b'"name":"%s:response"' % name.encode() in answer.content, answer.content
    echoed = msgspec.json.decode(answer.content, type=dict[str, msgspec.Raw])["payload"]
    assert bytes(echoed) == PAYLOAD[:-1] + b',"decimal":12.340}'
