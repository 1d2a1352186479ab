"""The request bodies and expected answers of every benchmark scenario.

Standard library only: this module is imported both by the main environment (fastevents,
pydantic, msgspec) and by ``seed_worker.py`` inside the seed venv (events-protocol 0.2.4 on
pydantic v1), so every implementation is timed on byte-identical requests.

Scenario groups:

* ``envelope``: read one envelope (the README example), no dispatch.
* ``dispatch``: full dispatch of the README example: ``success``, ``not_found``,
  ``bad_payload``, ``unhandled_error``.
* ``payload``: an echo handler with a typed list payload (``{"items": [Item, ...]}``,
  each item ``{"id": int, "name": str, "qty": int, "tags": [str, ...]}``) of about 300 B,
  10 KiB, 100 KiB and 1 MiB; every implementation decodes the list into its typed objects,
  and encodes them back as ``{"count": n, "items": [...]}``.
* ``routes``: the README example's handler registered under 1, 100, 10,000 and 100,000
  names; the request names the route registered last.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

EVENT_ID = "9230c47c-3bcf-11ea-b77f-2e728ce88125"
FLOW_ID = "a47830ca-3bcf-11ea-a232-2e728ce88125"

EXAMPLE_NAME = "get:event:example"
FAIL_NAME = "get:event:fail"
BATCH_NAME = "get:event:batch"
ECHO_NAME = "get:event:echo"

EXAMPLE_BODY = (
    b'{"name": "get:event:example", "version": 1, '
    b'"id": "9230c47c-3bcf-11ea-b77f-2e728ce88125", '
    b'"flowId": "a47830ca-3bcf-11ea-a232-2e728ce88125", '
    b'"payload": {"example": "example"}, "identity": {"userId": "USER_ID"}, '
    b'"auth": {"token": "SECRET-TOKEN"}, "metadata": {"date": "00-00-0000"}}'
)

#: The four dispatch outcomes, plus bad_protocol (which the old package cannot answer).
DISPATCH_BODIES: dict[str, bytes] = {
    "success": EXAMPLE_BODY,
    "not_found": EXAMPLE_BODY.replace(b'"get:event:example"', b'"get:event:unknown"'),
    "bad_payload": EXAMPLE_BODY.replace(b'{"example": "example"}', b'{"other": 1}'),
    "unhandled_error": EXAMPLE_BODY.replace(b'"get:event:example"', b'"get:event:fail"'),
}
BAD_PROTOCOL_BODY = b'{"name": "get:event:example", "version": 1,'

#: Payload sizes of the ``payload`` group: label -> target size of the payload in bytes.
PAYLOAD_SIZES: dict[str, int] = {
    "300 B": 300,
    "10 KiB": 10 * 1024,
    "100 KiB": 100 * 1024,
    "1 MiB": 1024 * 1024,
}
#: Router sizes of the ``routes`` group.
ROUTE_COUNTS: tuple[int, ...] = (1, 100, 10_000, 100_000)


def _item(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"item-{i:07d}", "qty": i % 97, "tags": ["alpha", "beta"]}


def batch_payload(target_bytes: int) -> dict[str, Any]:
    """A ``{"items": [...]}`` payload whose compact JSON is about ``target_bytes`` long."""
    items: list[dict[str, Any]] = []
    size = len(b'{"items":[]}')
    while True:
        item = _item(len(items))
        item_size = len(json.dumps(item, separators=(",", ":"))) + (1 if items else 0)
        if items and size + item_size > target_bytes:
            return {"items": items}
        items.append(item)
        size += item_size


def envelope(name: str, payload: Any) -> bytes:
    """A request with the README example's ids, identity, auth and metadata."""
    document = {
        "name": name,
        "version": 1,
        "id": EVENT_ID,
        "flowId": FLOW_ID,
        "payload": payload,
        "identity": {"userId": "USER_ID"},
        "auth": {"token": "SECRET-TOKEN"},
        "metadata": {"date": "00-00-0000"},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def route_name(index: int) -> str:
    """The name of the ``index``-th benchmark route: letters only.

    events-protocol 0.2.4 rejects names outside ``[a-z_]+[a-z]:[a-z_]+[a-z](:[a-z]+[a-z])*``,
    so digits are spelled in base 26 (``aaaa``, ``aaab``...).
    """
    letters = []
    for _ in range(4):
        index, digit = divmod(index, 26)
        letters.append(chr(ord("a") + digit))
    return "bench:route:" + "".join(reversed(letters))


def route_names(count: int) -> list[str]:
    """The names registered in the ``routes`` scenario with ``count`` routes."""
    return [route_name(i) for i in range(count)]


class Scenario(NamedTuple):
    """One timed request: its group, its name, the body, and the x value for charts."""

    group: str
    name: str
    body: bytes
    param: int | None = None  # payload bytes or route count
    label: str = ""


def all_scenarios() -> list[Scenario]:
    """Every scenario of the in-process comparison, in report order."""
    scenarios = [Scenario("envelope", "envelope", EXAMPLE_BODY, None, "decode envelope")]
    scenarios += [Scenario("dispatch", name, body, None, name) for name, body in DISPATCH_BODIES.items()]
    for label, size in PAYLOAD_SIZES.items():
        payload = batch_payload(size)
        actual = len(json.dumps(payload, separators=(",", ":")))
        scenarios.append(
            Scenario("payload", f"payload_{size}", envelope(BATCH_NAME, payload), actual, f"payload {label}")
        )
    for count in ROUTE_COUNTS:
        body = envelope(route_name(count - 1), {"example": "example"})
        label = f"{count:,} route" + ("s" if count > 1 else "")
        scenarios.append(Scenario("routes", f"routes_{count}", body, count, label))
    return scenarios


def scenario_by_name(name: str) -> Scenario:
    for scenario in all_scenarios():
        if scenario.name == name:
            return scenario
    raise KeyError(name)


# --- the answers the protocol asks for ------------------------------------------------


class WrongAnswer(Exception):
    """An implementation does not give the protocol's answer: timing it would compare different work."""


def _answer(name: str, payload: Any, version: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "id": EVENT_ID,
        "flowId": FLOW_ID,
        "payload": payload,
        "identity": {},
        "auth": {},
        "metadata": {},
    }


#: What stands for a library-specific validation message in :func:`normalise`.
ANY_TEXT = "<text>"


def expected_answer(scenario: Scenario) -> dict[str, Any] | None:
    """The protocol's answer to ``scenario`` (``None`` for the envelope-only group).

    The text of a ``badRequest`` field message is each validation library's own, so it is
    compared as :data:`ANY_TEXT` (see :func:`normalise`); everything else is exact.
    """
    if scenario.group == "envelope":
        return None
    if scenario.group == "payload":
        payload = json.loads(scenario.body)["payload"]
        return _answer(BATCH_NAME + ":response", {"count": len(payload["items"]), "items": payload["items"]})
    if scenario.group == "routes":
        name = json.loads(scenario.body)["name"]
        return _answer(name + ":response", {"MyEventPayload": "example"})
    if scenario.name == "success":
        return _answer(EXAMPLE_NAME + ":response", {"MyEventPayload": "example"})
    if scenario.name == "not_found":
        return _answer(
            "eventNotFound",
            {"code": "NO_EVENT_HANDLER_FOUND", "parameters": {"event": "get:event:unknown", "version": 1}},
        )
    if scenario.name == "bad_payload":
        field = {"name": "example", "errorType": "missing", "message": ANY_TEXT}
        return _answer(EXAMPLE_NAME + ":badRequest", {"code": "MISSING_FIELDS", "parameters": {"fields": [field]}})
    if scenario.name == "unhandled_error":
        return _answer(FAIL_NAME + ":error", {"code": "UNHANDLED_ERROR", "parameters": {}})
    raise KeyError(scenario.name)


def normalise(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with badRequest field messages replaced by :data:`ANY_TEXT`."""
    payload = answer.get("payload")
    if isinstance(payload, dict) and payload.get("code") == "MISSING_FIELDS":
        fields = payload.get("parameters", {}).get("fields", [])
        fields = [dict(f, message=ANY_TEXT) if isinstance(f, dict) else f for f in fields]
        payload = dict(payload, parameters=dict(payload["parameters"], fields=fields))
        answer = dict(answer, payload=payload)
    return answer


def compare_answer(scenario: Scenario, body: bytes | None) -> str:
    """``"ok"`` when ``body`` is the protocol's answer (key order included), else what differs."""
    want = expected_answer(scenario)
    if want is None:
        return "ok"
    if body is None:
        return "no answer (an exception escaped)"
    try:
        got = json.loads(body)
    except ValueError:
        return "answer is not JSON"
    if not isinstance(got, dict):
        return "answer is not a JSON object"
    got = normalise(got)
    problems = [f"{key}={json.dumps(got.get(key))[:60]}" for key in want if got.get(key) != want[key]]
    problems += [f"extra key {key}" for key in got if key not in want]
    if not problems and list(got) != list(want):
        problems.append("key order differs")
    return "ok" if not problems else "differs: " + ", ".join(problems)
