"""FastAPI + pydantic v2 answering events: ``POST /events``, the idiomatic way for this protocol.

``python -m benchmarks.http_serve benchmarks.http_fastapi_app:app`` serves it under uvicorn
with ``fastevents serve``'s settings.

The route takes the raw body and hands it to the pydantic v2 variant of the in-process
benchmarks (``pydantic_variant.PydanticProcessor``: ``Envelope.model_validate_json``, one
``TypeAdapter`` per route for the payload, ``pydantic_core.to_json`` of the answer). That is
what a FastAPI expert writes for this protocol rather than an ``envelope: Envelope``
parameter: a model parameter makes FastAPI answer an invalid envelope with its own HTTP 422
error document, where the protocol asks for HTTP 200 and a ``badProtocol`` event
(docs/protocol.md §2 and §4), and it would also route by name inside the handler anyway. The
route is ``async def`` (the work is CPU-bound and short: no thread-pool hop), the answer a
plain ``Response`` with the bytes already serialised (no ``jsonable_encoder`` pass), and the
OpenAPI/docs routes are off.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

try:
    from .pydantic_variant import build_example_processor
except ImportError:  # imported as a top-level module
    from pydantic_variant import build_example_processor  # type: ignore[no-redef]

_process_event = build_example_processor().process_event

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.post("/events")
async def events(request: Request) -> Response:
    return Response(_process_event(await request.body()), media_type="application/json")
