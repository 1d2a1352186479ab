"""``python -m benchmarks``: run every scenario module, print the table, write the reports.

    python -m benchmarks            # full run (a few minutes)
    python -m benchmarks --quick    # smoke run, about a minute
    python -m benchmarks --from-json benchmarks/results.json   # re-render only
    python -m benchmarks --update-committed   # a full run that rewrites the committed report

A run writes ``results.json``, ``chart.svg`` and ``BENCHMARKS.md`` under ``build/benchmarks/``
(or ``--out DIR``), so running the Quick start leaves the checkout clean. Only
``--update-committed`` rewrites the committed ``BENCHMARKS.md``, ``benchmarks/results.json``
and ``benchmarks/chart.svg``. An in-process implementation that does not give the protocol's
answer stops the run before anything is written (exit status 1).

Scenario modules are listed in :data:`SUITES`; each is a module ``benchmarks.suite_<name>``
with ``NAME``, ``TITLE``, ``unavailable() -> str | None`` and ``run(ctx) -> dict``. Adding a
family of scenarios (the ASGI server, the clients) is adding one such module here.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import fastevents

from . import report, scenarios
from .context import HERE, RunContext

#: The scenario modules, in run order.
SUITES: tuple[str, ...] = ("dispatch", "memory", "server", "clients")
ROOT = HERE.parent
#: Where a run writes its report unless told otherwise (``build/`` is git-ignored).
BUILD_DIR = ROOT / "build" / "benchmarks"
#: The committed report: (results, chart, markdown), rewritten only with ``--update-committed``.
COMMITTED = (HERE / "results.json", HERE / "chart.svg", ROOT / "BENCHMARKS.md")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _idle_ticks() -> dict[int, int]:
    ticks = {}
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    ticks[int(name[3:])] = int(fields[3]) + int(fields[4])  # idle + iowait
    except OSError:
        pass
    return ticks


def pin_to_one_core() -> str:
    """Pin this process (and so every process it starts) to one CPU; say which.

    The CPU picked is the idlest over half a second (from ``/proc/stat``), else the last.
    """
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    cpus = sorted(os.sched_getaffinity(0))
    before = _idle_ticks()
    time.sleep(0.5)
    after = _idle_ticks()
    idle = {cpu: after.get(cpu, 0) - before.get(cpu, 0) for cpu in cpus}
    cpu = max(reversed(cpus), key=lambda c: idle[c])
    os.sched_setaffinity(0, {cpu})
    return (
        f"whole run pinned to CPU {cpu} of {len(cpus)} (the idlest at the start) with "
        "os.sched_setaffinity; every process it starts inherits it"
    )


def machine(pinning: str) -> dict[str, Any]:
    import fastevents

    versions = {}
    for dist in ("msgspec", "pydantic", "pydantic-core", "Cython", "httpx"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    versions["fastevents"] = fastevents.__version__
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "pinning": pinning,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "versions": versions,
        "core": "compiled (fastevents._core, Cython)" if fastevents.COMPILED else "pure Python (fastevents._core_py)",
    }


def load_suite(name: str) -> tuple[Any | None, str | None]:
    """The scenario module ``name``, or why it cannot run."""
    module_name = f"benchmarks.suite_{name}"
    if importlib.util.find_spec(module_name) is None:
        return None, f"no scenario module benchmarks/suite_{name}.py yet"
    module = importlib.import_module(module_name)
    reason = module.unavailable()
    return (None, reason) if reason else (module, None)


def run_all(ctx: RunContext, suites: tuple[str, ...] = SUITES) -> dict[str, Any]:
    """Run the scenario modules; the results dictionary (what ``results.json`` holds)."""
    results: dict[str, Any] = {"suites": {}, "skipped": {}}
    for name in suites:
        module, reason = load_suite(name)
        if module is None:
            ctx.progress(f"skipping {name}: {reason}")
            results["skipped"][name] = reason
            continue
        ctx.progress(f"== {module.TITLE}")
        results["suites"][name] = module.run(ctx)
    return results


def output_paths(out: Path | None, update_committed: bool) -> tuple[Path, Path, Path]:
    """(results, chart, markdown): the committed files with ``update_committed``, else under ``out``."""
    if update_committed:
        return COMMITTED
    folder = out or BUILD_DIR
    return folder / "results.json", folder / "chart.svg", folder / "BENCHMARKS.md"


def write_outputs(results: dict[str, Any], json_path: Path, chart_path: Path, markdown_path: Path) -> None:
    for path in (json_path, chart_path, markdown_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    chart_path.write_text(report.svg_chart(results), encoding="utf-8")
    chart_link = Path(os.path.relpath(chart_path, markdown_path.parent)).as_posix()
    markdown_path.write_text(report.markdown_document(results, chart_link), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short rounds, fewer dispatches (< 2 min)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, help=f"folder of the report files (default: {BUILD_DIR.relative_to(ROOT)})")
    where.add_argument(
        "--update-committed",
        action="store_true",
        help="rewrite the committed BENCHMARKS.md, benchmarks/results.json and benchmarks/chart.svg",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the run to one CPU")
    parser.add_argument(
        "--no-seed", action="store_true", help="leave out events-protocol 0.2.4 (no seed venv: no PyPI access)"
    )
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated scenario modules")
    parser.add_argument("--from-json", type=Path, help="re-render the reports from saved results")
    args = parser.parse_args(argv)

    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    elif not fastevents.COMPILED:
        # The comparison is about the compiled core: timing the twin under its name would lie.
        print(
            "python -m benchmarks: the compiled core is not in use (FASTEVENTS_NO_EXTENSIONS is set, "
            f"or fastevents at {Path(fastevents.__file__).parent} was never built); "
            'build it in place with: pip install -e ".[bench]"',
            file=sys.stderr,
        )
        return 2
    else:
        pinning = "not pinned (--no-pin)" if args.no_pin else pin_to_one_core()
        ctx = RunContext.for_mode(args.quick, use_seed=not args.no_seed)
        ctx.progress(f"benchmarks ({'quick' if args.quick else 'full'}): {pinning}")
        started = time.perf_counter()
        results = {
            "command": "python -m benchmarks" + (" --quick" if args.quick else ""),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(pinning),
            "settings": ctx.settings(),
        }
        try:
            results.update(run_all(ctx, tuple(s for s in args.suites.split(",") if s)))
        except scenarios.WrongAnswer as exc:
            print(f"python -m benchmarks: {exc}; nothing written", file=sys.stderr)
            return 1
        if args.no_seed:
            results["skipped"]["events-protocol 0.2.4"] = "left out with --no-seed"
        results["duration_seconds"] = round(time.perf_counter() - started, 1)
    json_path, chart_path, markdown_path = output_paths(args.out, args.update_committed)
    write_outputs(results, json_path, chart_path, markdown_path)

    print(report.timing_table(results))
    print(report.targets_text(results))
    if "memory" in results.get("suites", {}):
        print(report.memory_table(results))
    if "server" in results.get("suites", {}):
        print(report.server_table(results))
    if "clients" in results.get("suites", {}):
        print(report.clients_table(results))
    for note in report.answer_notes(results):
        print(f"† {note}")
    for name, reason in results.get("skipped", {}).items():
        print(f"not measured: {name}: {reason}")
    print(f"\nwrote {json_path}, {chart_path}, {markdown_path}", file=sys.stderr)
    return 0
