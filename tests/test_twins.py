"""The compiled core and its pure-Python twin: the right one is in use, and they agree."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastevents
from fastevents import EventProcessor, _core_py, _impl
from fastevents._switch import extensions_disabled

from .conftest import CORES, build_fixture_router

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_a_normal_install_uses_the_compiled_core() -> None:
    if extensions_disabled():
        assert not fastevents.COMPILED
        assert _impl.Dispatcher is _core_py.Dispatcher
    else:
        assert fastevents.COMPILED, "the Cython core did not build or import"
        assert _impl.Dispatcher is not _core_py.Dispatcher
        module = sys.modules[_impl.Dispatcher.__module__]
        assert pathlib.Path(str(module.__file__)).suffix in (".so", ".pyd")
        assert EventProcessor(fastevents.EventRouter()).compiled


def _import_in_subprocess(
    package_root: pathlib.Path, prelude: str = "", package: str = "fastevents"
) -> subprocess.CompletedProcess[str]:
    code = prelude + f"\nimport warnings; warnings.simplefilter('always')\nimport {package}; print({package}.COMPILED)"
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    env.pop("FASTEVENTS_NO_EXTENSIONS", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=package_root, timeout=60
    )


@pytest.mark.slow
def test_a_built_core_that_refuses_to_load_warns_and_falls_back(tmp_path: pathlib.Path) -> None:
    # A copy under another name: the editable install's finder would serve "fastevents".
    package = tmp_path / "fastevents_copy"
    shutil.copytree(ROOT / "fastevents", package, ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"))
    (package / "_core.py").write_text("raise ImportError('built for another Python')\n")
    result = _import_in_subprocess(tmp_path, package="fastevents_copy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert "RuntimeWarning" in result.stderr and "built for another Python" in result.stderr


@pytest.mark.slow
def test_an_unbuilt_checkout_runs_on_the_twin_quietly(tmp_path: pathlib.Path) -> None:
    shutil.copytree(
        ROOT / "fastevents",
        tmp_path / "fastevents_copy",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"),
    )
    result = _import_in_subprocess(tmp_path, package="fastevents_copy")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "False", "")


@pytest.mark.slow
def test_other_interpreters_use_the_twin() -> None:
    prelude = (
        "import sys, types; sys.implementation = types.SimpleNamespace(**{**vars(sys.implementation), 'name': 'pypy'})"
    )
    result = _import_in_subprocess(ROOT, prelude)
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        ("No", False),
        (" off ", False),
        ("1", True),
        ("true", True),
        ("yes", True),
        ("anything", True),
    ],
)
def test_the_switch_reads_one_way(value: str | None, disabled: bool) -> None:
    environ = {} if value is None else {"FASTEVENTS_NO_EXTENSIONS": value}
    assert extensions_disabled(environ) is disabled


def test_the_build_reads_the_switch_through_the_same_function() -> None:
    setup = (ROOT / "setup.py").read_text()
    assert '"_switch.py"' in setup and "extensions_disabled()" in setup


@pytest.mark.skipif(len(CORES) < 2, reason="this build has no compiled core (FASTEVENTS_NO_EXTENSIONS)")
def test_both_twins_were_loaded() -> None:
    assert CORES["compiled"] is not CORES["python"]


# --- the twins agree ----------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
NAMES = [
    "get:event:example",
    "echo:payload",
    "async:echo",
    "fail:unhandled",
    "fail:typed",
    "fail:forbidden",
    "redirect:me",
    "context:read",
    "camel:schema",
    "unknown:event",
    "",
]
MISSING = object()


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": st.sampled_from(NAMES) | json_scalars,
        "version": st.sampled_from([1, 2, 9, "1", "2", "x", 1.0, None, True, -1]),
        "id": st.uuids().map(str) | st.none() | json_scalars,
        "flowId": st.uuids().map(str) | st.none() | json_scalars,
        "payload": st.fixed_dictionaries({"example": st.text(max_size=5)})
        | st.fixed_dictionaries({"firstName": st.text(max_size=3), "lastName": st.text(max_size=3)})
        | json_values,
        "identity": st.fixed_dictionaries({"userId": json_scalars}) | st.none() | json_values,
        "auth": st.none() | st.dictionaries(st.text(max_size=5), json_scalars, max_size=2) | json_scalars,
        "metadata": st.fixed_dictionaries({"origin": st.text(max_size=5)}) | st.none() | json_values,
        "sessionId": st.text(max_size=5),
    }
    envelope = {}
    for key, strategy in fields.items():
        present = draw(st.booleans()) if key not in ("name", "version") else draw(st.integers(0, 9)) > 0
        if present:
            envelope[key] = draw(strategy)
    return envelope


def normalised(answer: bytes, request: dict[str, Any]) -> Any:
    value = json.loads(answer)
    for key in ("id", "flowId"):
        if value[key] != request.get(key):
            uuid.UUID(value[key])  # a fresh id must still be a UUID
            value[key] = "<fresh>"
    if value["name"] == "context:read:response":  # echoes the (possibly fresh) ids
        value["payload"]["id"] = value["payload"]["flowId"] = "<ids>"
    return value


@pytest.mark.slow
@pytest.mark.skipif(len(CORES) < 2, reason="this build has no compiled core (FASTEVENTS_NO_EXTENSIONS)")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope=envelopes())
def test_compiled_and_pure_python_cores_give_identical_answers(envelope: dict[str, Any]) -> None:
    router = build_fixture_router()
    compiled = EventProcessor(router, core=CORES["compiled"])
    python = EventProcessor(router, core=CORES["python"])
    body = json.dumps(envelope).encode()
    assert normalised(compiled.process_event(body), envelope) == normalised(python.process_event(body), envelope)


@pytest.mark.skipif(len(CORES) < 2, reason="this build has no compiled core (FASTEVENTS_NO_EXTENSIONS)")
@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_the_cores_agree_on_arbitrary_bytes(body: bytes) -> None:
    router = build_fixture_router()
    answers = [json.loads(EventProcessor(router, core=core).process_event(body)) for core in CORES.values()]
    for answer in answers:  # fresh ids differ between runs, all else must not
        answer["id"] = answer["flowId"] = None
    assert answers[0] == answers[1]


@pytest.mark.slow
def test_env_switch_is_honoured_in_a_fresh_interpreter() -> None:
    import subprocess
    import sys

    code = "import fastevents; print(fastevents.COMPILED)"
    env = dict(os.environ, FASTEVENTS_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
