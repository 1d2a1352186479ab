"""Measure one in-process implementation's memory in a fresh process; prints one JSON line.

python -m benchmarks.memory_worker --impl compiled --number 1000000 [--scenario success]
"""

from __future__ import annotations

import argparse
import json
import sys

from . import harness, implementations, scenarios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=implementations.IN_PROCESS, required=True)
    parser.add_argument("--scenario", default="success")
    parser.add_argument("--number", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    scenario = scenarios.scenario_by_name(args.scenario)
    dispatch = implementations.implementations_for(scenario)[args.impl]
    record = {"impl": args.impl, "scenario": args.scenario, "ok": True}
    record.update(harness.measure_memory((dispatch, scenario.body), args.number))
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
