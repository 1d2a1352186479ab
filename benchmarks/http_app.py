"""The fastevents router of the HTTP benchmarks: ``fastevents serve benchmarks.http_app:router``.

The README example (``get:event:example`` v1 -> ``{"MyEventPayload": ...}``), the same
handler as the in-process scenarios and the other two servers (``http_bare_app.py``,
``http_fastapi_app.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from fastevents import Event, EventRouter, asgi_app


class ExampleSchema(msgspec.Struct):
    example: str


router = EventRouter()


@router.event("get:event:example", 1)
def example(event: Event, payload: ExampleSchema) -> Any:
    return {"MyEventPayload": payload.example}


#: The same router as a plain ASGI app, for the stock-uvicorn and Granian comparisons
#: (``fastevents serve`` builds its own app from ``router``).
app = asgi_app(router)
