"""The uvicorn internals ``fastevents serve`` copies or overrides are the ones it was tested on.

A failure here is not a bug in fastevents: uvicorn changed a method that ``fastevents/_server/``
copies, replaces or leans on. Re-read the new uvicorn source against ``fastevents/_server/`` (the
message says what to re-check), fix what needs fixing, re-record the fingerprints with
``python -m fastevents._server._uvicorn_contract`` and move the pin in ``pyproject.toml``.
"""

from __future__ import annotations

import inspect
import logging
import re
import tomllib

import pytest
import uvicorn
from packaging.requirements import Requirement
from packaging.version import Version
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from fastevents import _server
from fastevents._server._uvicorn_contract import COPIED, TESTED_ON, changed, fingerprint, table

from .helpers_http import ROOT


@pytest.mark.parametrize("name", sorted(COPIED))
def test_copied_uvicorn_method_is_the_one_fastevents_was_tested_on(name: str) -> None:
    recorded, recheck = COPIED[name]
    assert fingerprint(name) == recorded, (
        f"uvicorn {uvicorn.__version__} changed {name} (fastevents was tested on uvicorn {TESTED_ON}): "
        f"re-check {recheck} in fastevents/_server/, then re-record with python -m fastevents._server._uvicorn_contract"
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (_server.HardenedHttpToolsProtocol, HttpToolsProtocol),
        (_server.Server, uvicorn.Server),
        (_server.Manager, Multiprocess),
        (_server._Worker, Process),
    ],
)
def test_every_uvicorn_method_fastevents_overrides_is_fingerprinted(ours: type, theirs: type) -> None:
    """A method added to ``fastevents/_server/`` over one of uvicorn's joins the contract, or this fails."""
    prefix = f"{theirs.__module__}:{theirs.__qualname__}."
    overridden = {name for name in vars(ours) if name != "__doc__" and hasattr(theirs, name)}
    overridden = {
        name for name in overridden if inspect.isfunction(vars(ours)[name]) or isinstance(vars(ours)[name], property)
    }
    missing = sorted(prefix + name for name in overridden if prefix + name not in COPIED)
    assert not missing, f"add to fastevents/_server/_uvicorn_contract.py COPIED: {missing}"


def _uvicorn_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = {}
    for extra, requirements in project["optional-dependencies"].items():
        for text in requirements:
            requirement = Requirement(text)
            if requirement.name == "uvicorn":
                found[extra] = requirement
    return found


def test_pyproject_pins_uvicorn_to_the_tested_release_in_every_extra() -> None:
    pins = _uvicorn_requirements()
    assert set(pins) >= {"server", "test", "bench"}, pins
    tested = Version(TESTED_ON)
    next_minor = Version(f"{tested.major}.{tested.minor + 1}")
    for extra, requirement in pins.items():
        assert tested in requirement.specifier, (extra, str(requirement))
        assert next_minor not in requirement.specifier, f"{extra}: {requirement} has no upper bound below {next_minor}"


def test_the_installed_uvicorn_is_the_tested_one() -> None:
    assert uvicorn.__version__ == TESTED_ON, (
        f"uvicorn {uvicorn.__version__} is installed, the contract was recorded on {TESTED_ON}"
    )


def test_a_changed_method_is_named_in_a_warning_when_serving_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    name = "uvicorn.server:Server.capture_signals"
    monkeypatch.setitem(COPIED, name, ("0" * 16, COPIED[name][1]))
    assert changed() == [f"{name} changed since uvicorn {TESTED_ON}: re-check {COPIED[name][1]}"]
    with caplog.at_level(logging.WARNING, logger="fastevents.serve"):
        _server.check_uvicorn()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and re.search(
        r"Server\.capture_signals changed .* re-check Server\.capture_signals", messages[0]
    )


def test_the_recording_table_lists_every_method_with_its_fingerprint() -> None:
    printed = table()
    assert all(f'"{name}": "{recorded}"' in printed for name, (recorded, _) in COPIED.items())
