"""The event catalogue: what a router serves, with JSON Schemas, as one JSON-ready dict.

``catalogue(router)`` describes every registered (name, version): a summary and description
from the handler's docstring, the payload's JSON Schema (from the route's payload type) and
the response's (from the handler's return annotation), and an example request built from the
payload schema. Named types (Structs, dataclasses, enums...) are described once, under
``components.schemas``, and referenced as ``{"$ref": "#/components/schemas/<Name>"}`` (the
layout OpenAPI uses, so tools that read OpenAPI components read these too).

A payload or response without a schema is ``null``, and ``payloadKind`` / ``responseKind``
say why: ``"any"`` (any JSON value), ``"raw"`` (undecoded bytes), ``"ignored"`` (the handler
takes no payload), ``"unknown"`` (the return annotation has no JSON Schema, or the handler
builds its own ``ResponseEvent``). The catalogue never raises because of one odd type.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import typing
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec

from ._http import Scope, Send, get_body, json_headers, refuse_method, respond, respond_plain
from ._model import Event
from ._openapi import openapi

if TYPE_CHECKING:
    from ._router import EventRouter, PayloadMode, Registration

__all__ = ["REF_PREFIX", "CataloguePages", "catalogue", "catalogue_json", "docs_page", "example_value"]

REF_PREFIX = "#/components/schemas/"
_MAX_DEPTH = 8  # recursive types: the example stops here with null

# Return annotations that say nothing about the response payload.
_NO_SCHEMA = (Any, object, inspect.Signature.empty)
# ``payloadKind`` by payload mode; any other mode is "schema", or "any" when the type has none.
_PAYLOAD_KINDS: dict[PayloadMode, str] = {"none": "ignored", "raw": "raw"}


def catalogue(router: EventRouter) -> dict[str, Any]:
    """Describe every event of ``router`` (see the module docstring); JSON-ready."""
    registrations = router.registrations()
    payload_types = [reg.payload_type for reg in registrations]
    response_types = [_response_type(reg) for reg in registrations]
    schemas, components = _schemas(payload_types + response_types)
    payload_schemas, response_schemas = schemas[: len(registrations)], schemas[len(registrations) :]

    events = []
    for reg, payload, response in zip(registrations, payload_schemas, response_schemas, strict=True):
        summary, _, description = reg.doc().strip().partition("\n")  # the docstring's first line, and the rest
        events.append(
            {
                "name": reg.name,
                "version": reg.version,
                "summary": summary.strip(),
                "description": description.strip(),
                "payload": payload,
                "payloadKind": _PAYLOAD_KINDS.get(reg.payload_mode, "schema" if payload is not None else "any"),
                "response": response,
                "responseKind": "schema" if response is not None else "unknown",
                "example": {
                    "name": reg.name,
                    "version": reg.version,
                    "payload": {} if payload is None else example_value(payload, components),
                },
            }
        )
    return {"events": events, "components": {"schemas": components}}


def catalogue_json(router: EventRouter) -> bytes:
    """The catalogue as UTF-8 JSON, whatever text the handlers' docstrings and types hold."""
    return json_text(catalogue(router))


def json_text(described: Any) -> bytes:
    """``described`` (the catalogue or a document made from it) as UTF-8 JSON.

    A lone surrogate (``"\\ud800"`` in a docstring) has no UTF-8 form: such text is written
    with U+FFFD in its place (a surrogate pair is joined), rather than failing the whole page.
    """
    try:
        return msgspec.json.encode(described)
    except UnicodeEncodeError:
        return msgspec.json.encode(_valid_text(described))


def _valid_text(value: Any) -> Any:
    """``value`` with every string (keys too) made encodable as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid_text(item) for item in value]
    return value


def _schemas(types: list[Any]) -> tuple[list[dict[str, Any] | None], dict[str, Any]]:
    """One JSON Schema per type (``None`` where there is none) and the shared components."""
    usable: dict[int, Any] = {}  # position -> type
    for position, tp in enumerate(types):
        if tp is None:
            continue
        try:
            msgspec.json.schema_components([tp], ref_template=REF_PREFIX + "{name}")
        except Exception:  # a type msgspec can decode but not describe: no schema for it
            continue
        usable[position] = tp
    schemas: list[dict[str, Any] | None] = [None] * len(types)
    if not usable:
        return schemas, {}
    found, components = msgspec.json.schema_components(usable.values(), ref_template=REF_PREFIX + "{name}")
    for position, schema in zip(usable, found, strict=True):
        schemas[position] = schema
    return schemas, dict(sorted(components.items()))


def _response_type(registration: Registration) -> Any:
    """The handler's return annotation, or ``None`` when it describes no payload."""
    hint = registration.response_annotation()
    if hint in _NO_SCHEMA or hint is msgspec.Raw:
        return None
    if hint is type(None):
        return hint
    args = typing.get_args(hint) or (hint,)
    if any(isinstance(arg, type) and issubclass(arg, (Event, msgspec.Raw)) for arg in args):
        return None  # the handler builds its own answer (or raw bytes): its payload is not typed
    return hint


