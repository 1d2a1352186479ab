"""Registration: which handler answers which (name, version), and how it is called."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import re
import typing
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, ClassVar, Literal, TypeVar

import msgspec

from ._compose import ExceptionHandler, Interceptor, Layer, compose, is_async_callable
from ._impl import MODE_EVENT, MODE_PLAIN, MODE_RAW, MODE_TYPED, Route

__all__ = ["DuplicateEventError", "EventHandler", "EventRouter", "PayloadMode", "Registration"]

F = TypeVar("F", bound=Callable[..., Any])
IT = TypeVar("IT", bound=Interceptor)
H = TypeVar("H", bound=ExceptionHandler)
#: ``lifespan(router)``: an async context manager entered before serving, left after.
Lifespan = Callable[["EventRouter"], contextlib.AbstractAsyncContextManager[Any]]

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


#: How a handler receives the payload: ``"typed"`` decoded into ``payload_type``, ``"json"``
#: as a plain JSON value, ``"raw"`` as undecoded ``msgspec.Raw`` bytes, ``"none"`` not at all
#: (the handler takes the event alone).
PayloadMode = Literal["typed", "json", "raw", "none"]

_PAYLOAD_MODES: dict[int, PayloadMode] = {MODE_TYPED: "typed", MODE_PLAIN: "json", MODE_RAW: "raw", MODE_EVENT: "none"}


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    """One registered (name, version), as :meth:`EventRouter.registrations` shows it.

    A read-only record of what was registered: changing it changes nothing in the router.
    ``handler`` is the callable the router calls (a class-style handler's bound ``handle``);
    ``timeout`` is its own, or that of the router it was included from, or ``None``.
    """

    name: str
    version: int
    handler: Callable[..., Any]
    payload_mode: PayloadMode
    #: The type the payload is decoded into when ``payload_mode`` is ``"typed"``, else ``None``.
    payload_type: Any
    timeout: float | None

    def response_annotation(self) -> Any:
        """The handler's return annotation, resolved (``inspect.Signature.empty`` when it has
        none, or when its forward references cannot be resolved)."""
        handler = self.handler
        target = handler if inspect.isroutine(handler) else getattr(handler, "__call__", handler)  # noqa: B004
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # unresolvable forward references: no annotation rather than a crash
            return inspect.Signature.empty
        return hints.get("return", inspect.Signature.empty)

    def doc(self) -> str:
        """The handler's docstring, cleaned; for a class-style handler or a callable object
        without one of its own, its class's; ``""`` when there is none."""
        handler = self.handler
        doc = inspect.getdoc(handler)
        if doc:
            return doc
        owner = getattr(handler, "__self__", None)  # a class-style handler's bound ``handle``
        if owner is None and not inspect.isroutine(handler):
            owner = handler  # a callable object
        text = getattr(type(owner), "__doc__", None) if owner is not None else None
        return inspect.cleandoc(text) if text else ""


class _Spec:
    """What was registered, independent of which core will dispatch it.

    ``layers`` are the wrappings of the routers it came through by ``include`` (innermost
    first); ``timeout`` is its own, or its router's default, or ``None``.
    """

    __slots__ = ("handler", "is_async", "layers", "mode", "name", "schema", "timeout", "version")

    def __init__(
        self, name: str, version: int, handler: Callable[..., Any], schema: Any, timeout: float | None = None
    ) -> None:
        self.name = name
        self.version = version
        self.handler = handler
        self.mode, self.schema = _call_mode(handler, schema)
        self.is_async = is_async_callable(handler)
        self.timeout = timeout
        self.layers: tuple[Layer, ...] = ()

    def included(self, layer: Layer, default_timeout: float | None) -> _Spec:
        """This route as seen by a router that includes the one holding it."""
        spec = object.__new__(_Spec)
        for slot in _Spec.__slots__:
            setattr(spec, slot, getattr(self, slot))
        spec.layers = (*self.layers, layer) if layer else self.layers
        spec.timeout = self.timeout if self.timeout is not None else default_timeout
        return spec

    def route(self, route_type: type[Route], layer: Layer, default_timeout: float | None) -> Route:
        decoder = msgspec.json.Decoder(self.schema) if self.mode == MODE_TYPED else None
        handler, is_async = compose(
            self.handler,
            self.mode != MODE_EVENT,
            (*self.layers, layer),
            self.timeout if self.timeout is not None else default_timeout,
        )
        return route_type(self.name, self.version, handler, self.mode, decoder, is_async)

    def registration(self) -> Registration:
        return Registration(
            self.name,
            self.version,
            self.handler,
            _PAYLOAD_MODES[self.mode],
            self.schema if self.mode == MODE_TYPED else None,
            self.timeout,
        )


