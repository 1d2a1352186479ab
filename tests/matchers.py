"""The conformance cases' expectation markers ($uuid, $any, $nonempty, $has)."""

from __future__ import annotations

import uuid
from typing import Any


def matches(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Differences between ``actual`` and the marked-up ``expected``; empty when it matches."""
    if expected == "$any":
        return []
    if expected == "$uuid":
        try:
            uuid.UUID(actual)
        except (TypeError, ValueError, AttributeError):
            return [f"{path}: {actual!r} is not a UUID"]
        return []
    if expected == "$nonempty":
        return [] if isinstance(actual, list) and actual else [f"{path}: {actual!r} is not a non-empty list"]
    if isinstance(expected, dict) and set(expected) == {"$has"}:
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        problems = []
        for key, value in expected["$has"].items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += matches(actual[key], value, f"{path}.{key}")
        return problems
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        problems = [f"{path}: keys {list(actual)} != {list(expected)}"] if set(actual) != set(expected) else []
        for key, value in expected.items():
            if key in actual:
                problems += matches(actual[key], value, f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} != {expected!r}"]
        return [p for i, (a, e) in enumerate(zip(actual, expected, strict=True)) for p in matches(a, e, f"{path}[{i}]")]
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path}: {actual!r} != {expected!r}"]
    return []
