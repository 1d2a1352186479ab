"""A typed Python client from a catalogue (``fastevents codegen``): the source of one module.

:func:`python_client` turns a router's catalogue (``fastevents._catalogue``) into a module
that needs only fastevents and msgspec:

- the catalogue's named schemas as msgspec Structs (objects), ``enum.Enum`` classes (enums)
  and type aliases (tuples, anything else), named after the schemas; fields keep their wire
  names (``msgspec.field(name=...)``) under snake_case Python names;
- ``<Name>Client`` and ``Async<Name>Client``, over :class:`fastevents.EventClient` /
  :class:`fastevents.AsyncEventClient`, with one method per (name, version):
  ``get_user_v1(payload, **options) -> User`` sends the event and returns the success
  answer's payload decoded into the response type;
- ``<Name>Error``, raised for an error answer (``code``, ``parameters``, ``type``, the whole
  ``response``), and ``<Name>Redirect`` for a redirect answer (``url``,
  ``query_parameters``).

The output depends only on its inputs (no date, no set order), passes ``mypy --strict`` and
``ruff check``, and starts with a header saying how it was made. Schema constraints
(``minimum``, ``pattern``...) are left to the server, which checks them.

:func:`typescript_client` writes the same for TypeScript: interfaces and type aliases with
the wire's field names, and ``<Name>Client`` over ``fetch`` (``tsc --strict`` clean).
"""

from __future__ import annotations

import abc
import builtins
import json
import keyword
import re
from typing import Any

__all__ = ["python_client", "typescript_client"]

_REF = "#/components/schemas/"
_MODULES = ("collections.abc", "datetime", "decimal", "enum", "typing", "uuid", "msgspec", "fastevents")
# Names a field, class or member must not take: they would shadow what annotations use.
_RESERVED = frozenset(dir(builtins)) | {m.split(".")[0] for m in _MODULES}
_STRING_FORMATS = {
    "date-time": ("datetime", "datetime.datetime"),
    "date": ("datetime", "datetime.date"),
    "time": ("datetime", "datetime.time"),
    "duration": ("datetime", "datetime.timedelta"),
    "uuid": ("uuid", "uuid.UUID"),
    "decimal": ("decimal", "decimal.Decimal"),
}
_SCALARS = {"boolean": "bool", "integer": "int", "number": "float", "null": "None"}
# The Python type of a JSON scalar (bool before int: a bool is an int too).
_PY_TYPES = ((type(None), "None"), (bool, "bool"), (int, "int"), (float, "float"), (str, "str"))


def _words(text: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^0-9A-Za-z]+", spaced) if w]


def _snake(text: str) -> str:
    name = "_".join(w.lower() for w in _words(text)) or "field"
    return "n_" + name if name[0].isdigit() else name


def _pascal(text: str) -> str:
    name = "".join(w[:1].upper() + w[1:] for w in _words(text)) or "Events"
    return "T" + name if name[0].isdigit() else name


def _literal(value: Any) -> str:
    """A JSON scalar as Python source (strings double-quoted, as ruff formats them)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def _docstring(text: str, indent: str) -> list[str]:
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if not text:
        return []
    if text.endswith('"'):
        text += " "
    lines = text.splitlines()
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    body = [f"{indent}{line}".rstrip() for line in lines[1:]]
    return [f'{indent}"""{lines[0]}', *body, f'{indent}"""']


class _Unique:
    """Hands out identifiers, each once, avoiding the reserved ones."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def __call__(self, wanted: str) -> str:
        name = wanted + "_" if wanted in _RESERVED or keyword.iskeyword(wanted) else wanted
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{name}_{n}", n + 1
        self.taken.add(candidate)
        return candidate


