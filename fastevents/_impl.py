"""Choose the dispatch core and export its names: compiled (``_core``) unless switched off
(``FASTEVENTS_NO_EXTENSIONS``), not built, or not on CPython; else the pure-Python twin.

Type checkers see the pure twin's signatures (the compiled twin has the same ones). A built
extension that refuses to load is not silent: it warns with the reason, and ``COMPILED``
is ``False``.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from typing import TYPE_CHECKING

from ._switch import extensions_disabled

COMPILED = False


def _wanted() -> bool:
    """Load the compiled core: not switched off, on CPython, and built (a source tree that
    was never built has no ``_core`` module at all, and runs on the twin quietly)."""
    if extensions_disabled() or sys.implementation.name != "cpython":
        return False
    return importlib.util.find_spec(f"{__package__}._core") is not None


if TYPE_CHECKING or not _wanted():
    from ._core_py import MODE_EVENT, MODE_PLAIN, MODE_RAW, MODE_TYPED, Dispatcher, Pending, Route, read_envelope
else:
    try:
        from ._core import MODE_EVENT, MODE_PLAIN, MODE_RAW, MODE_TYPED, Dispatcher, Pending, Route, read_envelope
    except ImportError as exc:
        warnings.warn(
            f"fastevents: the compiled core is built but does not load ({exc}); running on the "
            "pure-Python core, about 2.5x slower. Rebuild it (pip install --force-reinstall "
            "--no-binary fastevents-protocol fastevents-protocol) or set FASTEVENTS_NO_EXTENSIONS=1.",
            RuntimeWarning,
            stacklevel=2,
        )
        from ._core_py import MODE_EVENT, MODE_PLAIN, MODE_RAW, MODE_TYPED, Dispatcher, Pending, Route, read_envelope
    else:
        COMPILED = True

__all__ = [
    "COMPILED",
    "MODE_EVENT",
    "MODE_PLAIN",
    "MODE_RAW",
    "MODE_TYPED",
    "Dispatcher",
    "Pending",
    "Route",
    "read_envelope",
]
