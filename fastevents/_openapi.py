"""The OpenAPI 3.1 document of a router, built from its catalogue (``fastevents._catalogue``).

The events protocol has one endpoint, so the document has one operation, ``POST <path>``:

- its request body is a ``oneOf`` with one envelope per (name, version), whose ``name`` and
  ``version`` are ``const`` and whose ``payload`` is the event's JSON Schema;
- its ``200`` answer is a ``oneOf`` of every answer the server can give: per event, the
  success ``<name>:response`` (the response's schema) and the error answers
  ``<name>:<errorType>`` (``{code, parameters}``); then the bare ``eventNotFound`` and
  ``badProtocol`` answers (docs/protocol.md §2). Every protocol outcome is HTTP 200; the
  other statuses are transport problems, answered in plain text (docs/protocol.md §4).

The catalogue's named schemas are the document's ``components.schemas`` unchanged (the
catalogue already uses OpenAPI's ``#/components/schemas/`` references); the shared parts of
the protocol are added under names starting with ``fastevents.``, which no Python class has.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ._errors import PayloadValidationError
from ._wire import ENVELOPE_KEYS, EventErrorType

__all__ = ["OPENAPI_VERSION", "openapi"]

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/"

# Shared components (names with a dot: no Python class, so no catalogue schema, has one).
ERROR_PAYLOAD = "fastevents.ErrorPayload"
REDIRECT_PAYLOAD = "fastevents.RedirectPayload"
EVENT_NOT_FOUND = "fastevents.EventNotFound"
BAD_PROTOCOL = "fastevents.BadProtocol"
JSON_OBJECT = "fastevents.Object"

# Transport problems of ``POST <path>`` (fastevents._asgi and fastevents._server): plain text.
_TRANSPORT_STATUSES = {
    "400": "The Content-Length header is not a number.",
    "408": "The body did not arrive in time.",
    "413": "The body is larger than the server accepts.",
    "415": "The content type is not JSON (absent, application/json, application/*+json and text/json are).",
    "503": "The server is stopping, or has too many connections open.",
}

# The suffixes a handler's errors get; the server's own bare answers are described apart.
_ERROR_SUFFIXES = ", ".join(f"`{t.value}`" for t in EventErrorType if t is not EventErrorType.UNKNOWN)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _literal_pattern(text: str) -> str:
    """``text`` as a regular expression matching itself, escaping only syntax characters,
    so that ECMA-262 (JSON Schema's dialect, in unicode mode too) and Python read it alike."""
    return "".join("\\" + c if c in "^$\\.*+?()[]{}|/" else c for c in text)


def _envelope(
    title: str, name: Any, version: Any, payload: Any, *, required: Sequence[str] = ENVELOPE_KEYS, description: str = ""
) -> dict[str, Any]:
    ids = [{"type": "string"} for _ in range(2)]  # id, flowId
    objects = [_ref(JSON_OBJECT) for _ in range(3)]  # identity, auth, metadata
    return {
        "title": title,
        **({"description": description} if description else {}),
        "type": "object",
        "required": list(required),  # each document's own: a caller may edit what it gets
        "properties": dict(zip(ENVELOPE_KEYS, (name, version, *ids, payload, *objects), strict=True)),
    }


def _request(event: dict[str, Any]) -> dict[str, Any]:
    name, version, payload = event["name"], event["version"], event.get("payload")
    return _envelope(
        f"{name} v{version}",
        {"const": name},
        {"const": version},
        payload
        if payload is not None
        else {"description": "Ignored by the handler." if event.get("payloadKind") == "ignored" else "Any JSON value."},
        required=["name", "version", "payload"] if payload is not None else ["name", "version"],
        description="\n\n".join(part for part in (event.get("summary"), event.get("description")) if part),
    )


def _answers(event: dict[str, Any]) -> list[dict[str, Any]]:
    name, version, response = event["name"], event["version"], event.get("response")
    answers = [
        _envelope(
            f"{name} v{version}: response",
            {"const": f"{name}:response"},
            {"const": version},
            response
            if response is not None
            else {"description": "Any JSON value: the handler's return type has no schema."},
            description=event.get("summary") or "",
        ),
        _envelope(
            f"{name} v{version}: error",
            {"type": "string", "pattern": f"^{_literal_pattern(name)}:(?!(response|redirect)$)[^:]+$"},
            {"const": version},
            _ref(ERROR_PAYLOAD),
            description=(
                f"`{name}:<errorType>`: the handler raised an error ({_ERROR_SUFFIXES} or its own type), "
                f"the payload did not match the schema (`badRequest`, code `{PayloadValidationError.code}`), "
                "or the handler failed (`error`, code `UNHANDLED_ERROR`)."
            ),
        ),
    ]
    if response is None:  # a handler that builds its own answer may redirect
        redirect = {"const": f"{name}:redirect"}
        answers.append(_envelope(f"{name} v{version}: redirect", redirect, {"const": version}, _ref(REDIRECT_PAYLOAD)))
    return answers


def _bare_error(error: EventErrorType, code: str, parameters: dict[str, Any], description: str) -> dict[str, Any]:
    """One of the server's own error answers: version 1, ``{code, parameters}`` in its payload."""
    return _envelope(
        error.value,
        {"const": error.value},
        {"const": 1},
        {
            "type": "object",
            "required": ["code", "parameters"],
            "properties": {
                "code": {"const": code},
                "parameters": {"type": "object", "required": list(parameters), "properties": parameters},
            },
        },
        description=description,
    )


def _shared_components() -> dict[str, Any]:
    not_found = _bare_error(
        EventErrorType.EVENT_NOT_FOUND,
        "NO_EVENT_HANDLER_FOUND",
        {"event": {"type": "string"}, "version": {"type": "integer"}},
        "No handler for the (name, version) sent.",
    )
    bad_protocol = _bare_error(
        EventErrorType.BAD_PROTOCOL,
        "INVALID_COMMUNICATION_PROTOCOL",
        {"propertyName": {"type": ["string", "null"]}, "message": {"type": "string"}},
        "The body is not JSON, not an object, or not a valid envelope.",
    )
    return {
        JSON_OBJECT: {"type": "object"},
        ERROR_PAYLOAD: {
            "title": "Error payload",
            "type": "object",
            "required": ["code", "parameters"],
            "properties": {"code": {"type": "string"}, "parameters": {"type": "object"}},
        },
        REDIRECT_PAYLOAD: {
            "title": "Redirect payload",
            "type": "object",
            "required": ["url", "queryParameters"],
            "properties": {"url": {"type": "string"}, "queryParameters": {"type": "object"}},
        },
        EVENT_NOT_FOUND: not_found,
        BAD_PROTOCOL: bad_protocol,
    }


def openapi(
    catalogue: dict[str, Any], *, title: str = "events", version: str = "1.0.0", path: str = "/events"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document (a JSON-ready dict) describing ``POST path`` for ``catalogue``.

    ``catalogue`` is what :func:`fastevents._catalogue.catalogue` returns (a router's
    ``catalogue()``, or ``GET <path>/catalogue`` of a server); it is not modified.
    """
    path = "/" + path.strip("/")
    events = catalogue.get("events", [])
    components = dict(copy.deepcopy(catalogue.get("components", {}).get("schemas", {})))
    components.update(_shared_components())
    requests = [_request(event) for event in events]
    answers = [answer for event in events for answer in _answers(event)]
    answers += [_ref(EVENT_NOT_FOUND), _ref(BAD_PROTOCOL)]
    examples = {
        f"{event['name']} v{event['version']}": {
            **({"summary": event["summary"]} if event.get("summary") else {}),
            "value": event["example"],
        }
        for event in events
        if "example" in event
    }
    plain_text = {"text/plain": {"schema": {"type": "string"}}}
    operation: dict[str, Any] = {
        "operationId": "sendEvent",
        "summary": "Send one event",
        "description": (
            "One events-protocol envelope in, one answer out. Every protocol outcome, errors "
            "included, is HTTP 200 with a JSON answer: `<name>:response` on success, "
            "`<name>:<errorType>` with `{code, parameters}` on error, `eventNotFound` for an "
            "unknown (name, version) and `badProtocol` for a body that is no envelope. "
            "Events served:\n\n"
            + "\n".join(
                f"- `{event['name']}` v{event['version']}" + (f": {event['summary']}" if event.get("summary") else "")
                for event in events
            )
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": requests} if requests else {"type": "object"},
                    **({"examples": examples} if examples else {}),
                }
            },
        },
        "responses": {
            "200": {
                "description": "The answer event (every protocol outcome, errors included).",
                "content": {"application/json": {"schema": {"oneOf": answers}}},
            },
            **{
                status: {"description": description, "content": plain_text}
                for status, description in _TRANSPORT_STATUSES.items()
            },
        },
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": f"Events served at `POST {path}` (the events protocol).",
        },
        "paths": {path: {"post": operation}},
        "components": {"schemas": components},
    }