class _Walker(abc.ABC):
    """One walk of a catalogue's schemas and events for both languages: a subclass gives the
    language's tables (``ANY``, ``SCALARS``; ``ARRAY`` and ``MAPPING`` format the item type)
    and spells what the tables cannot (the abstract methods)."""

    ANY: str
    SCALARS: dict[str, str]
    ARRAY: str
    MAPPING: str
    TAKEN: frozenset[str]  # names a generated type must not take
    METHODS_TAKEN: frozenset[str]  # names a generated method must not take

    def __init__(self, catalogue: dict[str, Any], prefix: str, taken: tuple[str, ...] = ()) -> None:
        self.schemas: dict[str, Any] = catalogue.get("components", {}).get("schemas", {}) or {}
        self.events: list[dict[str, Any]] = catalogue.get("events", []) or []
        self.client, self.error, self.redirect = f"{prefix}Client", f"{prefix}Error", f"{prefix}Redirect"
        names = _Unique({self.client, self.error, self.redirect, *self.TAKEN, *taken})
        self.names = {schema: names(_pascal(schema)) for schema in self.schemas}

    def type_of(self, schema: Any) -> str:
        """The type expression for a JSON Schema."""
        if not isinstance(schema, dict) or not schema:
            return self.ANY
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.names.get(ref[len(_REF) :], self.ANY) if ref.startswith(_REF) else self.ANY
        if "const" in schema:
            return self.literal([schema["const"]])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.literal(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return self.union([self.type_of(option) for option in schema[key]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.union([self.type_of({**schema, "type": k}) for k in kind])
        if kind in self.SCALARS:
            return self.SCALARS[kind]
        if kind == "string":
            return self.string(schema)
        if kind == "array":
            prefix = schema.get("prefixItems")
            if isinstance(prefix, list):
                return self.tuple_of([self.type_of(item) for item in prefix], schema)
            return self.ARRAY.format(self.type_of(schema.get("items")))
        if kind == "object" or "properties" in schema:
            if schema.get("properties"):
                return self.object_of(schema)
            extra = schema.get("additionalProperties")
            return self.MAPPING.format(self.type_of(extra) if isinstance(extra, dict) else self.ANY)
        return self.ANY

    def union(self, types: list[str]) -> str:
        unique = list(dict.fromkeys(types))
        return self.ANY if self.ANY in unique or not unique else " | ".join(unique)

    @abc.abstractmethod
    def literal(self, values: list[Any]) -> str: ...  # a ``const`` (one value) or an ``enum``

    @abc.abstractmethod
    def string(self, schema: dict[str, Any]) -> str: ...

    @abc.abstractmethod
    def tuple_of(self, items: list[str], schema: dict[str, Any]) -> str: ...  # ``prefixItems``' types

    @abc.abstractmethod
    def object_of(self, schema: dict[str, Any]) -> str: ...  # an unnamed object with ``properties``

    @abc.abstractmethod
    def method_name(self, name: str, version: int) -> str: ...

    def methods(self) -> list[dict[str, Any]]:
        """One client method per event: its name, the event's, the payload and answer types, a doc."""
        names = _Unique(set(self.METHODS_TAKEN))
        return [
            {
                "method": names(self.method_name(event["name"], event["version"])),
                "name": event["name"],
                "version": event["version"],
                "payload": None if event.get("payloadKind") == "ignored" else self.type_of(event.get("payload")),
                "returns": self.type_of(event.get("response")),
                "doc": "\n\n".join(p for p in (event.get("summary"), event.get("description")) if p),
            }
            for event in self.events
        ]


class _Writer(_Walker):
    """Python: msgspec Structs, enums and aliases, and the two client classes."""

    ANY = "typing.Any"
    SCALARS = _SCALARS
    ARRAY = "list[{}]"
    MAPPING = "dict[str, {}]"
    TAKEN = frozenset({"_Options", "_T", "_success"})
    METHODS_TAKEN = frozenset({"close", "aclose"})

    def __init__(self, catalogue: dict[str, Any], prefix: str) -> None:
        self.imports = {"collections.abc", "typing"}  # the standard library modules the module uses
        self.async_client = f"Async{prefix}Client"
        super().__init__(catalogue, prefix, (self.async_client,))
        # Structs of a tagged union (a ``discriminator``): schema name -> (tag field, tag).
        self.tags: dict[str, tuple[str, str]] = {}
        self._find_tags([self.schemas, [(e.get("payload"), e.get("response")) for e in self.events]])

    def _find_tags(self, node: Any) -> None:
        if isinstance(node, dict):
            found = node.get("discriminator")
            if isinstance(found, dict) and isinstance(found.get("mapping"), dict):
                for tag, ref in found["mapping"].items():
                    if isinstance(ref, str) and "/" in ref:
                        self.tags[ref.rsplit("/", 1)[1]] = (str(found.get("propertyName")), str(tag))
            node = list(node.values())
        if isinstance(node, (list, tuple)):
            for item in node:
                self._find_tags(item)

    # --- JSON Schema -> Python type expression --------------------------------------

    def literal(self, values: list[Any]) -> str:
        if all(v is None or isinstance(v, (str, int, bool)) for v in values):
            return f"typing.Literal[{', '.join(_literal(v) for v in values)}]"
        return self.union([next((n for kind, n in _PY_TYPES if isinstance(v, kind)), self.ANY) for v in values])

    def string(self, schema: dict[str, Any]) -> str:
        if schema.get("contentEncoding") == "base64":
            return "bytes"
        module, name = _STRING_FORMATS.get(schema.get("format", ""), ("", "str"))
        if module:
            self.imports.add(module)
        return name

    def tuple_of(self, items: list[str], schema: dict[str, Any]) -> str:
        if schema.get("items") is False or "maxItems" in schema:
            return f"tuple[{', '.join(items)}]" if items else "tuple[()]"
        return f"tuple[{self.union(items)}, ...]"

    def object_of(self, schema: dict[str, Any]) -> str:
        return "dict[str, typing.Any]"  # an unnamed object: its fields are not checked here

    def method_name(self, name: str, version: int) -> str:
        return f"{_snake(name)}_v{version}"

    # --- defaults ------------------------------------------------------------------

    def default_of(self, schema: Any, value: Any) -> str | None:
        """Python source for a field's JSON ``default`` when it fits the field's type, else None
        (``default_factory=...`` for an empty list or object)."""
        if not isinstance(schema, dict):
            return None
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.schemas.get(ref[len(_REF) :]) if ref.startswith(_REF) else None
            if isinstance(target, dict) and self._is_enum(target):
                # By type too: JSON's true is not the member 1, nor 1.0 (Python's == says they are).
                at = [i for i, v in enumerate(target["enum"]) if v == value and type(v) is type(value)]
                if at:
                    return f"{self.names[ref[len(_REF) :]]}.{self._members(target['enum'])[at[0]]}"
            return None
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                for option in schema[key]:
                    found = self.default_of(option, value)
                    if found is not None:
                        return found
                return None
        if "const" in schema or "enum" in schema:
            allowed = [schema["const"]] if "const" in schema else schema["enum"]
            ok = any(value == v and type(value) is type(v) for v in allowed)
            return _literal(value) if ok and (value is None or isinstance(value, (str, int, bool))) else None
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        scalar = next((name for kind, name in _PY_TYPES if isinstance(value, kind)), None)
        for kind in kinds:
            if kind in ("null", "boolean", "integer") and _SCALARS[kind] == scalar:
                return repr(value)
            if kind == "number" and scalar in ("int", "float"):
                return repr(float(value))
            if kind == "string" and isinstance(value, str) and self.type_of({**schema, "type": "string"}) == "str":
                return _literal(value)
            if kind == "array" and value == [] and "prefixItems" not in schema:
                return "default_factory=list"
            if kind == "object" and value == {}:
                return "default_factory=dict"
        return None

    # --- named schemas -------------------------------------------------------------

    @staticmethod
    def _is_enum(schema: dict[str, Any]) -> bool:
        values = schema.get("enum")
        return (
            isinstance(values, list)
            and bool(values)
            and "type" not in schema
            and (all(isinstance(v, str) for v in values) or all(type(v) is int for v in values))
        )

    @staticmethod
    def _members(values: list[Any]) -> list[str]:
        names = _Unique(set())
        out = []
        for value in values:
            if isinstance(value, int):
                wanted = f"VALUE_{value}" if value >= 0 else f"VALUE_MINUS_{-value}"
            else:
                wanted = "_".join(w.upper() for w in _words(value)) or "EMPTY"
                if wanted[0].isdigit():
                    wanted = "VALUE_" + wanted
            out.append(names(wanted))
        return out

    def definitions(self) -> tuple[list[str], list[str]]:
        """(classes, aliases): the named schemas as Python source, enums first, aliases last."""
        enums: list[str] = []  # first: struct defaults may name their members
        classes: list[str] = []
        pending: dict[str, tuple[str, set[str]]] = {}  # alias -> (its type, the names it uses)
        for schema_name, schema in self.schemas.items():
            name = self.names[schema_name]
            doc = schema.get("description") or "" if isinstance(schema, dict) else ""
            if not isinstance(schema, dict):
                pending[name] = ("typing.Any", set())
            elif self._is_enum(schema):
                self.imports.add("enum")
                lines = [f"class {name}(enum.Enum):", *_docstring(doc, "    ")]
                if doc:
                    lines.append("")
                for member, value in zip(self._members(schema["enum"]), schema["enum"], strict=True):
                    lines.append(f"    {member} = {_literal(value)}")
                enums.append("\n".join(lines))
            elif schema.get("type") == "object" or "properties" in schema:
                classes.append(self._struct(name, schema, doc, self.tags.get(schema_name)))
            else:
                expr = self.type_of(schema)
                uses = {n for n in self.names.values() if re.search(rf"\b{re.escape(n)}\b", expr)}
                pending[name] = (expr, uses)
        ordered: list[str] = []
        while pending:  # aliases after the aliases they use (a cycle falls back to typing.Any)
            ready = [n for n, (_, uses) in pending.items() if not (uses & set(pending)) - {n}] or [next(iter(pending))]
            for alias in ready:
                expr, uses = pending.pop(alias)
                if (uses & set(pending)) or alias in uses:
                    expr = "typing.Any"
                ordered.append(f"{alias}: typing.TypeAlias = {expr}")
        return enums + classes, ordered

    def _struct(self, name: str, schema: dict[str, Any], doc: str, tag: tuple[str, str] | None) -> str:
        properties: dict[str, Any] = dict(schema.get("properties") or {})
        required = set(schema.get("required") or [])
        tagged = ""
        if tag is not None:  # msgspec writes and checks the tag itself
            properties.pop(tag[0], None)
            tagged = f", tag_field={_literal(tag[0])}, tag={_literal(tag[1])}"
        lines = [f"class {name}(msgspec.Struct, kw_only=True{tagged}):", *_docstring(doc, "    ")]
        if doc and properties:
            lines.append("")
        fields = _Unique(set())
        for wire, sub in properties.items():
            attribute = fields(_snake(wire).lstrip("_") or "field")
            annotation = self.type_of(sub)
            default = None
            if wire in required:
                single = sub.get("enum") if isinstance(sub, dict) else None
                if isinstance(sub, dict) and "const" in sub:
                    single = [sub["const"]]
                if isinstance(single, list) and len(single) == 1:  # a tag: its only value
                    default = self.default_of(sub, single[0])
            else:
                if isinstance(sub, dict) and "default" in sub:
                    default = self.default_of(sub, sub["default"])
                if default is None:  # not sent unless set: the server applies its default
                    annotation = f"{annotation} | msgspec.UnsetType" if annotation != "typing.Any" else annotation
                    default = "msgspec.UNSET"
            args = []
            if default is not None:
                args.append(default if default.startswith("default_factory=") else f"default={default}")
            if attribute != wire:
                args.append(f"name={_literal(wire)}")
            if args == [f"default={default}"]:
                value = f" = {default}"
            elif args:
                value = f" = msgspec.field({', '.join(args)})"
            else:
                value = ""
            lines.append(f"    {attribute}: {annotation}{value}")
        if not properties and not doc:
            lines.append("    pass")
        return "\n".join(lines)


_HELPERS = '''
_T = typing.TypeVar("_T")


class _Options(typing.TypedDict, total=False):
    """What ``send_event`` takes besides the event: ids, identity, auth, metadata, timeout."""

    id: str | None
    flow_id: str | None
    identity: dict[str, typing.Any] | None
    auth: dict[str, typing.Any] | None
    metadata: dict[str, typing.Any] | None
    timeout: float | None
    headers: collections.abc.Mapping[str, str] | None


class {error}(Exception):
    """An error answer (``<name>:<errorType>``, ``eventNotFound``, ``badProtocol``).

    ``code`` and ``parameters`` come from its payload, ``type`` is its
    :class:`fastevents.EventErrorType` (``UNKNOWN`` for a type this version does not
    know) and ``response`` the whole answer.
    """

    def __init__(self, response: fastevents.ResponseEvent) -> None:
        payload = response.payload
        body: dict[str, typing.Any] = payload if isinstance(payload, dict) else {{}}
        parameters = body.get("parameters")
        self.response = response
        self.code = str(body.get("code", ""))
        self.parameters: dict[str, typing.Any] = parameters if isinstance(parameters, dict) else {{}}
        self.type = response.error_type or fastevents.EventErrorType.UNKNOWN
        super().__init__(f"{{response.name}}: {{self.code}}")


class {redirect}(Exception):
    """A redirect answer (``<name>:redirect``): ``url``, ``query_parameters``, ``response``."""

    def __init__(self, response: fastevents.ResponseEvent) -> None:
        payload = response.payload_as(fastevents.RedirectPayload)
        self.response = response
        self.url = payload.url
        self.query_parameters = payload.query_parameters
        super().__init__(f"{{response.name}}: {{self.url}}")


def _success(response: fastevents.ResponseEvent, decoder: msgspec.json.Decoder[_T]) -> _T:
    """The success answer's payload, decoded; raises for any other answer."""
    if response.is_success:
        return decoder.decode(response.payload_as(msgspec.Raw))
    if response.is_redirect:
        raise {redirect}(response)
    raise {error}(response)
'''


def _client_class(writer: _Writer, methods: list[dict[str, Any]], *, asynchronous: bool, title: str) -> str:
    name = writer.async_client if asynchronous else writer.client
    base = "fastevents.AsyncEventClient" if asynchronous else "fastevents.EventClient"
    a, aw = ("async ", "await ") if asynchronous else ("", "")
    close = "aclose" if asynchronous else "close"
    lines = [
        f"class {name}:",
        f'    """The {title} events over a :class:`{base}`, one method per event.',
        "",
        f"    ``{name}(url)`` opens its own client (closed by :meth:`{close}` or on leaving",
        f"    ``{a}with``); ``{name}(client)`` uses yours and leaves it open. A method",
        "    returns the success answer's payload, typed; it raises",
        f"    :class:`{writer.error}` for an error answer, :class:`{writer.redirect}` for a redirect,",
        "    and the client's own exceptions (:class:`fastevents.EventClientError`) when no",
        "    answer comes.",
        '    """',
        "",
        f"    def __init__(self, target: str | {base}, *, timeout: float = 15.0) -> None:",
        "        self._owned = isinstance(target, str)",
        f"        self._client = {base}(target, timeout=timeout) if isinstance(target, str) else target",
        "",
        f"    {a}def {close}(self) -> None:",
        '        """Close the client, if this object opened it."""',
        "        if self._owned:",
        f"            {aw}self._client.{close}()",
        "",
        f"    {a}def __{a[:1]}enter__(self) -> typing.Self:",
        "        return self",
        "",
        f"    {a}def __{a[:1]}exit__(self, *exc_info: object) -> None:",
        f"        {aw}self.{close}()",
    ]
    for method in methods:
        payload = f", payload: {method['payload']}" if method["payload"] is not None else ""
        sent = ", payload" if method["payload"] is not None else ""
        lines += [
            "",
            f"    {a}def {method['method']}(self{payload}, **options: typing.Unpack[_Options]) -> {method['returns']}:",
            *_docstring(method["doc"] or f"Send ``{method['name']}`` v{method['version']}.", "        "),
            f"        response = {aw}self._client.send_event({_literal(method['name'])}, {method['version']}"
            f"{sent}, **options)",
            f"        return _success(response, _DECODE_{method['method'].upper()})",
        ]
    return "\n".join(lines)


def python_client(catalogue: dict[str, Any], *, name: str, header: list[str]) -> str:
    """The source of a typed client module for ``catalogue``.

    ``name`` names the classes (``users`` gives ``UsersClient``, ``AsyncUsersClient``,
    ``UsersError``, ``UsersRedirect``); ``header`` is written first, one comment per line.
    """
    writer = _Writer(catalogue, _pascal(name))
    classes, aliases = writer.definitions()
    methods = writer.methods()
    decoders = [
        f"_DECODE_{m['method'].upper()}: msgspec.json.Decoder[{m['returns']}] = "
        f"msgspec.json.Decoder({'' if m['returns'] == 'typing.Any' else m['returns']})"
        for m in methods
    ]
    public = [writer.client, writer.async_client, writer.error, writer.redirect]
    public += [writer.names[s] for s in writer.schemas]
    parts = [
        "\n".join(f"# {line}" for line in header),
        f'"""Typed client for the {name} events (generated by ``fastevents codegen``)."""',
        "from __future__ import annotations",
        "\n".join(f"import {m}" for m in sorted(writer.imports)),
        "import fastevents\nimport msgspec",
        "__all__ = [\n" + "".join(f"    {_literal(p)},\n" for p in sorted(public)) + "]",
        *classes,
        *(["\n".join(aliases)] if aliases else []),
        _HELPERS.strip("\n").format(error=writer.error, redirect=writer.redirect),
        "\n".join(decoders),
        _client_class(writer, methods, asynchronous=False, title=name),
        _client_class(writer, methods, asynchronous=True, title=name),
    ]
    return _join(parts)


def _join(parts: list[str]) -> str:
    out: list[str] = []
    for part in parts:
        if not part:
            continue
        block = part.strip("\n")
        if out:
            # two blank lines before top-level definitions, one between the import groups
            is_def = block.startswith(("class ", "def ", "_T ", "_DECODE_")) or ": typing.TypeAlias" in block
            out.append("\n\n\n" if is_def else "\n\n")
        out.append(block)
    return "".join(out) + "\n"


# --- TypeScript ---------------------------------------------------------------------------

# Global names a generated type must not shadow (the client uses them), and the client's own.
_TS_RESERVED = frozenset(
    {"Array", "Boolean", "Date", "Error", "JSON", "Number", "Object", "Promise", "Record", "Response", "String"}
    | {"EventOptions", "ResponseEvent"}
)
_TS_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_TS_SCALARS = {"boolean": "boolean", "integer": "number", "number": "number", "null": "null"}


def _camel(text: str) -> str:
    words = _words(text) or ["event"]
    name = words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])
    return "n" + name if name[0].isdigit() else name


def _ts_comment(text: str, indent: str) -> list[str]:
    text = text.strip().replace("*/", "*\\/")
    if not text:
        return []
    lines = text.splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


class _TsWriter(_Walker):
    """TypeScript: interfaces and type aliases, and the client class's methods."""

    ANY = "unknown"
    SCALARS = _TS_SCALARS
    ARRAY = "Array<{}>"
    MAPPING = "Record<string, {}>"
    TAKEN = _TS_RESERVED
    METHODS_TAKEN = frozenset({"send", "url", "constructor"})

    def literal(self, values: list[Any]) -> str:
        return self.union([json.dumps(v, ensure_ascii=False) for v in values])

    def string(self, schema: dict[str, Any]) -> str:
        return "string"

    def tuple_of(self, items: list[str], schema: dict[str, Any]) -> str:
        return f"[{', '.join(items)}]"

    def object_of(self, schema: dict[str, Any]) -> str:
        required = set(schema.get("required") or [])
        lines = ["{"]
        for wire, sub in (schema.get("properties") or {}).items():
            key = wire if _TS_IDENTIFIER.match(wire) else json.dumps(wire, ensure_ascii=False)
            optional = "" if wire in required else "?"
            if isinstance(sub, dict) and sub.get("description"):
                lines += _ts_comment(sub["description"], "  ")
            lines.append(f"  {key}{optional}: {self.type_of(sub)};")
        lines.append("}")
        return "\n".join(lines)

    def method_name(self, name: str, version: int) -> str:
        return _camel(f"{name} v{version}")

    def definitions(self) -> list[str]:
        out = []
        for schema_name, schema in self.schemas.items():
            name = self.names[schema_name]
            doc = _ts_comment(schema.get("description") or "", "") if isinstance(schema, dict) else []
            if isinstance(schema, dict) and (schema.get("type") == "object" or "properties" in schema):
                out.append("\n".join([*doc, f"export interface {name} {self.object_of(schema)}"]))
            else:
                out.append("\n".join([*doc, f"export type {name} = {self.type_of(schema)};"]))
        return out

    def client_methods(self) -> list[str]:
        out = []
        for method in self.methods():
            payload = f"payload: {method['payload']}, " if method["payload"] is not None else ""
            returns = method["returns"]
            out += [
                "",
                *_ts_comment(method["doc"] or f"Send `{method['name']}` v{method['version']}.", "  "),
                f"  async {method['method']}({payload}options: EventOptions = {{}}): Promise<{returns}> {{",
                f"    return (await this.send({json.dumps(method['name'], ensure_ascii=False)}, {method['version']}, "
                f"{'payload' if method['payload'] is not None else '{}'}, options)) as {returns};",
                "  }",
            ]
        return out


_TS_HELPERS = """\
/** What a call takes besides the event: ids, identity, auth, metadata, headers, an AbortSignal. */
export interface EventOptions {
  id?: string;
  flowId?: string;
  identity?: Record<string, unknown>;
  auth?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** An answer event, as the server sends it. */
export interface ResponseEvent {
  name: string;
  version: number;
  id: string;
  flowId: string;
  payload: unknown;
  identity: Record<string, unknown>;
  auth: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** An error answer: `code`, `parameters`, `type` (the name's suffix) and the whole `response`. */
export class {error} extends Error {
  readonly code: string;
  readonly parameters: Record<string, unknown>;
  readonly type: string;

  constructor(readonly response: ResponseEvent) {
    const body = (typeof response.payload === "object" && response.payload !== null ? response.payload : {}) as {
      code?: unknown;
      parameters?: unknown;
    };
    const code = String(body.code ?? "");
    super(`${response.name}: ${code}`);
    this.name = "{error}";
    this.code = code;
    this.parameters =
      typeof body.parameters === "object" && body.parameters !== null
        ? (body.parameters as Record<string, unknown>)
        : {};
    const colon = response.name.lastIndexOf(":");
    this.type = colon < 0 ? response.name : response.name.slice(colon + 1);
  }
}

/** A redirect answer: `url`, `queryParameters` and the whole `response`. */
export class {redirect} extends Error {
  readonly url: string;
  readonly queryParameters: Record<string, unknown>;

  constructor(readonly response: ResponseEvent) {
    const body = response.payload as { url?: unknown; queryParameters?: Record<string, unknown> };
    super(`${response.name}: ${String(body.url)}`);
    this.name = "{redirect}";
    this.url = String(body.url);
    this.queryParameters = body.queryParameters ?? {};
  }
}"""

_TS_CLIENT = """\
/**
 * The {title} events over `fetch`, one method per event. A method resolves to the success
 * answer's payload; it rejects with `{error}` for an error answer, `{redirect}` for a
 * redirect, and an `Error` when no answer comes (network failure, non-2xx status).
 */
export class {client} {
  constructor(
    readonly url: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private async send(name: string, version: number, payload: unknown, options: EventOptions): Promise<unknown> {
    const { headers, signal, ...envelope } = options;
    const answer = await this.fetchImpl(this.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ name, version, payload, ...envelope }),
      signal,
    });
    if (!answer.ok) {
      throw new Error(`${this.url} answered HTTP ${answer.status}`);
    }
    const event = (await answer.json()) as ResponseEvent;
    if (event.name.endsWith(":response")) return event.payload;
    if (event.name.endsWith(":redirect")) throw new {redirect}(event);
    throw new {error}(event);
  }"""


def typescript_client(catalogue: dict[str, Any], *, name: str, header: list[str]) -> str:
    """The source of a TypeScript module for ``catalogue``: the types (interfaces and type
    aliases named after the schemas, wire names as they are) and ``<Name>Client`` over
    ``fetch``. Integers are ``number``: beyond 2**53 JavaScript loses their precision."""
    writer = _TsWriter(catalogue, _pascal(name))
    fields = {"error": writer.error, "redirect": writer.redirect, "client": writer.client, "title": name}

    def fill(template: str) -> str:
        for key, value in fields.items():  # the title last: a name may hold braces
            template = template.replace(f"{{{key}}}", value)
        return template

    parts = [
        "\n".join(f"// {line}" for line in header),
        *writer.definitions(),
        fill(_TS_HELPERS),
        "\n".join([fill(_TS_CLIENT), *writer.client_methods(), "}"]),
    ]
    return "\n\n".join(part.strip("\n") for part in parts if part) + "\n"
