"""What the compiled core's tricks buy: the table of ``benchmarks/notes/1-core-tricks.md``.

    taskset -c 1 python -m benchmarks.core_tricks [--rounds 25] [--per-round 20000]

Builds four variants of the current ``fastevents/_core.pyx`` as their own extension modules
(``fastevents._core_trick1`` .. ``_core_trick4``, under ``build/core_tricks/``; a variant whose
source has not changed is not rebuilt), with setup.py's compiler flags and directives. Each
variant takes out tricks by small, named text transformations of the source; each
transformation checks that the code it replaces is there exactly once, so a change to the core
stops this script with a message instead of timing something else:

1. public API only: the three tricks taken out;
2. + the event's slots read at their C offsets (``slot_get``/``slot_set``);
3. + msgspec ``Raw`` read directly (``_RAW_DIRECT``);
4. + the body's ASCII check a word at a time (``_is_ascii``): the shipped core.

Every variant must answer the README example with the same bytes as the installed core. Then
all four dispatch it (``EventProcessor(router, core=variant).process_event``, the "bare"
workload of ``extending_cost.py``) in one process: interleaved rounds, the garbage collector
off, best round of each. The gain of a trick is the variant without it over the variant with
it, minus 1. Pin it to one CPU (``taskset``): the ratios are what to compare between machines.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import fastevents
from fastevents import EventProcessor

from .extending_cost import BODY, router

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "fastevents" / "_core.pyx"
BUILD = ROOT / "build" / "core_tricks"


class Transformation(NamedTuple):
    """Replace ``old`` (which must occur exactly once in the core) by ``new``."""

    name: str
    old: str
    new: str


# Taking out the slot offsets: the slot constants become the member descriptors themselves
# (fastevents._wire's *_SLOT), read and written through the descriptors' tp_descr_get and
# tp_descr_set, the C slots behind getattr and setattr on a msgspec Struct field.
SLOT_OFFSETS = [
    Transformation(
        "slot constants: descriptors, not offsets",
        "cdef Py_ssize_t _NAME = _offset(NAME_SLOT), _VERSION = _offset(VERSION_SLOT)\n"
        "cdef Py_ssize_t _ID = _offset(ID_SLOT), _FLOW_ID = _offset(FLOW_ID_SLOT), _PAYLOAD = _offset(PAYLOAD_SLOT)\n"
        "cdef Py_ssize_t _IDENTITY = _offset(IDENTITY_SLOT), _AUTH = _offset(AUTH_SLOT), "
        "_METADATA = _offset(METADATA_SLOT)\n",
        "cdef object _NAME = NAME_SLOT, _VERSION = VERSION_SLOT\n"
        "cdef object _ID = ID_SLOT, _FLOW_ID = FLOW_ID_SLOT, _PAYLOAD = PAYLOAD_SLOT\n"
        "cdef object _IDENTITY = IDENTITY_SLOT, _AUTH = AUTH_SLOT, _METADATA = METADATA_SLOT\n",
    ),
    Transformation(
        "slot_get: the descriptor's tp_descr_get",
        "cdef inline object slot_get(object event, Py_ssize_t offset):\n"
        "    cdef PyObject *value = (<PyObject**>((<char*><PyObject*>event) + offset))[0]\n"
        "    if value == NULL:  # pragma: no cover - msgspec always fills every field\n"
        '        raise AttributeError("unset field")\n'
        "    return <object>value\n",
        "cdef inline object slot_get(object event, object descriptor):\n"
        "    return Py_TYPE(descriptor).tp_descr_get(descriptor, event, type(event))\n",
    ),
    Transformation(
        "slot_set: the descriptor's tp_descr_set",
        "cdef inline int slot_set(object event, Py_ssize_t offset, object value) except -1:\n"
        "    cdef PyObject **where = <PyObject**>((<char*><PyObject*>event) + offset)\n"
        "    cdef PyObject *old = where[0]\n"
        "    Py_INCREF(value)\n"
        "    where[0] = <PyObject*>value\n"
        "    Py_XDECREF(old)\n"
        "    return 0\n",
        "cdef inline int slot_set(object event, object descriptor, object value) except -1:\n"
        "    return Py_TYPE(descriptor).tp_descr_set(descriptor, event, value)\n",
    ),
    Transformation(
        "cimport Py_TYPE",
        "from cpython.object cimport PyObject, PyObject_TypeCheck, PyTypeObject\n",
        "from cpython.object cimport Py_TYPE, PyObject, PyObject_TypeCheck, PyTypeObject\n",
    ),
]

# Taking out the direct Raw read: the probe's verdict is ignored, so _raw_data always goes
# through the buffer protocol (what the shipped core does when the probe disagrees).
RAW_DIRECT = [
    Transformation(
        "_RAW_DIRECT: always False",
        "\n_RAW_DIRECT = _raw_layout_known()\n",
        "\n_RAW_DIRECT = False\n",
    ),
]

# Taking out the word-at-a-time ASCII check: the body's bytes.isascii(), called.
ASCII_WORDS = [
    Transformation(
        "ASCII check: bytes.isascii()",
        "    if not _is_ascii(<const unsigned char*>PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body)):\n",
        "    if not body.isascii():\n",
    ),
]

#: (row of the table, what is taken out of the core): each adds one trick to the one above.
VARIANTS = [
    (
        "public API only: member descriptors' C slots, buffer protocol, `bytes.isascii()`",
        SLOT_OFFSETS + RAW_DIRECT + ASCII_WORDS,
    ),
    (
        "+ slots read at their C offsets (from the descriptors' `PyMemberDef`, checked at import)",
        RAW_DIRECT + ASCII_WORDS,
    ),
    ("+ msgspec `Raw` read directly (layout probed at import, else the buffer protocol)", ASCII_WORDS),
    ("+ the body's ASCII check a word at a time (instead of calling `bytes.isascii()`)", []),
]


def transform(source: str, transformations: list[Transformation]) -> str:
    """``source`` with every transformation applied; SystemExit if one's code is not found once."""
    for t in transformations:
        found = source.count(t.old)
        if found != 1:
            raise SystemExit(
                f"core_tricks: transformation {t.name!r} expects its code exactly once in "
                f"{CORE.relative_to(ROOT)}, found {found} times: the core changed, update "
                f"benchmarks/core_tricks.py\n--- expected:\n{t.old}"
            )
        source = source.replace(t.old, t.new)
    return source


