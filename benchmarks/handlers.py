"""The handlers every benchmarked implementation registers, written once.

Each implementation declares the payload schemas in its own library (msgspec Structs for
fastevents and the floor in ``implementations.py``, pydantic v2 models in
``pydantic_variant.py``, pydantic v1 models in ``seed_worker.py``) and registers these very
functions, so every one of them does the same work per event. Each takes ``(event,
payload)``, fastevents' handler signature. Standard library only: ``seed_worker.py``
imports this module inside the events-protocol 0.2.4 venv too.
"""

from __future__ import annotations

from typing import Any


def example(event: Any, payload: Any) -> dict[str, str]:
    """The README example's handler: ``{"MyEventPayload": payload.example}``."""
    return {"MyEventPayload": payload.example}


def failing(event: Any, payload: Any) -> dict[str, str]:
    """The ``unhandled_error`` scenario's handler: raises a plain exception."""
    raise RuntimeError("boom")


def batch(event: Any, payload: Any) -> dict[str, Any]:
    """The payload-size scenarios' echo: the typed items go back to the encoder as they are."""
    return {"count": len(payload.items), "items": payload.items}
