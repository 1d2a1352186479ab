"""``fastevents serve``'s HTTP server (uvicorn + httptools): the only place uvicorn is imported.

The names other code imports live here; ``uvicorn --http
fastevents._server:HardenedHttpToolsProtocol`` keeps working.
"""

from __future__ import annotations

from ._protocol import SHUTDOWN_GRACE as SHUTDOWN_GRACE  # the tests' clock
from ._protocol import HardenedHttpToolsProtocol, Limits, Manager, ServeConfig, Server, run
from ._protocol import _Worker as _Worker  # pinned by tests/test_uvicorn_contract.py
from ._protocol import check_uvicorn as check_uvicorn

__all__ = ["Limits", "HardenedHttpToolsProtocol", "Manager", "Server", "ServeConfig", "run"]
