"""The one reading of ``FASTEVENTS_NO_EXTENSIONS`` (and of the other on/off environment switches).

``setup.py`` loads this file by path (the package's dependencies may not be installed at
build time), and the run time imports it, so both agree on what the switch means.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_OFF = frozenset({"", "0", "false", "no", "off"})


def extensions_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """True when ``FASTEVENTS_NO_EXTENSIONS`` asks for the pure-Python core.

    Unset, empty, ``0``, ``false``, ``no`` and ``off`` (any case) keep the compiled core;
    any other value disables it.
    """
    return flag("FASTEVENTS_NO_EXTENSIONS", environ)


def flag(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment variable ``name`` is on: set to anything but unset, empty,
    ``0``, ``false``, ``no`` or ``off`` (any case)."""
    return environ.get(name, "").strip().lower() not in _OFF
