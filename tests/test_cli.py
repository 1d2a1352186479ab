"""The command line: ``fastevents serve`` and ``fastevents send``."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

import fastevents
from fastevents import _cli

from .helpers_http import PYTHON, ROOT, Server, free_port, serve_fastevents, sleeping
from .waiting import wait_until

pytestmark = pytest.mark.slow


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = _cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "fastevents", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


# --- send ---------------------------------------------------------------------------------


def test_send_success_prints_indented_json_and_exits_0(server: Server, capsys: Any) -> None:
    code, out, err = run_main(
        [
            "send",
            server.url,
            "get:event:example",
            "1",
            "--payload",
            '{"example": "x"}',
            "--identity",
            '{"userId": 1}',
            "--metadata",
            '{"origin": "cli"}',
            "--auth",
            '{"token": "t"}',
        ],
        capsys,
    )
    assert code == 0 and err == ""
    assert out.startswith("{\n  ")
    answer = json.loads(out)
    assert answer["name"] == "get:event:example:response"
    assert answer["payload"] == {"MyEventPayload": "x"}


def test_send_redirect_exits_0(server: Server, capsys: Any) -> None:
    code, out, _ = run_main(["send", server.url, "redirect:me", "1"], capsys)
    assert code == 0 and json.loads(out)["name"] == "redirect:me:redirect"


@pytest.mark.parametrize(
    ("name", "payload"), [("get:event:nope", "{}"), ("get:event:example", "[]"), ("fail:unhandled", "{}")]
)
def test_send_error_event_exits_1_with_reason(server: Server, capsys: Any, name: str, payload: str) -> None:
    code, out, err = run_main(["send", server.url, name, "1", "--payload", payload], capsys)
    assert code == _cli.EXIT_ERROR_EVENT == 1
    assert json.loads(out)["payload"]["code"]
    assert len(err.strip().splitlines()) == 1 and "error answer" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--payload", "{bad"],
        ["--identity", "[1]"],
        ["--metadata", "nope"],
        ["--auth", "1"],
        ["--timeout", "0"],
    ],
)
def test_send_bad_arguments_exit_2_without_traceback(server: Server, capsys: Any, args: list[str]) -> None:
    code, out, err = run_main(["send", server.url, "echo:payload", "1", *args], capsys)
    assert code == _cli.EXIT_USAGE == 2
    assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_send_timeout_exits_3(server: Server, capsys: Any) -> None:
    code, _, err = run_main(
        ["send", server.url, "slow:sleep", "1", "--payload", '{"seconds": 2}', "--timeout", "0.2"], capsys
    )
    assert code == _cli.EXIT_TIMEOUT == 3 and "timeout" in err


def test_send_connection_refused_exits_4(capsys: Any) -> None:
    code, _, err = run_main(["send", f"http://127.0.0.1:{free_port()}/events", "x", "1"], capsys)
    assert code == _cli.EXIT_CONNECTION == 4 and "connection failed" in err
    assert len(err.strip().splitlines()) == 1


def test_send_non_2xx_exits_5(server: Server, capsys: Any) -> None:
    code, _, err = run_main(["send", server.base + "/elsewhere", "x", "1"], capsys)
    assert code == _cli.EXIT_FAILED_DEPENDENCY == 5 and "HTTP 404" in err


def test_send_unreadable_answer_exits_6(capsys: Any) -> None:
    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        code, _, err = run_main(["send", f"http://127.0.0.1:{httpd.server_port}/events", "x", "1"], capsys)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == _cli.EXIT_BAD_PROTOCOL == 6 and "bad protocol" in err and "hello" in err


def test_send_help_documents_exit_codes() -> None:
    result = run_cli("send", "--help")
    assert result.returncode == 0
    for code, word in (
        (0, "success"),
        (1, "error"),
        (2, "usage"),
        (3, "timeout"),
        (4, "connection"),
        (5, "non-2xx"),
        (6, "bad protocol"),
    ):
        assert any(line.strip().startswith(f"{code}  ") and word in line for line in result.stdout.splitlines()), code


def test_python_m_fastevents_send_bad_json_has_no_traceback(server: Server) -> None:
    result = run_cli("send", server.url, "echo:payload", "1", "--payload", "{oops")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("fastevents: --payload")


# --- serve --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("no_such_module_xyz:router", "cannot import module"),
        ("tests.helpers_http:nothing", "has no attribute"),
        ("tests.helpers_http:free_port", "not an EventRouter"),
        ("tests.helpers_http", "expected MODULE:ROUTER"),
    ],
)
def test_serve_bad_target_exits_2_with_one_line(target: str, reason: str) -> None:
    result = run_cli("serve", target, "--port", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_port_in_use_exits_2(server: Server) -> None:
    port = server.base.rsplit(":", 1)[1]
    result = run_cli("serve", "tests.helpers_http:router", "--port", port)
    assert result.returncode == 2 and "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_serve_startup_line_says_where_and_how_many_events(server: Server) -> None:
    from .helpers_http import router

    line = server.stdout_lines[0]
    assert f"serving {len(router)} events on {server.url} (1 worker" in line
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/events")


def test_serve_custom_path() -> None:
    srv = serve_fastevents("--path", "/api/ev/")
    try:
        assert srv.url.endswith("/api/ev")
        assert httpx.post(srv.url + "/", json={"name": "echo:payload", "version": 1}).status_code == 200
        assert httpx.post(srv.base + "/events", json={"name": "echo:payload", "version": 1}).status_code == 404
    finally:
        srv.stop()


def _slow_request(url: str, results: list[Any]) -> None:
    try:
        results.append(
            httpx.post(url, json={"name": "slow:sleep", "version": 1, "payload": {"seconds": 1.0}}, timeout=10)
        )
    except Exception as exc:
        results.append(exc)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_in_flight_requests_finish(workers: int) -> None:
    srv = serve_fastevents("--workers", str(workers))
    try:
        if workers > 1:  # wait until the workers answer
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    httpx.post(srv.url, json={"name": "echo:payload", "version": 1}, timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
        results: list[Any] = []
        thread = threading.Thread(target=_slow_request, args=(srv.url, results))
        thread.start()
        wait_until(lambda: sleeping(srv.url), what="the request is in the handler")
        started = time.monotonic()
        code = srv.stop()
        thread.join(10)
    finally:
        srv.stop()
    assert len(results) == 1 and isinstance(results[0], httpx.Response), results
    assert results[0].status_code == 200
    assert results[0].json()["payload"] == {"slept": 1.0}
    assert code == 0, srv.output()  # the same with one worker and with a manager of two
    assert time.monotonic() - started < 10


def test_serve_workers_share_the_port() -> None:
    srv = serve_fastevents("--workers", "2")
    try:
        assert "(2 workers" in srv.stdout_lines[0]
        pids = set()
        deadline = time.monotonic() + 15
        while len(pids) < 2 and time.monotonic() < deadline:
            try:  # a new connection each time, so the kernel can pick either worker
                r = httpx.post(srv.url, json={"name": "server:pid", "version": 1}, timeout=2)
                pids.add(r.json()["payload"]["pid"])
            except httpx.HTTPError:
                time.sleep(0.05)
        assert len(pids) == 2
        assert srv.pid not in pids  # the supervisor itself does not serve
    finally:
        srv.stop()


# --- usage errors: one line, exit status 2 ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["serve", "tests.helpers_http:router", "--port", "99999"], "port must be 0 to 65535"),
        (["serve", "tests.helpers_http:router", "--port", "-5"], "port must be 0 to 65535"),
        (["serve", "tests.helpers_http:router", "--workers", "0"], "must be at least 1"),
        (["serve", "tests.helpers_http:router", "--header-timeout", "nan"], "positive number of seconds"),
        (["serve", "tests.helpers_http:router", "--max-body", "lots"], "not a whole number"),
        (["serve", "tests.helpers_http:router", "--max-body", "_5"], "not a whole number"),
        (["serve", "tests.helpers_http:router", "--workers", "1__0"], "not a whole number"),
        (["send", "http://127.0.0.1:1/events", "x", "1", "--timeout", "nan"], "positive number of seconds"),
        (["send", "http://127.0.0.1:1/events", "x", "1", "--timeout", "-1"], "positive number of seconds"),
        (["send", "http://[::1/events", "x", "1"], "invalid URL"),
        (["send", "ftp://example.com/events", "x", "1"], "invalid URL"),
        (["send", "http://127.0.0.1:1/events", "x", "one"], "invalid int value"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args: list[str], reason: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and reason in result.stderr, result.stderr
    assert result.stderr.startswith("fastevents: ")


def test_serve_without_uvicorn_names_the_server_extra(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    for name in [m for m in sys.modules if m == "fastevents._server" or m.startswith("fastevents._server.")]:
        monkeypatch.delitem(sys.modules, name)  # the subpackage and its modules, imported anew
    monkeypatch.delattr(fastevents, "_server", raising=False)  # else `from . import _server` finds it
    code, _, err = run_main(["serve", "tests.helpers_http:router", "--port", "0"], capsys)
    assert code == 2
    assert err.strip() == "fastevents: serving needs uvicorn and httptools: pip install 'fastevents-protocol[server]'"


@pytest.mark.parametrize(("level", "shown"), [("error", False), ("debug", True)])
def test_log_level_sets_the_fastevents_logger(level: str, shown: bool) -> None:
    with serve_fastevents("--log-level", level) as srv:
        answer = httpx.post(srv.url, content=b"{not json", headers={"content-type": "application/json"})
        assert answer.json()["name"] == "badProtocol"
        deadline = time.monotonic() + (2 if shown else 0.5)
        while "fastevents: event" not in srv.output() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert ("fastevents: event" in srv.output()) is shown, srv.output()


def test_serve_help_documents_limits_and_defaults() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for option in (
        "--max-body",
        "--max-header-size",
        "--max-connections",
        "--header-timeout",
        "--body-timeout",
        "--keep-alive-timeout",
        "--write-timeout",
        "--shutdown-timeout",
    ):
        assert option in result.stdout
    assert "default 1_048_576" in result.stdout and "exit status: 0 after a graceful stop" in result.stdout