def _qualname(fn: Any) -> str:
    """How an error names a registered callable: its qualified name, else its repr."""
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)


def _is_generator(fn: Any) -> bool:
    """A (sync or async) generator function, or an object whose ``__call__`` is one."""
    call = fn if inspect.isroutine(fn) else getattr(fn, "__call__", None)  # noqa: B004
    return inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call)


def _check_callable_with(fn: Any, count: int, what: str, shape: str) -> None:
    """Refuse, when it is registered, a callable that cannot be called with ``count``
    positional arguments (and nothing else)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: trusted
        return
    try:
        signature.bind(*([None] * count))
    except TypeError as exc:
        raise TypeError(f"{what} {_qualname(fn)} must be callable as {shape}: {exc}") from None


def _call_mode(handler: Callable[..., Any], schema: Any) -> tuple[int, Any]:
    if _is_generator(handler):
        raise TypeError(
            f"handler {_qualname(handler)} is a generator function: a handler returns its answer (return, not yield)"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins: assume (event, payload)
        params: list[inspect.Parameter] = []
        takes_payload = True
    else:
        params = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if not params:
            raise TypeError(f"{handler!r} must accept the event as its first argument")
        takes_payload = len(params) > 1 or params[0].kind is inspect.Parameter.VAR_POSITIONAL
        # Called handler(event) or handler(event, payload), nothing else: a third required
        # parameter or a required keyword-only one would fail on every request.
        shape = "handler(event, payload)" if takes_payload else "handler(event)"
        _check_callable_with(handler, 2 if takes_payload else 1, "handler", shape)
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

    Extending it (docs/extending.md): ``interceptors`` wrap every
    handler this router serves, included routers' too, outermost first; exception handlers
    (:meth:`exception_handler`) turn your exceptions into answers; ``default_timeout``
    (seconds) bounds every handler without a ``timeout`` of its own; ``lifespan(router)``,
    an async context manager, runs around serving (``asgi_app`` and ``fastevents serve``).
    All of it is composed into each route once, when its routing table is built or the
    wrapping changes; a route with none of it costs nothing.
    """

    def __init__(
        self,
        *,
        validate_names: bool = False,
        name_pattern: str | re.Pattern[str] | None = None,
        interceptors: Iterable[Interceptor] = (),
        default_timeout: float | None = None,
        lifespan: Lifespan | None = None,
    ) -> None:
        if isinstance(name_pattern, str):
            name_pattern = re.compile(name_pattern)
        self._name_pattern = name_pattern or (DEFAULT_NAME_PATTERN if validate_names else None)
        self._specs: dict[tuple[str, int], _Spec] = {}
        # One live routing table per dispatch core in use (usually just one), by Route type.
        self._tables: dict[type[Route], dict[tuple[str, int], Route]] = {}
        self._interceptors: list[Interceptor] = []
        self._exception_handlers: dict[type[BaseException], ExceptionHandler] = {}
        self._default_timeout = _check_timeout(default_timeout)
        self.lifespan = lifespan
        self._included: list[EventRouter] = []
        for interceptor in interceptors:
            self.add_interceptor(interceptor)

    def event(self, name: str, version: int, *, schema: Any = None, timeout: float | None = None) -> Callable[[F], F]:
        """Decorator: register a function (sync or async) for (name, version)."""

        def register(handler: F) -> F:
            self.add(name, version, handler, schema=schema, timeout=timeout)
            return handler

        return register

    def add(
        self, name: str, version: int, handler: Callable[..., Any], schema: Any = None, *, timeout: float | None = None
    ) -> None:
        """Register ``handler(event[, payload])`` for (name, version).

        The payload's type is ``schema``, else the annotation of the handler's second
        parameter, else a plain JSON value. ``msgspec.Raw`` gets the undecoded bytes.
        ``timeout`` (seconds) bounds the handler: past it, an ``async`` handler is
        cancelled and the answer is ``<name>:error`` with code ``TIMEOUT``; a sync handler
        cannot be interrupted, so its late result is discarded for the same answer.
        """
        if isinstance(handler, EventHandler):
            self.add_handler(name, version, handler, schema=schema, timeout=timeout)
            return
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {handler!r}")
        self._put(_Spec(self._check_name(name), _check_version(version), handler, schema, _check_timeout(timeout)))

    def add_handler(
        self, name: str, version: int, handler: EventHandler, schema: Any = None, *, timeout: float | None = None
    ) -> None:
        """Register a class-style :class:`EventHandler` instance."""
        if isinstance(handler, type):
            handler = handler()
        schema = schema if schema is not None else getattr(handler, "schema", None)
        if schema is None:
            schema = getattr(handler, "_SCHEMA", None)  # the old package's spelling
        self._put(
            _Spec(self._check_name(name), _check_version(version), handler.handle, schema, _check_timeout(timeout))
        )

    def include(self, other: EventRouter) -> None:
        """Add every route of ``other`` (as registered now, with its interceptors, exception
        handlers and default timeout) to this router; this router's wrap them too. ``other``'s
        lifespan runs inside this router's (see :meth:`lifespan_context`)."""
        clashes = sorted(set(self._specs) & set(other._specs))
        if clashes:
            raise DuplicateEventError(f"already registered: {clashes}")
        for spec in other._specs.values():  # all checked first: a refused include adds nothing
            self._check_name(spec.name)
        layer = other._layer()
        for spec in other._specs.values():
            self._put(spec.included(layer, other.default_timeout))
        self._included.append(other)

    # --- extending -------------------------------------------------------------------------

    @property
    def default_timeout(self) -> float | None:
        """Seconds for every handler without a ``timeout`` of its own (``None``: no limit)."""
        return self._default_timeout

    @default_timeout.setter
    def default_timeout(self, seconds: float | None) -> None:
        self._default_timeout = _check_timeout(seconds)
        self._refresh()  # live routing tables, and processors built already, see it

    def interceptor(self, fn: IT) -> IT:
        """Decorator: wrap every handler this router serves in ``fn(event, call_next)``.

        ``call_next(event)`` runs the rest of the chain and gives the handler's result (an
        awaitable under an async interceptor: ``await call_next(event)``). The event passed
        on reaches the handler; its payload argument stays the one decoded from the request. An interceptor can
        raise (an ``EventException`` answers with its type), return a result of its own
        without calling ``call_next``, or inspect and replace the result. Interceptors run
        in registration order, the first registered outermost.
        """
        self.add_interceptor(fn)
        return fn

    def add_interceptor(self, fn: Interceptor) -> None:
        """:meth:`interceptor` without the decorator."""
        if not callable(fn):
            raise TypeError(f"an interceptor must be callable, got {fn!r}")
        _check_callable_with(fn, 2, "interceptor", "fn(event, call_next)")
        self._interceptors.append(fn)
        self._refresh()

    def exception_handler(self, exc_type: type[BaseException]) -> Callable[[H], H]:
        """Decorator: answer ``exc_type`` raised by a handler or an interceptor with
        ``fn(event, exc)``: it returns what a handler may return, or raises an
        ``EventException``. The most specific registered type (by MRO) wins; an
        ``EventException`` reaches only a handler for it or a subclass, never ``Exception``'s. What an
        exception handler raises otherwise is an ordinary unhandled error: logged, and
        answered ``<name>:error`` with nothing of it on the wire."""

        def register(fn: H) -> H:
            self.add_exception_handler(exc_type, fn)
            return fn

        return register

    def add_exception_handler(self, exc_type: type[BaseException], fn: ExceptionHandler) -> None:
        """:meth:`exception_handler` without the decorator."""
        if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
            raise TypeError(f"exception handlers take Exception subclasses, got {exc_type!r}")
        if not callable(fn):
            raise TypeError(f"an exception handler must be callable, got {fn!r}")
        _check_callable_with(fn, 2, "exception handler", "fn(event, exc)")
        self._exception_handlers[exc_type] = fn
        self._refresh()

    @contextlib.asynccontextmanager
    async def lifespan_context(self) -> AsyncIterator[None]:
        """This router's lifespan, with those of the routers it included inside it (in the
        order they were included): entered before serving, left in reverse after."""
        async with contextlib.AsyncExitStack() as stack:
            if self.lifespan is not None:
                await stack.enter_async_context(self.lifespan(self))
            for other in self._included:
                await stack.enter_async_context(other.lifespan_context())
            yield

    def catalogue(self) -> dict[str, Any]:
        """Every event with its docs and JSON Schemas, JSON-ready (see ``fastevents._catalogue``)."""
        from ._catalogue import catalogue  # imported here: only the catalogue's users pay for it

        return catalogue(self)

    def openapi(self, *, title: str = "events", version: str = "1.0.0", path: str = "/events") -> dict[str, Any]:
        """The OpenAPI 3.1 document of ``POST path`` for this router's events, JSON-ready
        (see ``fastevents._openapi``): ``title`` and ``version`` are the document's ``info``."""
        from ._catalogue import catalogue
        from ._openapi import openapi

        return openapi(catalogue(self), title=title, version=version, path=path)

    def registrations(self) -> tuple[Registration, ...]:
        """Every registered event, in registration order, as read-only :class:`Registration`
        records (name, version, handler, payload mode and type, timeout): what the catalogue,
        the OpenAPI document and generated clients are built from."""
        return tuple(spec.registration() for spec in self._specs.values())

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
            table = self._tables[route_type] = {}
            self._fill(route_type, table)
        return table

    def _layer(self) -> Layer:
        return Layer(self._interceptors, self._exception_handlers)

    def _fill(self, route_type: type[Route], table: dict[tuple[str, int], Route]) -> None:
        layer = self._layer()
        table.update({key: spec.route(route_type, layer, self.default_timeout) for key, spec in self._specs.items()})

    def _refresh(self) -> None:
        # The wrapping changed: compose every route again (live tables are updated in place).
        for route_type, table in self._tables.items():
            self._fill(route_type, table)

    def _put(self, spec: _Spec) -> None:
        key = (spec.name, spec.version)
        if key in self._specs:
            raise DuplicateEventError(f"a handler for {spec.name!r} version {spec.version} is already registered")
        self._specs[key] = spec
        layer = self._layer()
        for route_type, table in self._tables.items():
            table[key] = spec.route(route_type, layer, self.default_timeout)

    def _check_name(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"event name must be a non-empty string, got {name!r}")
        if self._name_pattern is not None and not self._name_pattern.fullmatch(name):
            raise ValueError(f"invalid event name {name!r}: must match {self._name_pattern.pattern!r}")
        return name


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _check_version(version: int) -> int:
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"event version must be a non-negative integer, got {version!r}")
    return version
