"""Timing, memory and instruction counts, standard library only (also runs in the seed venv).

Timing: every operation is a callable and one argument (a request body), called in a tight
``for`` loop, so no lambda or wrapper adds a per-call cost that would dilute the ratios. When
several implementations are compared, their rounds are interleaved (A, B, C, A, B, C...) in
one process so that machine noise hits all of them alike; each reports the min and median
over its rounds. The garbage collector stays on, as in production.
"""

from __future__ import annotations

import gc
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from itertools import repeat
from typing import Any

Operation = tuple[Callable[[Any], Any], Any]  # (function, argument)

_MIB = 1024 * 1024


def time_round(operation: Operation, number: int) -> int:
    """Nanoseconds taken by ``number`` calls of ``operation``."""
    function, argument = operation
    start = time.perf_counter_ns()
    for _ in repeat(None, number):
        function(argument)
    return time.perf_counter_ns() - start


def calibrate(operation: Operation, round_seconds: float) -> int:
    """A loop count whose round lasts about ``round_seconds`` (at least one call)."""
    number = 1
    while True:
        elapsed = time_round(operation, number)
        if elapsed >= 0.01e9 or number >= 1 << 24:
            return max(1, round(number * round_seconds * 1e9 / max(elapsed, 1)))
        number *= 4


def interleaved(operations: dict[str, Operation], rounds: int, round_seconds: float) -> dict[str, dict[str, Any]]:
    """Time every operation in interleaved rounds; ``{key: {ns_min, ns_median, ...}}``.

    The order of the implementations rotates from round to round, so none is always
    the first one after another's garbage.
    """
    numbers = {key: calibrate(op, round_seconds) for key, op in operations.items()}
    for key, op in operations.items():  # warm-up
        time_round(op, max(1, numbers[key] // 5))
    samples: dict[str, list[float]] = {key: [] for key in operations}
    keys = list(operations)
    for index in range(rounds):
        shift = index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(time_round(operations[key], numbers[key]) / numbers[key])
    return {
        key: {
            "ns_min": round(min(per_op), 1),
            "ns_median": round(statistics.median(per_op), 1),
            "rounds": rounds,
            "number": numbers[key],
        }
        for key, per_op in samples.items()
    }


def instructions_per_call(command: list[str], low: int, high: int) -> float:
    """Instructions per call under callgrind: ``command --calls N`` runs for ``low`` and
    ``high`` calls, the difference of the totals divided by ``high - low``. Startup, imports
    and warm-up cancel out, and the count does not depend on the machine's load."""
    collected = []
    for calls in (low, high):
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command, "--calls", str(calls)],
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"Collected : (\d+)", result.stderr)
        assert match is not None, result.stderr
        collected.append(int(match.group(1)))
    return (collected[1] - collected[0]) / (high - low)


def rss_bytes() -> int:
    """The resident set size of this process now (Linux ``/proc``; else the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The peak resident set size of this process (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over from the parent across fork and exec, so
    a worker started by a big process would report its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure_memory(operation: Operation, number: int, traced: int = 2000) -> dict[str, Any]:
    """Memory of ``number`` calls of ``operation``, in a process of its own.

    * RSS before and after ``number`` calls (after a warm-up and a full collection each
      side), and the process's peak RSS;
    * ``sys.getallocatedblocks()`` before and after: blocks *kept* per call (a leak shows
      here long before it shows in RSS);
    * with :mod:`tracemalloc` on, for ``traced`` further calls: the median and max of the
      peak of memory allocated while one call runs, above what was live before it.
    """
    function, argument = operation
    for _ in range(min(number, 2000)):  # warm-up: caches, free lists, lazily built state
        function(argument)
    gc.collect()
    rss_before = rss_bytes()
    blocks_before = sys.getallocatedblocks()
    start = time.perf_counter()
    for _ in repeat(None, number):
        function(argument)
    seconds = time.perf_counter() - start
    gc.collect()
    blocks_after = sys.getallocatedblocks()
    rss_after = rss_bytes()

    tracemalloc.start()
    peaks = []
    for _ in range(traced):
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        function(argument)
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
    tracemalloc.stop()
    return {
        "dispatches": number,
        "seconds": round(seconds, 3),
        "rss_before_mib": round(rss_before / _MIB, 2),
        "rss_after_mib": round(rss_after / _MIB, 2),
        "rss_growth_mib": round((rss_after - rss_before) / _MIB, 3),
        "peak_rss_mib": round(peak_rss_bytes() / _MIB, 2),
        "blocks_kept_per_event": round((blocks_after - blocks_before) / number, 4),
        "traced_peak_bytes_median": int(statistics.median(peaks)),
        "traced_peak_bytes_max": max(peaks),
    }
