"""Scenario module: memory over many dispatches, each implementation in a fresh process.

Resident size before and after N dispatches of the success scenario, the process's peak
RSS, blocks kept per event (``sys.getallocatedblocks``) and the memory allocated while one
event is handled (``tracemalloc`` peak). Runs one process at a time, on the pinned core.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from . import implementations
from .context import RunContext

NAME = "memory"
TITLE = "Memory"
SCENARIO = "success"


def unavailable() -> str | None:
    return None


def run(ctx: RunContext) -> dict[str, Any]:
    rows = []
    for impl in implementations.IN_PROCESS:
        ctx.progress(f"memory: {implementations.LABELS[impl]}, {ctx.memory_dispatches:,} dispatches")
        output = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.memory_worker",
                "--impl",
                impl,
                "--scenario",
                SCENARIO,
                "--number",
                str(ctx.memory_dispatches),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=str(_repo_root()),
        ).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    if ctx.use_seed:
        ctx.progress(f"memory: events-protocol 0.2.4, {ctx.seed_memory_dispatches:,} dispatches")
        record = ctx.run_seed_worker("--memory", str(ctx.seed_memory_dispatches), "--scenario", SCENARIO)[-1]
        record["impl"] = "seed"
        rows.append(record)
    for row in rows:
        ctx.progress(
            f"    {implementations.LABELS[row['impl']]}: RSS +{row['rss_growth_mib']:.2f} MiB, "
            f"peak {row['peak_rss_mib']:.1f} MiB"
        )
    return {"rows": rows, "scenario": SCENARIO}


def _repo_root() -> Any:
    from .context import HERE

    return HERE.parent
