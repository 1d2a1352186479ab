"""``fastevents serve``'s HTTP server: uvicorn + httptools, hardened against hostile clients.

The only place uvicorn is imported (the ``server`` extra). One module per concern, bottom up
(the measurements behind the choice are in BENCHMARKS.md):

* ``_protocol`` -- :class:`HardenedHttpToolsProtocol`, uvicorn's httptools protocol with the
  limits of :class:`Limits` (caps, deadlines, lingering close, the connection cap).
* ``_config`` -- :class:`ServeConfig`, uvicorn's ``Config`` plus the limits and the logging
  setup, and ``AppFactory``, which builds the app in each worker.
* ``_manager`` -- :class:`Server` (signals, a graceful stop) and, for ``--workers N``,
  :class:`Manager`, uvicorn's process manager with workers that report their start.
* ``_run`` -- :func:`run`: the open-file limit, the uvicorn check, one server or a manager.
* ``_direct`` -- the direct path: ``POST <path>`` answered by the processor, without ASGI.
* ``_uvicorn_contract`` -- fingerprints of the uvicorn internals the modules above rely on.

The uvicorn methods these modules copy, replace or lean on are fingerprinted in
``_uvicorn_contract``. Names other code imports are re-exported here:
``uvicorn --http fastevents._server:HardenedHttpToolsProtocol`` keeps working.
"""

from __future__ import annotations

from ._config import ServeConfig
from ._manager import Manager, Server
from ._manager import _Worker as _Worker  # pinned by tests/test_uvicorn_contract.py
from ._protocol import SHUTDOWN_GRACE as SHUTDOWN_GRACE  # the tests' clock
from ._protocol import HardenedHttpToolsProtocol, Limits
from ._run import check_uvicorn as check_uvicorn
from ._run import run

__all__ = ["Limits", "HardenedHttpToolsProtocol", "Manager", "Server", "ServeConfig", "run"]
