"""What exact numbers cost in a plain (unannotated) payload: msgspec's own decode of a body,
next to fastevents' plain-payload decode of the same body on each core, and the exact decoder
every number went through before (a Python call per number), side by side in one process
(interleaved rounds, min and median of each; ``harness.interleaved``).

    python -m benchmarks.exact_numbers [--rounds N] [--round-seconds S]

Bodies of about 1 MiB (the server's default ``--max-body``). A body in which a number needs its
exact text and that holds more than ``MAX_EXACT_NUMBERS`` numbers is refused: for those the
time to the refusal is what is shown.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from typing import Any

import msgspec

from fastevents import _core_py
from fastevents._wire import MAX_EXACT_NUMBERS, decode_plain_slow

from . import harness

try:
    from fastevents import _core as compiled
except ImportError:  # a pure build
    compiled = None  # type: ignore[assignment]

MIB = 1024 * 1024


def _array(texts: Callable[[], str], size: int = MIB) -> bytes:
    parts: list[str] = []
    total = 2
    while total < size:
        text = texts()
        parts.append(text)
        total += len(text) + 1
    return ("[" + ",".join(parts) + "]").encode()


def bodies() -> dict[str, bytes]:
    rng = random.Random(15)
    mixed = ["1.5", "-0.25", "10.0", "0.0001", "12", "123456.789", "7"]
    exact = "[" + ",".join(["1.5"] * (MAX_EXACT_NUMBERS - 1) + ["2.50"]) + "]"
    return {
        "short fractions (1.5)": _array(lambda: "1.5"),
        "random floats (repr)": _array(lambda: repr(rng.random() * 1000)),
        "integers": _array(lambda: str(rng.randrange(10**9))),
        "mixed, all written back as sent": _array(lambda: rng.choice(mixed)),
        "objects with fractions": _array(
            lambda: f'{{"price":{rng.randrange(999)}.{rng.choice("123456789")}5,"qty":3}}'
        ),
        f"{MAX_EXACT_NUMBERS} numbers, one exact (2.50)": exact.encode(),
        "exact only (2.50), refused": _array(lambda: "2.50"),
        "one exact among 1.5s, refused": _array(lambda: "1.5")[:-1] + b",2.50]",
        "exponents (1E5), refused": _array(lambda: "1E5"),
    }


def _refused_or_value(decode: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(data: Any) -> Any:
        try:
            return decode(data)
        except msgspec.ValidationError:
            return None

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--round-seconds", type=float, default=0.15)
    args = parser.parse_args()
    print(f"{'body':42} {'msgspec':>9} {'compiled':>9} {'pure':>9} {'before':>9}   compiled/msgspec  pure/msgspec")
    for label, body in bodies().items():
        raw = msgspec.Raw(body)
        operations: dict[str, harness.Operation] = {
            "msgspec": (msgspec.json.decode, body),
            "pure": (_refused_or_value(_core_py.decode_plain_payload), raw),
            "before": (decode_plain_slow, body),
        }
        if compiled is not None:
            operations["compiled"] = (_refused_or_value(compiled.decode_plain_payload), raw)
        timed = harness.interleaved(operations, args.rounds, args.round_seconds)
        ms = {key: result["ns_min"] / 1e6 for key, result in timed.items()}
        base = ms["msgspec"]
        row = (
            f"{label:42} {base:8.2f}m {ms.get('compiled', float('nan')):8.2f}m {ms['pure']:8.2f}m {ms['before']:8.2f}m"
        )
        print(f"{row}   {ms.get('compiled', float('nan')) / base:15.2f}x {ms['pure'] / base:12.2f}x", flush=True)
    print("(m: milliseconds, min of the interleaved rounds)")


if __name__ == "__main__":
    main()
