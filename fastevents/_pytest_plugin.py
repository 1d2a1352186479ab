"""The pytest plugin (entry point ``pytest11``): fixtures from :mod:`fastevents.testing`.

* ``mock_events``: an active :class:`~fastevents.testing.MockEvents` for the test.
* ``events_client``: a :class:`~fastevents.testing.TestClient` (lifespan running) for the
  router returned by your ``events_router`` fixture.
* ``async_events_client``: an :class:`~fastevents.testing.AsyncTestClient` for it (use
  ``async with`` in the test to run the lifespan).

Nothing is imported until a fixture is used, so the plugin costs other test suites nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def mock_events() -> Iterator[Any]:
    """A MockEvents answering the real EventClient / AsyncEventClient during the test."""
    from .testing import MockEvents

    with MockEvents() as mock:
        yield mock


@pytest.fixture
def events_client(events_router: Any) -> Iterator[Any]:
    """A TestClient for your ``events_router`` fixture, its lifespan running."""
    from .testing import TestClient

    with TestClient(events_router) as client:
        yield client


@pytest.fixture
def async_events_client(events_router: Any) -> Any:
    """An AsyncTestClient for your ``events_router`` fixture."""
    from .testing import AsyncTestClient

    return AsyncTestClient(events_router)
