"""The "server's own limit": a bare msgspec ASGI app answering the README example.

``python -m benchmarks.http_serve benchmarks.http_bare_app:app`` serves it under uvicorn with
``fastevents serve``'s settings. It does the bare minimum of ``POST /events``, the ASGI
counterpart of the in-process *bare msgspec floor* (``implementations.floor_dispatch``):
read the body, decode the envelope into a plain ``msgspec.Struct`` (``payload`` left as
``msgspec.Raw``), look ``(name, version)`` up in a dict, decode the payload with a typed
``msgspec.json.Decoder``, call the handler, encode the answer dict in the protocol's key
order. No path, method or content-type checks, no envelope rules, no error answers, no
context variable: a lower bound for any events server on this uvicorn, not an implementation.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Envelope(msgspec.Struct):
    name: str
    version: int
    id: str
    flowId: str  # the wire's key
    payload: msgspec.Raw


class ExampleSchema(msgspec.Struct):
    example: str


def example(payload: ExampleSchema) -> Any:
    return {"MyEventPayload": payload.example}


ROUTES = {("get:event:example", 1): (msgspec.json.Decoder(ExampleSchema).decode, example)}
_decode_envelope = msgspec.json.Decoder(Envelope).decode
_encode = msgspec.json.Encoder().encode


def answer_bytes(body: bytes) -> bytes:
    """The answer to one request body (also the raw-protocol floor's, ``http_raw.py``)."""
    envelope = _decode_envelope(body)
    decode_payload, handler = ROUTES[(envelope.name, envelope.version)]
    return _encode(
        {
            "name": envelope.name + ":response",
            "version": envelope.version,
            "id": envelope.id,
            "flowId": envelope.flowId,
            "payload": handler(decode_payload(envelope.payload)),
            "identity": {},
            "auth": {},
            "metadata": {},
        }
    )


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # uvicorn runs with lifespan="on", as fastevents serve does
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    message = await receive()
    body = message.get("body", b"")
    if message.get("more_body", False):
        chunks = [body]
        while message.get("more_body", False):
            message = await receive()
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
    answer = answer_bytes(body)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))],
        }
    )
    await send({"type": "http.response.body", "body": answer})
