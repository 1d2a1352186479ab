"""What extending the server costs per event: the README example dispatched bare, with one
interceptor, with one exception handler, with a timeout, and with one observer registered,
on the compiled core. The "Extending the server" table of BENCHMARKS.md
(``benchmarks/notes/2-extending.md``).

    python -m benchmarks.extending_cost [--rounds N]    # time: interleaved rounds, best of each
    python -m benchmarks.extending_cost --instructions  # instructions per event under callgrind

Run it from the checkout's root with ``-m``, so that the checkout's ``fastevents`` is the one
imported. The time is taken with the variants side by side in one process; the instruction
counts from callgrind runs of 1,000 and 6,000 events of one variant each (after the same
warm-up), the difference divided by 5,000. The garbage collector is off while events are
dispatched, in both modes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Any

import msgspec

import fastevents
from fastevents import EventObserver, EventProcessor, EventRouter

from . import harness

BODY = (
    b'{"name": "get:event:example", "version": 1, "id": "9230c47c-3bcf-11ea-b77f-2e728ce88125", '
    b'"flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125", "payload": {"example": "example"}, '
    b'"identity": {"userId": "USER_ID"}, "auth": {"token": "SECRET-TOKEN"}, "metadata": {"date": "00-00-0000"}}'
)


class Example(msgspec.Struct):
    example: str


def example(event: Any, payload: Example) -> Any:
    return {"MyEventPayload": payload.example}


def passthrough(event: Any, call_next: Any) -> Any:
    return call_next(event)


class Counting(EventObserver):
    def __init__(self) -> None:
        self.count = 0

    def event_ended(self, call: Any, state: Any) -> None:
        self.count += 1


def router(**extend: Any) -> EventRouter:
    r = EventRouter(interceptors=extend.get("interceptors", ()))
    if "exception_handler" in extend:
        r.add_exception_handler(LookupError, lambda event, exc: {})
    r.add("get:event:example", 1, example, timeout=extend.get("timeout"))
    return r


def variants() -> dict[str, Any]:
    """Each variant's ``process_event``; "one observer" is bare until an observer is added."""
    return {
        "bare": EventProcessor(router()).process_event,
        "one interceptor": EventProcessor(router(interceptors=[passthrough])).process_event,
        "one exception handler": EventProcessor(router(exception_handler=True)).process_event,
        "a timeout": EventProcessor(router(timeout=10.0)).process_event,
        "one observer": EventProcessor(router()).process_event,
    }


def run_one(name: str, calls: int, warmup: int = 200) -> None:
    """Dispatch ``warmup`` then ``calls`` events of one variant: the process callgrind counts."""
    process = variants()[name]
    observer = Counting()
    if name == "one observer":
        fastevents.add_observer(observer)
    try:
        for _ in range(warmup):
            answer = process(BODY)
        gc.disable()
        for _ in range(calls):
            answer = process(BODY)
    finally:
        gc.enable()
        if name == "one observer":
            fastevents.remove_observer(observer)
    assert b"get:event:example:response" in answer, name
    assert observer.count == (warmup + calls if name == "one observer" else 0), name
    print(f"{name}: {warmup + calls} events answered")


def count_instructions(low: int = 1000, high: int = 6000) -> None:
    """Instructions per event of every variant, and over bare."""
    counts: dict[str, float] = {}
    for name in variants():
        command = [sys.executable, "-m", "benchmarks.extending_cost", "--one", name]
        counts[name] = harness.instructions_per_call(command, low, high)
        print(f"{name}: {counts[name]:,.0f} instructions per event", flush=True)
    bare = counts["bare"]
    print()
    print(f"callgrind, ({high:,} events - {low:,} events) / {high - low:,}; compiled core: {fastevents.COMPILED}")
    print("| variant | instructions per event | instructions over bare |")
    print("|---|---|---|")
    for name, count in counts.items():
        extra = "" if name == "bare" else f"+{count - bare:,.0f} (+{(count - bare) / bare:.0%})"
        print(f"| {name} | {count:,.0f} | {extra} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--per-round", type=int, default=20_000)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per event under callgrind instead (slow: a few minutes)",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one variant, --calls events: callgrind's run
    parser.add_argument("--calls", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one, args.calls)
        return
    if args.instructions:
        count_instructions()
        return
    processes = variants()
    observer = Counting()
    for name, process in processes.items():
        assert b"get:event:example:response" in process(BODY), name
    best = dict.fromkeys(processes, float("inf"))
    gc.disable()
    for _ in range(args.rounds):
        for name, process in processes.items():
            if name == "one observer":
                fastevents.add_observer(observer)
            started = time.perf_counter()
            for _ in range(args.per_round):
                process(BODY)
            best[name] = min(best[name], (time.perf_counter() - started) / args.per_round)
            if name == "one observer":
                fastevents.remove_observer(observer)
    gc.enable()
    assert observer.count == args.rounds * args.per_round
    bare = best["bare"]
    print(f"compiled core: {fastevents.COMPILED}")
    print("| variant | time per event (best) | cost over bare |")
    print("|---|---|---|")
    for name, seconds in best.items():
        extra = "" if name == "bare" else f"+{(seconds - bare) * 1e9:.0f} ns ({seconds / bare:.2f}x)"
        print(f"| {name} | {seconds * 1e9:.0f} ns | {extra} |")


if __name__ == "__main__":
    main()
