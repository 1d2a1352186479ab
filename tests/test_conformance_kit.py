"""The conformance kit: ``fastevents conformance URL`` against fastevents and events-protocol 0.2.4."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from fastevents._conformance import format_table, load_cases, matches, run_cases

from .helpers_http import PYTHON, ROOT, Server, free_port, serve_fastevents
from .test_interop_seed import seed_python, seed_server  # noqa: F401 - fixtures used below

SEED_TABLE = ROOT / "build" / "conformance-events-protocol-0.2.4.md"
GROUPS = {
    "malformed bodies",
    "missing fields",
    "unknown events",
    "id echo",
    "key order",
    "numbers",
    "auth never echoed",
    "content types",
    "HTTP",
}


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "fastevents", "conformance", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def served() -> Iterator[Server]:
    with serve_fastevents() as server:
        yield server


def test_cases_ship_as_package_data_and_cover_every_group() -> None:
    cases = load_cases()
    assert len({c["id"] for c in cases}) == len(cases) > 30
    assert {c["group"] for c in cases} == GROUPS
    statuses = {c["expect"]["status"] for c in cases}
    assert {200, 405, 413, 415} <= statuses


@pytest.mark.slow
def test_fastevents_serve_passes_every_case(served: Server) -> None:
    result = conformance(served.url)
    print(result.stdout)
    rows = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(row.startswith("PASS ") for row in rows) == len(load_cases())
    assert rows[-1] == f"{len(load_cases())} of {len(load_cases())} cases pass"


@pytest.mark.slow
@pytest.mark.seed
@pytest.mark.timeout(600)  # provisions the old package's venv on first use
def test_events_protocol_0_2_4_fails_cases(seed_server: Server, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    result = conformance(seed_server.url, "--markdown")
    with capsys.disabled():  # shown in every test run's log: the table the README quotes
        print("\nfastevents conformance against events-protocol 0.2.4:\n" + result.stdout)
    SEED_TABLE.parent.mkdir(exist_ok=True)
    SEED_TABLE.write_text(result.stdout)
    assert result.returncode == 1
    outcome = {}
    for row in result.stdout.splitlines()[2:-1]:
        title, _group, verdict = row.strip("|").split(" | ", 2)
        outcome[title.strip()] = verdict.strip().startswith("pass")
    titles = {c["id"]: c["title"] for c in load_cases()}
    for failing in (
        "malformed-not-json",
        "unknown-event",
        "ids-fresh-per-request",
        "order-not-found",
        "auth-not-echoed",
        "http-get-405",
        "ct-xml",
        "http-413",
    ):
        assert outcome[titles[failing]] is False, failing
    for passing in ("ids-echoed", "ids-fresh", "only-name-version"):
        assert outcome[titles[passing]] is True, passing


@pytest.mark.slow
def test_json_output_lists_every_case(served: Server) -> None:
    result = conformance(served.url, "--json")
    report = json.loads(result.stdout)
    assert report["url"] == served.url
    assert [r["id"] for r in report["results"]] == [c["id"] for c in load_cases()]
    assert all(r["passed"] and r["problems"] == [] for r in report["results"])


@pytest.mark.slow
def test_unreachable_server_fails_every_case_with_the_reason() -> None:
    result = conformance(f"http://127.0.0.1:{free_port()}/events", "--timeout", "2")
    assert result.returncode == 1
    assert result.stdout.count("FAIL ") == len(load_cases())
    assert "connection failed" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["ftp://example.com/events"]] + [["http://127.0.0.1:1/events", "--timeout", bad] for bad in ("0", "nan", "inf")],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = conformance(*args)
    assert result.returncode == 2 and result.stdout == "" and "fastevents:" in result.stderr


@pytest.mark.parametrize(
    ("actual", "expected", "ok"),
    [
        ({"a": 1, "b": 2}, {"$has": {"a": 1}}, True),
        ({"a": 1, "b": 2}, {"a": 1}, False),  # exact keys unless $has
        ({"name": "x:notFound"}, {"$has": {"name": {"$not": "badProtocol"}}}, True),
        ({"name": "badProtocol"}, {"$has": {"name": {"$not": "badProtocol"}}}, False),
        ("9230c47c-3bcf-11ea-b77f-2e728ce88125", "$uuid", True),
        ("conformance-id-1", "$uuid", False),
        (1, True, False),  # types must agree: 1 is not true
        ([1], "$any", True),
    ],
)
def test_matcher_can_fail(actual: Any, expected: Any, ok: bool) -> None:
    assert (matches(actual, expected) == []) is ok


@pytest.mark.slow
def test_runner_reports_each_problem_of_a_wrong_server(served: Server) -> None:
    # The same server, judged by a case that expects something else: the row says what differs.
    import asyncio

    case = {
        "id": "x",
        "group": "HTTP",
        "title": "wrong on purpose",
        "request": {"method": "GET", "headers": {}, "body": ""},
        "expect": {"status": 200, "json": "$any"},
    }
    (result,) = asyncio.run(run_cases(served.url, [case]))
    assert not result.passed and result.problems == ['HTTP 405, expected 200: "Method Not Allowed"']
    assert "FAIL  x  wrong on purpose" in format_table([result])
