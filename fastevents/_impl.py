"""Choose the dispatch core: compiled (``_core``) unless switched off or not built."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from . import _core_py
from ._switch import extensions_disabled

if TYPE_CHECKING:
    core = _core_py
else:
    core: ModuleType = _core_py
    if not extensions_disabled():
        try:
            from . import _core as core
        except ImportError:  # a source tree that was never built: run on the twin
            pass

COMPILED: bool = core is not _core_py