def build(out: Path = BUILD) -> list[ModuleType]:
    """Compile and import the variants (``fastevents._core_trick<N>``, in the order of VARIANTS)."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    spec = importlib.util.spec_from_file_location("fastevents_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # for OPTIMISE: its __main__ block (the build) does not run
    core = CORE.read_text(encoding="utf-8")
    (out / "fastevents").mkdir(parents=True, exist_ok=True)
    extensions = []
    for number, (_, taken_out) in enumerate(VARIANTS, 1):
        pyx = out / "fastevents" / f"_core_trick{number}.pyx"
        source = transform(core, taken_out)
        if not pyx.exists() or pyx.read_text(encoding="utf-8") != source:  # unchanged: not rebuilt
            pyx.write_text(source, encoding="utf-8")
        extensions.append(Extension(f"fastevents.{pyx.stem}", [str(pyx)], extra_compile_args=setup.OPTIMISE))
    # setup.py's directives (the rest are in the .pyx's own "# cython:" line).
    compiled = cythonize(extensions, compiler_directives={"language_level": "3"}, quiet=True)
    command: Any = Distribution({"ext_modules": compiled}).get_command_obj("build_ext")
    command.build_lib, command.build_temp = str(out), str(out / "temp")
    command.ensure_finalized()
    command.run()
    modules = []
    for extension in compiled:
        spec = importlib.util.spec_from_file_location(extension.name, command.get_ext_fullpath(extension.name))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)  # fastevents.<name>: its relative imports
        spec.loader.exec_module(module)  # are the installed package's _wire, _answers...
        modules.append(module)
    return modules


def time_variants(processes: list[Any], rounds: int, per_round: int) -> list[float]:
    """Best seconds per dispatch of each; interleaved rounds, order rotating, gc off."""
    best = [float("inf")] * len(processes)
    for process in processes:  # warm-up
        for _ in range(per_round // 10):
            process(BODY)
    gc.collect()
    gc.disable()
    try:
        for index in range(rounds):
            for k in [(index + i) % len(processes) for i in range(len(processes))]:
                process = processes[k]
                started = time.perf_counter()
                for _ in range(per_round):
                    process(BODY)
                best[k] = min(best[k], (time.perf_counter() - started) / per_round)
    finally:
        gc.enable()
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--per-round", type=int, default=20_000)
    args = parser.parse_args(argv)
    if not fastevents.COMPILED:
        raise SystemExit("core_tricks: the installed compiled core does not load; build it first")
    modules = build()
    expected = EventProcessor(router(), core=fastevents._impl).process_event(BODY)
    processes = [EventProcessor(router(), core=module).process_event for module in modules]
    for (label, _), process in zip(VARIANTS, processes, strict=True):
        answer = process(BODY)
        if answer != expected:
            raise SystemExit(f"core_tricks: variant {label!r} answers\n{answer!r}\nnot\n{expected!r}")
    best = time_variants(processes, args.rounds, args.per_round)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"best of {args.rounds} rounds of {args.per_round:,} dispatches each; CPUs allowed: {cpus}")
    print("| variant (each adds one trick to the one above) | time per dispatch (best) | gain of the trick |")
    print("|---|---|---|")
    for number, ((label, _), seconds) in enumerate(zip(VARIANTS, best, strict=True)):
        gain = "" if number == 0 else f"{(best[number - 1] / seconds - 1) * 100:.1f}%"
        print(f"| {label} | {seconds * 1e9:.0f} ns | {gain} |")


if __name__ == "__main__":
    main()