def example_value(schema: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """A plausible JSON value for ``schema``: defaults and examples first, else placeholders."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = components.get(ref[len(REF_PREFIX) :]) if ref.startswith(REF_PREFIX) else None
        return example_value(target, components, depth + 1)
    for key in ("examples", "enum"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return example_value((usable or options)[0], components, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if not properties and isinstance(schema.get("additionalProperties"), dict):
            return {"key": example_value(schema["additionalProperties"], components, depth + 1)}
        return {name: example_value(sub, components, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        if isinstance(schema.get("prefixItems"), list):
            return [example_value(sub, components, depth + 1) for sub in schema["prefixItems"]]
        items = schema.get("items")
        return [example_value(items, components, depth + 1)] if isinstance(items, dict) and items else []
    if kind == "string":
        return _STRING_EXAMPLES.get(schema.get("format", ""), "string")
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
    if kind == "number":
        return schema.get("minimum", 0.0)
    if kind == "boolean":
        return False
    return None


_STRING_EXAMPLES = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "duration": "P1D",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "base64": "",
}


# --- serving: GET <path>/catalogue and GET <path>/docs ----------------------------------


def docs_page() -> bytes:
    """The self-contained docs page (package data: ``fastevents/_docs.html``)."""
    return (resources.files(__package__) / "_docs.html").read_bytes()


def _csp(page: bytes) -> bytes:
    """A Content-Security-Policy allowing exactly the page's own inline script and style.

    Nothing else loads (no external assets; data: only for the empty favicon), and the page
    may only talk to this server.
    """
    hashes = []
    for tag in (b"script", b"style"):
        start = page.index(b">", page.index(b"<" + tag)) + 1
        body = page[start : page.index(b"</" + tag + b">", start)]
        hashes.append(b"'sha256-" + base64.b64encode(hashlib.sha256(body).digest()) + b"'")
    return (
        b"default-src 'none'; script-src %s; style-src %s; connect-src 'self'; img-src data:; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'" % tuple(hashes)
    )


class CataloguePages:
    """Answers ``GET <path>/catalogue`` (the JSON), ``GET <path>/openapi.json`` (the router's
    OpenAPI document, ``fastevents._openapi``) and ``GET <path>/docs`` (the page).

    Plugged into :class:`fastevents._asgi.EventsApp` for paths other than the events path,
    so ``POST <path>`` runs exactly the code it runs without it. The catalogue is built on
    first request and again only when routes were added since (routes are never removed).
    """

    def __init__(self, router: EventRouter, path: str) -> None:
        base = path.rstrip("/")
        self.router = router
        self.catalogue_path = base + "/catalogue"
        self.docs_path = base + "/docs"
        self.openapi_path = base + "/openapi.json"
        self.path = base or "/"
        self._page = docs_page()
        self._page_headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", b"%d" % len(self._page)),
            (b"content-security-policy", _csp(self._page)),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-cache"),
        ]
        self._json: dict[str, bytes] = {}  # path -> body, for the catalogue and the OpenAPI document
        self._json_routes = -1

    async def __call__(self, scope: Scope, path: str, send: Send) -> None:
        if path == self.catalogue_path or path == self.openapi_path:
            if self._json_routes != len(self.router):
                found = catalogue(self.router)
                self._json[self.catalogue_path] = json_text(found)
                self._json[self.openapi_path] = json_text(openapi(found, path=self.path))
                self._json_routes = len(self.router)
            body = self._json[path]
            headers = json_headers(body, b"no-cache")
        elif path == self.docs_path:
            body, headers = self._page, self._page_headers
        else:
            return await respond_plain(send, 404, b"Not Found")
        if not await refuse_method(scope, send):
            await respond(send, 200, headers, get_body(scope, body))
