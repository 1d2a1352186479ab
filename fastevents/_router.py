"""Registration: which handler answers which (name, version), and how it is called."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import msgspec

from ._impl import MODE_EVENT, MODE_PLAIN, MODE_RAW, MODE_TYPED, Route

__all__ = ["DuplicateEventError", "EventHandler", "EventRouter"]

F = TypeVar("F", bound=Callable[..., Any])

#: What ``EventRouter(validate_names=True)`` accepts, as a whole: two or more lowercase
#: words of letters, digits and underscores joined by colons (``get:user:by_id``). The old
#: package meant a stricter rule but checked only a prefix of the name, so names such as
#: ``get:user:profile_v2`` passed it; they pass here too, and nothing else does.
DEFAULT_NAME_PATTERN = re.compile(r"[a-z0-9_]+(?::[a-z0-9_]+)+")


class DuplicateEventError(ValueError):
    """A handler is already registered for this (name, version)."""


class EventHandler:
    """Class-style handler: override :meth:`handle`; set ``schema`` for a typed payload.

    ``handle(self, event, payload)`` gets the payload decoded into ``schema`` (a plain JSON
    value when ``schema`` is ``None``); ``handle(self, event)`` gets the event alone. It
    may be ``async def``. (Declared with ``*args``, so that type checkers accept either
    override.)
    """

    schema: ClassVar[Any] = None

    def handle(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.handle")


class _Spec:
    """What was registered, independent of which core will dispatch it."""

    __slots__ = ("handler", "is_async", "mode", "name", "schema", "version")

    def __init__(self, name: str, version: int, handler: Callable[..., Any], schema: Any) -> None:
        self.name = name
        self.version = version
        self.handler = handler
        self.mode, self.schema = _call_mode(handler, schema)
        self.is_async = _is_async(handler)

    def route(self, route_type: type[Route]) -> Route:
        decoder = msgspec.json.Decoder(self.schema) if self.mode == MODE_TYPED else None
        return route_type(self.name, self.version, self.handler, self.mode, decoder, self.is_async)


def _is_async(handler: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - callable objects
    return call is not None and inspect.iscoroutinefunction(call)


def _call_mode(handler: Callable[..., Any], schema: Any) -> tuple[int, Any]:
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins: assume (event, payload)
        params: list[inspect.Parameter] = []
        takes_payload = True
    else:
        params = [
            p for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if not params:
            raise TypeError(f"{handler!r} must accept the event as its first argument")
        takes_payload = len(params) > 1 or params[0].kind is inspect.Parameter.VAR_POSITIONAL
    if not takes_payload:
        if schema is not None:
            raise TypeError(f"{handler!r} takes no payload argument, but a schema was given")
        return MODE_EVENT, None
    if schema is None and len(params) > 1 and params[1].kind is not inspect.Parameter.VAR_POSITIONAL:
        schema = _annotation(handler, params[1].name)
    if schema is None or schema is Any or schema is object:
        return MODE_PLAIN, None
    if schema is msgspec.Raw:
        return MODE_RAW, None
    try:
        msgspec.json.Decoder(schema)
    except Exception as exc:  # unsupported types, unresolvable annotations
        raise TypeError(f"{schema!r} cannot be a payload schema: {exc}") from None
    return MODE_TYPED, schema


def _annotation(handler: Callable[..., Any], param: str) -> Any:
    target = handler.__call__ if not inspect.isroutine(handler) else handler  # type: ignore[operator]
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to the raw annotation
        hints = getattr(target, "__annotations__", {})
    hint = hints.get(param)
    return None if hint is None or isinstance(hint, str) else hint


class EventRouter:
    """A table of event handlers, keyed by (name, version).

    Register with the :meth:`event` decorator, :meth:`add` or :meth:`add_handler`; combine
    routers with :meth:`include`. Registering the same (name, version) twice raises
    :class:`DuplicateEventError`. With ``validate_names=True`` (or a ``name_pattern``),
    every name must match the pattern as a whole.
    """

    def __init__(self, *, validate_names: bool = False,
                 name_pattern: str | re.Pattern[str] | None = None) -> None:
        if name_pattern is not None:
            validate_names = True
        self._name_pattern: re.Pattern[str] | None = (
            re.compile(name_pattern) if isinstance(name_pattern, str)
            else name_pattern or (DEFAULT_NAME_PATTERN if validate_names else None)
        )
        self._specs: dict[tuple[str, int], _Spec] = {}
        # One live routing table per dispatch core in use (usually just one), by Route type.
        self._tables: dict[type[Route], dict[tuple[str, int], Route]] = {}

    def event(self, name: str, version: int, *, schema: Any = None) -> Callable[[F], F]:
        """Decorator: register a function (sync or async) for (name, version)."""

        def register(handler: F) -> F:
            self.add(name, version, handler, schema=schema)
            return handler

        return register

    def add(self, name: str, version: int, handler: Callable[..., Any], schema: Any = None) -> None:
        """Register ``handler(event[, payload])`` for (name, version).

        The payload's type is ``schema``, else the annotation of the handler's second
        parameter, else a plain JSON value. ``msgspec.Raw`` gets the undecoded bytes.
        """
        if isinstance(handler, EventHandler):
            self.add_handler(name, version, handler, schema=schema)
            return
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._put(_Spec(self._check_name(name), _check_version(version), handler, schema))

    def add_handler(self, name: str, version: int, handler: EventHandler, schema: Any = None) -> None:
        """Register a class-style :class:`EventHandler` instance."""
        if isinstance(handler, type):
            handler = handler()
        schema = schema if schema is not None else getattr(handler, "schema", None)
        if schema is None:
            schema = getattr(handler, "_SCHEMA", None)  # the old package's spelling
        self._put(_Spec(self._check_name(name), _check_version(version), handler.handle, schema))

    def include(self, other: EventRouter) -> None:
        """Add every route of ``other`` (as registered now) to this router."""
        clashes = sorted(set(self._specs) & set(other._specs))
        if clashes:
            raise DuplicateEventError(f"already registered: {clashes}")
        for spec in other._specs.values():
            self._check_name(spec.name)
            self._put(spec)

    def catalogue(self) -> dict[str, Any]:
        """Every event with its docs and JSON Schemas, JSON-ready (see ``fastevents._catalogue``)."""
        from ._catalogue import catalogue  # imported here: only the catalogue's users pay for it

        return catalogue(self)

    @property
    def routes(self) -> list[tuple[str, int]]:
        """The registered (name, version) pairs, in registration order."""
        return list(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, key: object) -> bool:
        return key in self._specs

    def __repr__(self) -> str:
        return f"<EventRouter with {len(self._specs)} events>"

    def table_for(self, route_type: type[Route] = Route) -> dict[tuple[str, int], Route]:
        """The live routing table of one dispatch core's ``Route`` objects (internal)."""
        table = self._tables.get(route_type)
        if table is None:
            table = self._tables[route_type] = {key: spec.route(route_type) for key, spec in self._specs.items()}
        return table

    def _put(self, spec: _Spec) -> None:
        key = (spec.name, spec.version)
        if key in self._specs:
            raise DuplicateEventError(f"a handler for {spec.name!r} version {spec.version} is already registered")
        self._specs[key] = spec
        for route_type, table in self._tables.items():
            table[key] = spec.route(route_type)

    def _check_name(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {name!r}")
        if self._name_pattern is not None and not self._name_pattern.fullmatch(name):
            raise ValueError(f"invalid event name {name!r}: must match {self._name_pattern.pattern!r}")
        return name


def _check_version(version: int) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"event version must be a non-negative integer, got {version!r}")
    return version
