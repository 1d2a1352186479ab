"""What extending the server costs per event: the README example dispatched bare, with one
interceptor, with one exception handler, with a timeout, and with one observer registered,
side by side in one process (interleaved rounds, best of each), on the compiled core.

    python benchmarks/extending_cost.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import msgspec

import fastevents
from fastevents import EventObserver, EventProcessor, EventRouter

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--per-round", type=int, default=20_000)
    args = parser.parse_args()
    observed = EventProcessor(router())
    variants = {
        "bare": EventProcessor(router()).process_event,
        "one interceptor": EventProcessor(router(interceptors=[passthrough])).process_event,
        "one exception handler": EventProcessor(router(exception_handler=True)).process_event,
        "a timeout": EventProcessor(router(timeout=10.0)).process_event,
        "one observer": observed.process_event,
    }
    observer = Counting()
    for name, process in variants.items():
        assert b"get:event:example:response" in process(BODY), name
    best = dict.fromkeys(variants, float("inf"))
    gc.disable()
    for _ in range(args.rounds):
        for name, process in variants.items():
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
