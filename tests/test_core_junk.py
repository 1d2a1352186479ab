"""No Python call can crash the interpreter: every callable the compiled core exposes,
called with junk arguments, raises an ordinary exception (or answers), in a subprocess
whose exit status shows a crash (a segfault is a negative status)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import CORES

pytestmark = pytest.mark.slow

PROBE = r"""
import itertools, json, sys
import msgspec
import fastevents
from fastevents import EventRouter, EventProcessor
from fastevents._model import RequestEvent, wire_decoder
core = __import__("fastevents._core", fromlist=["_core"])

junk = [None, 0, -1, 2**70, "x", b"{}", b'{"name":"a:b","version":1}', bytearray(b"[]"), 1.5,
        msgspec.Raw(b'"x"'), (1, 2), [], {}, object(), lambda *a: (1, 2), lambda *a: None,
        lambda *a: msgspec.Raw(b"{}"), RequestEvent, core.Pending()]

router = EventRouter()
router.add("a:b", 1, lambda event: {"ok": True})
async def later(event):
    return 1
router.add("a:later", 1, later)
route = core.Route("a:b", 1, lambda event: 1, 0, None, False)
decode = wire_decoder(RequestEvent).decode
dispatcher = core.Dispatcher({("a:b", 1): route}, decode)
pending = dispatcher.dispatch_async(b'{"name":"a:b","version":1}')
processor = EventProcessor(router, core=core)
pending_real = processor._dispatcher.dispatch_async(b'{"name":"a:later","version":1}')
junk += [route, dispatcher, pending_real]

callables = {name: getattr(core, name) for name in dir(core) if not name.startswith("__") and callable(getattr(core, name))}
for instance in (route, dispatcher, core.Pending(), pending_real):
    for name in dir(instance):
        if not name.startswith("__") and callable(getattr(instance, name)):
            callables[f"{type(instance).__name__}.{name}"] = getattr(instance, name)
# Unbound, through the class: the first junk argument is ``self`` (Cython's binding functions
# once took any object there and read it as the class's struct).
for cls in (core.Route, core.Dispatcher, core.Pending):
    for name in dir(cls):
        if name not in ("__class__", "__new__", "__init_subclass__", "__subclasshook__"):
            if callable(getattr(cls, name)):
                callables[f"{cls.__name__}.{name} (unbound)"] = getattr(cls, name)
calls = 0
for name, fn in sorted(callables.items()):
    for arity in range(0, 7):
        combos = itertools.product(junk, repeat=arity) if arity <= 2 else (
            tuple(junk[(i * 7 + k * 3) % len(junk)] for k in range(arity)) for i in range(60))
        for args in combos:
            calls += 1
            try:
                fn(*args)
            except Exception:
                pass
pending_real.awaitable.close()
print(json.dumps({"calls": calls, "callables": sorted(callables)}))
"""


@pytest.mark.skipif("compiled" not in CORES, reason="this build has no compiled core (FASTEVENTS_NO_EXTENSIONS)")
def test_every_compiled_callable_survives_junk_arguments() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["calls"] > 1000
    # What the review crashed: both are among the callables probed.
    assert {"Dispatcher.finish", "Dispatcher.fail", "read_envelope"} <= set(report["callables"])
    unbound = {"Dispatcher.dispatch", "Dispatcher.dispatch_async", "Dispatcher.finish", "Dispatcher.fail"}
    assert {f"{name} (unbound)" for name in unbound} <= set(report["callables"])


@pytest.mark.skipif("compiled" not in CORES, reason="this build has no compiled core (FASTEVENTS_NO_EXTENSIONS)")
@pytest.mark.parametrize(
    "call",
    [
        "core.read_envelope(b'{}', lambda b: (1, 2))",
        'core.read_envelope(b\'{"name":"a:b","version":1}\', lambda b: 5)',
        "core.Dispatcher({}, lambda b: 'x').dispatch(b'{}')",
        "core.Dispatcher({}, decode).finish(core.Pending(), 1)",
        "core.Dispatcher({}, decode).fail(core.Pending(), ValueError())",
        "core.Dispatcher({}, decode).finish('x', 1)",
        "core.Route(5, 1, None, 0, None, False)",
        "core.Route('a', '1', None, 0, None, False)",
        "core.Dispatcher(None, decode)",
        "core.Dispatcher.dispatch(None, None)",
        "core.Dispatcher.dispatch_async(core.Route('a', 1, None, 0, None, False), b'{}')",
        "core.Dispatcher.finish(None, None, None)",
    ],
)
def test_the_review_s_crashing_calls_raise_type_error(call: str) -> None:
    code = (
        "from fastevents._model import RequestEvent, wire_decoder\n"
        "import fastevents._core as core\n"
        "decode = wire_decoder(RequestEvent).decode\n"
        f"try:\n    {call}\nexcept TypeError as exc:\n    print('TypeError', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.startswith("TypeError"), result.stdout + result.stderr
