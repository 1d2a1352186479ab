"""``MODULE:ROUTER``: finding the router a command names (``serve``, ``catalogue``)."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from ._router import EventRouter

__all__ = ["UsageError", "load_router"]


class UsageError(Exception):
    """A mistake of the person at the keyboard: one line on stderr, no traceback."""


def load_router(target: str) -> EventRouter:
    """Import ``MODULE:ATTRIBUTE`` (attribute may be dotted) and return an EventRouter."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"expected MODULE:ROUTER, got {target!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like uvicorn: modules of the current folder
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(f"cannot import module {module_name!r}: {exc}") from None
        raise  # a bug inside the user's module: its traceback is the useful answer
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(obj, EventRouter):
        raise UsageError(f"{target} is a {type(obj).__name__}, not an EventRouter")
    return obj
