"""What every scenario module gets: the run's budget, progress output, the seed venv."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class RunContext:
    """The settings of one ``python -m benchmarks`` run."""

    quick: bool = False
    rounds: int = 11
    round_seconds: float = 0.1
    memory_dispatches: int = 1_000_000
    seed_memory_dispatches: int = 200_000
    #: HTTP server suite: warm-up, then interleaved rounds per server (8 s in all).
    server_warmup_seconds: float = 1.0
    server_rounds: int = 4
    server_round_seconds: float = 2.0
    server_connections: int = 64
    #: Client suite: interleaved rounds, one fresh client process per kind and round.
    client_rounds: int = 5
    client_round_seconds: float = 1.5
    use_seed: bool = True
    verbose: bool = True
    started: float = field(default_factory=time.perf_counter)
    _seed_python: str | None = None

    @classmethod
    def for_mode(cls, quick: bool, use_seed: bool = True) -> RunContext:
        if quick:
            return cls(
                quick=True,
                rounds=5,
                round_seconds=0.02,
                memory_dispatches=200_000,
                seed_memory_dispatches=20_000,
                server_warmup_seconds=1.0,
                server_rounds=2,
                server_round_seconds=1.0,
                client_rounds=3,
                client_round_seconds=0.5,
                use_seed=use_seed,
            )
        return cls(use_seed=use_seed)

    def settings(self) -> dict[str, Any]:
        return {
            "mode": "quick" if self.quick else "full",
            "rounds": self.rounds,
            "round_seconds": self.round_seconds,
            "memory_dispatches": self.memory_dispatches,
            "seed_memory_dispatches": self.seed_memory_dispatches,
            "server_warmup_seconds": self.server_warmup_seconds,
            "server_rounds": self.server_rounds,
            "server_round_seconds": self.server_round_seconds,
            "server_connections": self.server_connections,
            "client_rounds": self.client_rounds,
            "client_round_seconds": self.client_round_seconds,
        }

    def progress(self, message: str) -> None:
        """One line of progress on stderr, with the elapsed time."""
        if self.verbose:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def seed_python(self) -> str:
        """The seed venv's interpreter, created on first use (needs PyPI the first time)."""
        if self._seed_python is None:
            from tools.seedenv import ensure_seed_python

            self.progress("provisioning the events-protocol 0.2.4 venv (tools/seedenv.py)")
            self._seed_python = ensure_seed_python()
        return self._seed_python

    def run_seed_worker(self, *args: str) -> list[dict[str, Any]]:
        """Run ``seed_worker.py`` in the seed venv; its JSON lines, as they come."""
        command = [self.seed_python(), str(HERE / "seed_worker.py"), *args]
        records = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("{"):
                    record = json.loads(line)
                    records.append(record)
                    if "ns_per_op_min" in record:
                        self.progress(
                            f"  events-protocol 0.2.4 {record['scenario']}: "
                            f"{record['ns_per_op_min'] / 1000:.2f} us/event"
                        )
        if process.returncode:
            raise RuntimeError(f"seed_worker.py {' '.join(args)} exited with {process.returncode}")
        return records
