"""The docs page in a real headless Chromium (Debian's ``chromium``, installed by ``.ci/run``).

Served by ``fastevents serve --catalogue``; the page must load with no console errors, its
filter must narrow the list, and sending an event from its form must show the answer. A
screenshot is kept at ``build/docs-page.png`` (a CI artifact, not committed). Without
Chromium the test skips, except in CI (``CI=true``), where a missing browser fails.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from . import cdp
from .cdp import Page, chromium_page
from .helpers_http import ROOT, Server, serve_fastevents
from .helpers_http import router as served_router
from .waiting import wait_until_async

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCREENSHOT = ROOT / "build" / "docs-page.png"

VISIBLE_NAMES = """[...document.querySelectorAll('#events li')]
    .filter(li => li.offsetParent !== null).map(li => li.dataset.name + ' v' + li.dataset.version)"""


def require_chromium() -> str:
    """Chromium's path; skips without it, but fails in CI (``CI=true``) so CI never skips silently."""
    path = cdp.find_chromium()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cdp, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_chromium()


@pytest.fixture(scope="module")
def docs_server() -> Iterator[Server]:
    with serve_fastevents("--catalogue") as server:
        yield server


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


async def _open_docs(page: Page, server: Server) -> None:
    await page.navigate(server.url + "/docs")
    await page.wait_for("document.body.dataset.ready === 'true'")


def test_docs_page_in_chromium_loads_filters_and_sends(chromium: str, docs_server: Server) -> None:
    async def go() -> dict[str, Any]:
        async with chromium_page(chromium) as page:
            await _open_docs(page, docs_server)
            seen: dict[str, Any] = {"all": await page.evaluate(VISIBLE_NAMES)}

            await page.type("#filter", "fail")
            seen["filtered"] = await page.evaluate(VISIBLE_NAMES)
            seen["count"] = await page.evaluate("document.getElementById('count').textContent")
            await page.evaluate("document.getElementById('filter').select()")
            await page.type("#filter", "example v2")
            seen["two_words"] = await page.evaluate(VISIBLE_NAMES)

            await page.click("#events li[data-name='get:event:example'][data-version='1']")
            seen["title"] = await page.evaluate("document.getElementById('event-title').textContent")
            seen["payload_schema"] = json.loads(
                await page.evaluate("document.getElementById('payload-schema').textContent")
            )
            seen["example"] = json.loads(await page.evaluate("document.getElementById('request').value"))
            await page.click("#send")
            seen["status"] = await page.wait_for(
                "(t => t.startsWith('HTTP') && t)(document.getElementById('status').textContent)"
            )
            seen["answer"] = json.loads(await page.evaluate("document.getElementById('answer').textContent"))
            await page.evaluate("document.getElementById('filter').select()")
            await page.type("#filter", "example")
            await page.screenshot(SCREENSHOT)

            # An event that fails: the page shows the error answer too.
            await page.evaluate("document.getElementById('filter').select()")
            await page.type("#filter", "typed")
            await page.click("#events li[data-name='fail:typed']")
            await page.click("#send")
            seen["error_status"] = await page.wait_for(
                "(t => t.startsWith('HTTP') && t)(document.getElementById('status').textContent)"
            )
            seen["errors"] = list(page.errors)
            return seen

    seen = run(go())
    assert seen["errors"] == []
    assert seen["all"] == [f"{name} v{version}" for name, version in served_router.routes]
    assert seen["filtered"] == ["fail:unhandled v1", "fail:typed v1", "fail:forbidden v1"]
    assert seen["count"] == f"3 of {len(served_router)} events"
    assert seen["two_words"] == ["get:event:example v2"]
    assert seen["title"] == "get:event:example  v1"
    assert seen["payload_schema"]["components"]["ExampleSchema"]["required"] == ["example"]
    assert seen["example"] == {"name": "get:event:example", "version": 1, "payload": {"example": "string"}}
    assert seen["status"] == "HTTP 200 \u2014 get:event:example:response"
    assert seen["answer"]["name"] == "get:event:example:response"
    assert seen["answer"]["payload"] == {"MyEventPayload": "string"}
    assert seen["error_status"] == "HTTP 200 \u2014 fail:typed:badRequest"
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")


def test_console_errors_are_caught(chromium: str, docs_server: Server) -> None:
    # The check above is only worth something if an error on the page would be seen.
    async def go() -> list[str]:
        async with chromium_page(chromium) as page:
            await page.navigate("data:text/html,<script>console.error('boom'); undefinedCall();</script>")
            await wait_until_async(
                lambda: any("boom" in e for e in page.errors) and any("undefinedCall" in e for e in page.errors),
                what="both errors reported",
            )
            return list(page.errors)

    errors = run(go())
    assert any("boom" in e for e in errors) and any("undefinedCall" in e for e in errors)
