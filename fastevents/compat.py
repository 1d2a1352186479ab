"""The old ``events-protocol`` 0.2.4 API, for code that migrates by changing its imports.

Point every ``events_protocol...`` import at this module::

    from fastevents.compat import (CamelPydanticMixin, EventBuilder, EventHandler,
                                   EventProcessor, EventRegister, ResponseEvent)

What differs from 0.2.4 on purpose is listed in the README ("Migrating from events-protocol
0.2.4"). In short: the old package's behaviour, without its defects.

* :class:`Event`, :class:`RequestEvent` and :class:`ResponseEvent` are the fastevents classes
  with the old ``to_json()`` (text, not bytes), an ``event.user`` that is never ``None`` and
  ``ResponseEvent.from_event(event, event_type)``. Handlers registered here receive a
  :class:`RequestEvent` of this module; what they return is answered as fastevents does.
* :class:`EventBuilder` takes the old ``response_for(event, payload, event_type)``.
* :class:`EventContextHolder` takes the old ``with_context(id, flow_id, name, version)``.
* :class:`CamelPydanticMixin` is a :class:`fastevents.CamelStruct` with the old
  ``to_dict()``, ``to_json()``, ``from_json()`` and construction from camelCase keys, and
  pydantic v1's ``dict()``, ``json()``, ``parse_obj()``, ``copy()`` and ``schema()``; its
  fields take this module's :func:`Field` and :func:`validator`. What of pydantic v1 it
  cannot do raises :class:`TypeError` when the class is defined.
* Registrations go to one module-level router, :data:`default_router`, and names must meet
  the old naming standard, checked against the whole name. Unlike the old package, a second
  registration of the same (name, version) raises instead of silently replacing the first.

New code should use :class:`fastevents.EventRouter` and :class:`fastevents.EventProcessor`.
"""

from __future__ import annotations

import builtins
import contextlib
import copy as _copy
import functools
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, cast

import msgspec

from . import _builder, _client, _context, _model, _processor
from ._context import EventContext
from ._errors import (
    BadProtocolException,
    EventClientError,
    EventException,
    FailedDependencyException,
    PayloadValidationError,
    TimeoutException,
)
from ._model import CamelStruct, RedirectPayload, User
from ._router import EventRouter
from ._wire import EventErrorType, EventFields, EventSuccessType, encode

if TYPE_CHECKING:
    from typing import Self

    import httpx  # the client imports it when one is built, not at import time

__all__ = [
    "AsyncEventHandler",
    "BadProtocolException",
    "BaseRequestException",
    "AsyncEventProcessor",
    "CamelPydanticMixin",
    "CamelStruct",
    "Event",
    "EventBuilder",
    "EventClient",
    "EventContext",
    "EventContextHolder",
    "EventDiscovery",
    "EventErrorType",
    "EventException",
    "EventFailedDependencyException",
    "EventHandler",
    "EventNotFoundException",
    "EventParsingException",
    "EventProcessor",
    "EventRegister",
    "EventSuccessType",
    "EventTimeoutException",
    "FailedDependencyException",
    "Field",
    "MessagebleEventException",
    "MissingEventInformationException",
    "RedirectPayload",
    "RequestEvent",
    "ResponseEvent",
    "TimeoutException",
    "User",
    "ValidationError",
    "default_router",
    "validator",
]

#: Where ``EventRegister.register_event()`` and ``EventDiscovery.add`` register.
default_router = EventRouter(validate_names=True)


# --- events ---------------------------------------------------------------------------

E = TypeVar("E", bound=_model.Event)
_FIELDS = EventFields.__struct_fields__
_SLOTS = tuple(EventFields.__dict__[field] for field in _FIELDS)


def _rebuild(cls: type[E], event: _model.Event) -> E:
    """``event`` as a ``cls``, sharing its slots as they are (still undecoded when received)."""
    return cls(**{field: slot.__get__(event) for field, slot in zip(_FIELDS, _SLOTS, strict=True)})


class Event(_model.Event):
    """:class:`fastevents.Event` as 0.2.4 showed it: ``to_json()`` is text, ``user`` never ``None``."""

    def to_json(self) -> str:  # type: ignore[override]  # the old package's type
        """The canonical wire form, as text."""
        return encode(self).decode()

    @property
    def user(self) -> User:  # never None, as in 0.2.4
        """``identity.user`` as a :class:`~fastevents.compat.User`; ``User(None, None)`` without one."""
        return super().user or User(None, None)


class RequestEvent(Event, _model.RequestEvent):
    """An event sent to a handler."""


class ResponseEvent(Event, _model.ResponseEvent):
    """An answer; :meth:`from_event` takes the old ``event_type`` argument."""

    @classmethod
    def from_event(
        cls, event: _model.Event, event_type: EventSuccessType | EventErrorType | str = EventSuccessType.SUCCESS
    ) -> ResponseEvent:
        """The answer ``<name>:<event_type>`` to ``event``: its version, ids and payload.

        Unlike 0.2.4 the answer does not carry the request's ``identity``, ``auth`` or
        ``metadata``: answers never echo them.
        """
        answer = _rebuild(cls, event)
        answer.name = f"{event.name}:{event_type}"
        answer.identity, answer.auth, answer.metadata = {}, {}, {}
        return answer


class EventBuilder(_builder.EventBuilder):
    """:class:`fastevents.EventBuilder` whose answers are this module's :class:`ResponseEvent`."""

    @staticmethod
    def response_for(
        event: _model.Event,
        payload: Any = None,
        event_type: EventSuccessType | EventErrorType | str = EventSuccessType.SUCCESS,
        loggable: bool = True,
        *,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ResponseEvent:
        """``<name>:<event_type>`` (``<name>:response`` by default) carrying ``payload``.

        ``loggable`` is accepted for old call sites and ignored, as 0.2.4 ignored it.
        """
        answer = _builder.EventBuilder.response_for(event, payload, identity=identity, auth=auth, metadata=metadata)
        answer.name = f"{event.name}:{event_type}"
        return _rebuild(ResponseEvent, answer)

    @staticmethod
    def redirect_for(
        event: _model.Event,
        redirect: RedirectPayload | str,
        query_parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> ResponseEvent:
        """``<name>:redirect`` (see :meth:`fastevents.EventBuilder.redirect_for`)."""
        return _rebuild(ResponseEvent, _builder.EventBuilder.redirect_for(event, redirect, query_parameters, **kwargs))

    @staticmethod
    def error_for(
        event: _model.Event | EventException, exception: EventException | _model.Event, *args: Any, **kwargs: Any
    ) -> ResponseEvent:
        """``<name>:<type>``, either argument order (see :meth:`fastevents.EventBuilder.error_for`).

        The old trailing ``id_flow`` and ``loggable`` arguments are accepted and ignored.
        """
        return _rebuild(ResponseEvent, _builder.EventBuilder.error_for(event, exception, **kwargs))


class EventContextHolder(_context.EventContextHolder):
    """:class:`fastevents.EventContextHolder`; ``with_context`` also takes the old arguments.

    ``with_context(event)`` makes an event current; the old
    ``with_context(id, flow_id, event_name, event_version, user_id=None, user_type=None)``
    makes current an event with those values (outgoing client calls then reuse ``id`` and
    ``flow_id``). Unlike 0.2.4, the outer context is restored when the block ends.
    """

    @staticmethod
    @contextlib.contextmanager
    def with_context(
        event: _model.Event | str | None,
        flow_id: str | None = None,
        event_name: str | None = None,
        event_version: int | None = None,
        user_id: Any = None,
        user_type: Any = None,
    ) -> Iterator[EventContext]:
        """Make ``event`` (or an event with the old arguments' values) current in a ``with`` block."""
        current = _context_event(event, flow_id, event_name, event_version, user_id, user_type)
        with _context.EventContextHolder.with_context(current) as context:
            yield context

    @staticmethod
    @contextlib.asynccontextmanager
    async def with_async_context(
        event: _model.Event | str | None,
        flow_id: str | None = None,
        event_name: str | None = None,
        event_version: int | None = None,
        user_id: Any = None,
        user_type: Any = None,
    ) -> AsyncIterator[EventContext]:
        """``with_context`` for ``async with``."""
        current = _context_event(event, flow_id, event_name, event_version, user_id, user_type)
        async with _context.EventContextHolder.with_async_context(current) as context:
            yield context


def _context_event(
    event: _model.Event | str | None,
    flow_id: str | None,
    event_name: str | None,
    event_version: int | None,
    user_id: Any,
    user_type: Any,
) -> _model.Event:
    if isinstance(event, _model.Event):
        return event
    identity = {"user": {"id": user_id, "type": user_type}} if user_id is not None or user_type is not None else {}
    # msgspec does not check types on construction: a missing name or version reads back as None.
    fields: dict[str, Any] = {"name": event_name, "version": event_version, "id": event, "flow_id": flow_id}
    return RequestEvent(**fields, identity=identity)


# --- schemas --------------------------------------------------------------------------
#
# 0.2.4's schemas were pydantic v1 models. What of pydantic v1 they use either works as it
# did (Field defaults, aliases and constraints, @validator, .dict(), .json(), .parse_obj(),
# .copy(), .schema()) or fails when the class is defined, naming the feature and the msgspec
# way to write it (README, "Migrating from events-protocol 0.2.4"). Nothing is ignored.


class FieldError:
    """One entry of :attr:`ValidationError.fields`: 0.2.4's ``name``, ``error_type``, ``message``."""

    __slots__ = ("error_type", "message", "name")

    def __init__(self, name: str, error_type: str, message: str) -> None:
        self.name, self.error_type, self.message = name, error_type, message

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "errorType": self.error_type, "message": self.message}


class ValidationError(PayloadValidationError):
    """A schema was built from values that do not fit it: 0.2.4's ``ValidationError``.

    A :class:`fastevents.PayloadValidationError` (a ``badRequest`` answer when a handler lets
    it through) with the old ``fields``, ``to_dict()`` and ``to_json()``.
    """

    @property
    def fields(self) -> list[FieldError]:
        return [FieldError(f["name"], f["errorType"], f["message"]) for f in self.parameters.get("fields", [])]

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [field.to_dict() for field in self.fields]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _validation_error(name: str, kind: str, message: str) -> ValidationError:
    return ValidationError(
        parameters={"fields": [{"name": name, "errorType": kind, "message": message}]}, expected=True
    )


def _unsupported(feature: str, instead: str) -> TypeError:
    return TypeError(f"{feature} is not supported by fastevents.compat; the msgspec way: {instead}")


#: ``Field`` keyword -> the ``msgspec.Meta`` keyword that checks it: the same name, but for
#: ``min_items``, ``max_items`` and ``regex`` (anchored at the start first: pydantic v1 used
#: ``re.match``, msgspec ``re.search``).
_FIELD_META = {
    **{
        name: name
        for name in ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "title", "description")
    },
    "min_items": "min_length",
    "max_items": "max_length",
    "regex": "pattern",
}


class FieldInfo:
    """What :func:`Field` returns; read once, when the schema class is defined."""

    __slots__ = ("alias", "default", "default_factory", "meta")

    def __init__(
        self, default: Any, default_factory: Callable[[], Any] | None, alias: str | None, meta: dict[str, Any]
    ):
        self.default, self.default_factory, self.alias, self.meta = default, default_factory, alias, meta

    def apply(self, annotation: Any) -> tuple[Any, Any]:
        """(the class attribute, the annotation) that make msgspec do what this field says."""
        if self.meta:
            meta = dict(self.meta)
            if "pattern" in meta:  # pydantic v1 matched from the start (re.match); msgspec searches
                meta["pattern"] = f"^(?:{meta['pattern']})"
            annotation = Annotated[annotation, msgspec.Meta(**meta)]
        options: dict[str, Any] = {} if self.alias is None else {"name": self.alias}
        if self.default_factory is not None:
            options["default_factory"] = self.default_factory
        elif self.default is not ...:
            options["default"] = self.default
        return msgspec.field(**options), annotation


def Field(  # pydantic's name, so that only the import changes
    default: Any = ...,
    *,
    default_factory: Callable[[], Any] | None = None,
    alias: str | None = None,
    **options: Any,
) -> Any:
    """pydantic v1's ``Field`` for :class:`CamelPydanticMixin` schemas: a default (``...``:
    required) or ``default_factory``, an ``alias`` (the key on the wire), and the checks
    ``gt``, ``ge``, ``lt``, ``le``, ``multiple_of``, ``min_length``, ``max_length``,
    ``min_items``, ``max_items`` and ``regex``, enforced as ``msgspec.Meta`` constraints;
    ``title`` and ``description`` go to :meth:`CamelPydanticMixin.schema`.

    Any other option raises :class:`TypeError` here, in the class body.
    """
    for option in options:
        if option not in _FIELD_META:
            raise _unsupported(
                f"Field({option}=...)",
                "annotate the field as Annotated[T, msgspec.Meta(...)] or check it in __post_init__",
            )
    if default is not ... and default_factory is not None:
        raise TypeError("Field() takes a default or a default_factory, not both")
    meta = {_FIELD_META[option]: value for option, value in options.items() if value is not None}
    return FieldInfo(default, default_factory, alias, meta)


class _Validator:
    """What :func:`validator` returns; read once, when the schema class is defined."""

    __slots__ = ("always", "check_fields", "fields", "function", "takes_values")

    def __init__(self, fields: tuple[str, ...], function: Callable[..., Any], always: bool, check_fields: bool):
        parameters = list(inspect.signature(function).parameters.values())[2:]  # after cls, value
        for parameter in parameters:
            if parameter.name != "values" and parameter.kind is not inspect.Parameter.VAR_KEYWORD:
                raise _unsupported(
                    f"the validator parameter {parameter.name!r} ({function.__qualname__})",
                    "take (cls, value) or (cls, value, values); read other settings from the class",
                )
        self.fields, self.function, self.always, self.check_fields = fields, function, always, check_fields
        self.takes_values = bool(parameters)


def validator(
    *fields: str,
    pre: bool = False,
    each_item: bool = False,
    always: bool = False,
    check_fields: bool = True,
    whole: bool | None = None,
    allow_reuse: bool = False,
) -> Callable[[Callable[..., Any]], Any]:
    """pydantic v1's ``@validator("field", ...)`` for :class:`CamelPydanticMixin` schemas.

    The validator runs as pydantic v1 ran it, after the value was checked against its
    annotation: ``(cls, value[, values])`` returns the value to keep; a ``ValueError``,
    ``TypeError`` or ``AssertionError`` it raises is a :class:`ValidationError` naming the
    field. Validators run field by field in declaration order (``values`` holds the fields
    before), on construction and on decoding (``event.payload_as``), through the schema's
    ``__post_init__``. Without ``always=True`` a field holding its default is skipped.
    ``pre=True``, ``each_item=True`` and ``whole`` raise :class:`TypeError` here.
    """
    if pre:
        raise _unsupported(
            "@validator(pre=True)",
            "annotate a type that accepts the raw input (msgspec converts it) and validate after",
        )
    if each_item or whole is not None:
        raise _unsupported(
            "@validator(each_item=True)", "validate the whole list, or give the item schema a __post_init__"
        )
    if not fields or not all(isinstance(field, str) for field in fields):
        raise TypeError("validator() takes the names of the fields it checks: @validator('name')")

    def decorate(function: Callable[..., Any]) -> Any:
        return _Validator(fields, getattr(function, "__func__", function), always, check_fields)

    return decorate


def _refuse_pydantic(name: str, namespace: dict[str, Any]) -> None:
    """Raise for what of pydantic a schema's class body holds: fastevents would not read it."""
    if "Config" in namespace:
        raise _unsupported(
            f"{name}.Config (pydantic's model configuration)",
            f"pass msgspec Struct options to the class: class {name}(CamelPydanticMixin, forbid_unknown_fields=True)",
        )
    for attribute, value in namespace.items():
        target = getattr(value, "__func__", value)
        decorator = type(getattr(value, "decorator_info", None)).__name__  # pydantic 2's decorators
        marks = {
            key
            for key in ("__root_validator_config__", "__validator_config__")
            for x in (value, target)
            if hasattr(x, key)
        }
        if "__root_validator_config__" in marks or decorator in _PYDANTIC_ROOT_VALIDATORS:
            raise _unsupported(f"{name}.{attribute}: @root_validator", "check across fields in __post_init__")
        if "__validator_config__" in marks or decorator in _PYDANTIC_VALIDATORS:
            raise TypeError(
                f"{name}.{attribute}: pydantic's @validator is not read by fastevents.compat schemas; "
                "import validator from fastevents.compat"
            )
        if (type(value).__module__ or "").startswith("pydantic"):
            raise TypeError(
                f"{name}.{attribute}: pydantic's {type(value).__name__} is not read by fastevents.compat schemas; "
                "import Field from fastevents.compat, or annotate Annotated[T, msgspec.Meta(...)]"
            )


_PYDANTIC_ROOT_VALIDATORS = ("RootValidatorDecoratorInfo", "ModelValidatorDecoratorInfo")
_PYDANTIC_VALIDATORS = ("ValidatorDecoratorInfo", "FieldValidatorDecoratorInfo")


def _run_validators(self: Any) -> None:
    cls = type(self)
    values: dict[str, Any] = {}
    for name, wire in zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True):
        value = getattr(self, name)
        checks = cls.__compat_validators__[name]
        if checks:
            given = not _holds_default(cls, name, value)
            for check in checks:
                if not (given or check.always):
                    continue
                try:
                    value = check.function(cls, value, values) if check.takes_values else check.function(cls, value)
                except (ValueError, TypeError, AssertionError) as exc:
                    # msgspec reports a __post_init__ error at the schema's own path: the
                    # field's path, added here, is where fastevents' errors read the name.
                    raise ValueError(f"{exc or type(exc).__name__} - at `$.{wire}`") from None
            msgspec.structs.force_setattr(self, name, value)
        values[name] = value


_NO_DEFAULT = object()


def _holds_default(cls: Any, name: str, value: Any) -> bool:
    default = cls.__compat_defaults__.get(name, _NO_DEFAULT)
    return type(value) is type(default) and value == default


def _post_init(user: Callable[[Any], None] | None) -> Callable[[Any], None]:
    def __post_init__(self: Any) -> None:
        _run_validators(self)
        if user is not None:
            user(self)

    __post_init__.__compat_user__ = user  # type: ignore[attr-defined]
    return __post_init__


class _CamelMeta(msgspec.StructMeta):
    __compat_validator_list__: tuple[_Validator, ...]
    __compat_validators__: dict[str, list[_Validator]]
    __compat_defaults__: dict[str, Any]
    __compat_factories__: frozenset[str]

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> Any:
        namespace = dict(namespace)
        _refuse_pydantic(name, namespace)
        # pydantic let a required field follow one with a default; msgspec does for keyword-only
        # fields. Construction goes through __call__ below, which also takes positions.
        kwargs.setdefault("kw_only", True)
        annotations = dict(namespace.get("__annotations__", {}))
        own: list[_Validator] = []
        for attribute, value in list(namespace.items()):
            if isinstance(value, _Validator):
                own.append(value)
                namespace[attribute] = classmethod(value.function)  # callable as before
            elif isinstance(value, FieldInfo):
                if attribute not in annotations:
                    raise TypeError(f"{name}.{attribute}: a Field() needs an annotation")
                namespace[attribute], annotations[attribute] = value.apply(annotations[attribute])
        namespace["__annotations__"] = annotations
        inherited = [v for base in bases for v in getattr(base, "__compat_validator_list__", ())]
        if own or inherited:
            user = namespace.pop("__post_init__", None)
            if user is None:
                user = next((getattr(base, "__post_init__", None) for base in bases), None)
                user = getattr(user, "__compat_user__", user)
            namespace["__post_init__"] = _post_init(user)
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        fields = cls.__struct_fields__
        for check in own:
            unknown = [field for field in check.fields if field != "*" and field not in fields]
            if unknown and check.check_fields:
                raise TypeError(f"{name}: validator {check.function.__name__} names unknown fields {unknown}")
        defaults = _field_defaults(cls)
        cls.__compat_validator_list__ = (*inherited, *own)
        cls.__compat_validators__ = {
            field: [v for v in cls.__compat_validator_list__ if field in v.fields or "*" in v.fields]
            for field in fields
        }
        cls.__compat_factories__ = frozenset(f for f, default in defaults.items() if _is_factory(default))
        # the default to compare with; a factory's: a fresh value
        cls.__compat_defaults__ = {
            f: default.factory() if f in cls.__compat_factories__ else default for f, default in defaults.items()
        }
        return cls

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        # Build from keyword arguments spelled either way (first_name= or firstName=), checked
        # and converted like a decoded payload: nested objects become their Structs.
        names, wire = cls.__struct_fields__, cls.__struct_encode_fields__
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes at most {len(names)} positional arguments")
        to_wire = dict(zip(names, wire, strict=True))
        data = dict(zip(wire, args, strict=False))
        for key, value in kwargs.items():
            key = to_wire.get(key, key)
            if key in data:
                raise TypeError(f"{cls.__name__} got multiple values for {key!r}")
            data[key] = value
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ValidationError.from_validation_error(exc) from None


def _field_defaults(struct: Any) -> dict[str, Any]:
    """Field -> msgspec's default (a value or a factory), for the fields that have one: the last ones."""
    fields = struct.__struct_fields__
    return dict(zip(fields[len(fields) - len(struct.__struct_defaults__) :], struct.__struct_defaults__, strict=True))


def _is_factory(default: Any) -> bool:
    return type(default).__name__ == "Factory" and callable(getattr(default, "factory", None))


def _plain(value: Any, by_alias: bool = True) -> Any:
    if isinstance(value, msgspec.Struct):
        names = value.__struct_encode_fields__ if by_alias else value.__struct_fields__
        return {
            key: _plain(getattr(value, name), by_alias)
            for name, key in zip(value.__struct_fields__, names, strict=True)
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item, by_alias) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item, by_alias) for key, item in value.items()}
    return value


def _deep_copy(value: Any) -> Any:
    """``copy.deepcopy`` that does not build schemas again: validators ran when they were built."""
    if isinstance(value, msgspec.Struct):
        copied = _copy.copy(value)  # copy.copy skips __post_init__, copy.deepcopy does not
        for name in value.__struct_fields__:
            msgspec.structs.force_setattr(copied, name, _deep_copy(getattr(value, name)))
        return copied
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_copy(item) for item in value)
    if isinstance(value, dict):
        return {key: _deep_copy(item) for key, item in value.items()}
    return _copy.deepcopy(value)


def _v1_schema(cls: type[msgspec.Struct], by_alias: bool) -> dict[str, Any]:
    """pydantic v1's ``.schema()`` layout of msgspec's JSON Schema for ``cls``."""
    document = msgspec.json.schema(cls)
    classes: dict[str, type[msgspec.Struct]] = {}

    def collect(info: Any) -> None:
        if isinstance(info, msgspec.inspect.StructType) and info.cls.__name__ not in classes:
            classes[info.cls.__name__] = info.cls
            for field in info.fields:
                collect(field.type)
        for attribute in ("type", "item_type", "key_type", "value_type"):
            if isinstance(getattr(info, attribute, None), msgspec.inspect.Type):
                collect(getattr(info, attribute))
        for item in getattr(info, "types", ()) or ():
            collect(item)

    collect(msgspec.inspect.type_info(cls))

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: fix(value) for key, value in node.items()}
        if isinstance(node.get("$ref"), str):
            node["$ref"] = node["$ref"].replace("#/$defs/", "#/definitions/")
        options = node.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del node["anyOf"]
            node = {**node, "anyOf": rest} if len(rest) > 1 else {**node, **rest[0]}
        pattern = node.get("pattern")
        if isinstance(pattern, str) and pattern.startswith("^(?:") and pattern.endswith(")"):
            node["pattern"] = pattern[4:-1]
        return node

    def model(name: str, definition: dict[str, Any]) -> dict[str, Any]:
        struct = classes[name]
        factories = {field for field, default in _field_defaults(struct).items() if _is_factory(default)}
        to_name = dict(zip(struct.__struct_encode_fields__, struct.__struct_fields__, strict=True))
        properties: dict[str, Any] = {}
        for key, schema in definition.get("properties", {}).items():
            schema = fix(schema)
            if schema.get("default", 0) is None or to_name[key] in factories:
                schema.pop("default", None)
            if "$ref" not in schema:
                schema = {"title": key.title().replace("_", " "), **schema}
            properties[key if by_alias else to_name[key]] = schema
        out: dict[str, Any] = {"title": definition.get("title", name), "type": "object", "properties": properties}
        required = [key if by_alias else to_name[key] for key in definition.get("required", [])]
        if required:
            out["required"] = required
        if "description" in definition:
            out["description"] = definition["description"]
        return out

    definitions = {name: model(name, schema) for name, schema in document.get("$defs", {}).items()}
    top = definitions.pop(cls.__name__)
    return {**top, "definitions": definitions} if definitions else top


class CamelPydanticMixin(CamelStruct, metaclass=_CamelMeta):
    """Base for payload schemas written for 0.2.4: a :class:`fastevents.CamelStruct` that
    also has the old ``to_dict()``, ``to_json()``, ``from_json()`` and ``from_object()``, and
    pydantic v1's ``dict()``, ``json()``, ``parse_obj()``, ``copy()`` and ``schema()``.

    Construction takes keyword arguments by attribute name or by camelCase key
    (``MySchema(**payload)``), and checks them: a mismatch raises :class:`ValidationError`
    (a :class:`fastevents.PayloadValidationError`: a ``badRequest`` answer when a handler
    lets it through). Values are not coerced (``1`` is no ``str``), except numbers sent as
    text. Fields may use :func:`Field` and :func:`validator` (this module's, not pydantic's).
    """

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain values, keyed as on the wire (camelCase); nested schemas too."""
        return cast("dict[str, Any]", _plain(self))

    def to_json(self) -> str:
        """The schema as JSON text, keyed as on the wire."""
        return encode(self).decode()

    @classmethod
    def from_json(cls, data: str | bytes) -> Self:
        """Read JSON text; raise :class:`ValidationError` if it does not fit."""
        try:
            value = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise _validation_error("json", "invalid", str(exc)) from None
        if not isinstance(value, dict):
            raise _validation_error("", "type", f"Expected `object`, got `{type(value).__name__}`")
        return cls(**value)

    @classmethod
    def from_object(cls, obj: CamelPydanticMixin) -> Self:
        """Another schema's values, as this schema."""
        return cls(**obj.to_dict())

    # pydantic v1's model methods, as 0.2.4's schemas had them

    def dict(
        self,
        *,
        include: Any = None,
        exclude: Any = None,
        by_alias: bool = False,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        skip_defaults: bool | None = None,
    ) -> dict[str, Any]:
        """pydantic v1's ``dict()``: keyed by attribute name (by wire key with ``by_alias=True``).

        ``include`` / ``exclude`` take a set of top-level attribute names.
        ``exclude_unset`` raises :class:`TypeError`: schemas do not record which fields were set.
        """
        if exclude_unset or skip_defaults:
            raise _unsupported("dict(exclude_unset=True)", "exclude_defaults=True, or msgspec's omit_defaults=True")
        for name, chosen in (("include", include), ("exclude", exclude)):
            if chosen is not None and not (
                isinstance(chosen, (set, frozenset)) and all(isinstance(k, str) for k in chosen)
            ):
                raise _unsupported(f"dict({name}=...) other than a set of field names", "pick the keys from dict()")
        cls = type(self)
        out: dict[str, Any] = {}
        for name, key in zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True):
            value = getattr(self, name)
            if (include is not None and name not in include) or (exclude is not None and name in exclude):
                continue
            if exclude_none and value is None:
                continue
            # as pydantic v1: a default_factory's value is never "the default"
            if exclude_defaults and name not in cls.__compat_factories__ and _holds_default(cls, name, value):
                continue
            out[key if by_alias else name] = _plain(value, by_alias)
        return out

    def json(
        self,
        *,
        include: Any = None,
        exclude: Any = None,
        by_alias: bool = False,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        **dumps_kwargs: Any,
    ) -> str:
        """pydantic v1's ``json()``: :meth:`dict` written by ``json.dumps`` (its spacing too)."""
        data = self.dict(
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        return json.dumps(msgspec.to_builtins(data), **dumps_kwargs)

    @classmethod
    def parse_obj(cls, obj: Any) -> Self:
        """pydantic v1's ``parse_obj()``: a schema from a mapping keyed either way."""
        if not isinstance(obj, Mapping):
            raise _validation_error("__root__", "type", f"{cls.__name__} expected dict not {type(obj).__name__}")
        return cls(**obj)

    def copy(
        self, *, include: Any = None, exclude: Any = None, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self:
        """pydantic v1's ``copy()``: ``update`` by attribute name, not validated (as in v1)."""
        if include is not None or exclude is not None:
            raise _unsupported("copy(include=..., exclude=...)", "build a new schema from dict(include=...)")
        copied = _deep_copy(self) if deep else _copy.copy(self)
        for name, value in (update or {}).items():
            if name not in self.__struct_fields__:
                raise TypeError(f"{type(self).__name__}.copy(update=...): no field {name!r}")
            msgspec.structs.force_setattr(copied, name, value)  # as in v1: not validated
        return copied

    @classmethod
    def schema(cls, by_alias: bool = True) -> builtins.dict[str, Any]:
        """pydantic v1's ``schema()``: the JSON Schema, nested schemas under ``definitions``.

        Built from ``msgspec.json.schema(cls)`` (JSON Schema 2020-12), laid out as pydantic
        v1 did: titles for each property, ``Optional`` fields without the ``null`` branch.
        """
        return _v1_schema(cls, by_alias)


# --- exceptions -----------------------------------------------------------------------


class MessagebleEventException(EventException):
    """An :class:`~fastevents.EventException` built from one message: ``parameters`` is
    ``{"message": message}`` (the old package's spelling of the name is kept)."""

    def __init__(
        self,
        message: str | None = None,
        parameters: dict[str, Any] | None = None,
        *,
        type: EventErrorType | str | None = None,
        expected: bool = False,
    ) -> None:
        if isinstance(message, dict) and parameters is None:  # EventException(parameters) style
            message, parameters = None, message
        if parameters is None and message is not None:
            parameters = {"message": message}
        super().__init__(None, parameters, type=type, expected=expected)


class EventNotFoundException(MessagebleEventException):
    code = "EVENT_NOT_FOUND"
    type = EventErrorType.NOT_FOUND


class MissingEventInformationException(EventException):
    code = "MISSING_FIELDS"
    type = EventErrorType.BAD_REQUEST


class EventParsingException(EventException):
    code = "INVALID_COMMUNICATION_PROTOCOL"
    type = EventErrorType.BAD_PROTOCOL


class EventFailedDependencyException(MessagebleEventException):
    code = "FAILED_DEPENDENCY"


class EventTimeoutException(MessagebleEventException):
    code = "EVENT_TIMEOUT"


#: The old client's exceptions (``events_protocol.client.exception.request_exception``) are
#: fastevents': ``TimeoutException``, ``FailedDependencyException`` and
#: ``BadProtocolException`` under their old names, and their old base under its own.
BaseRequestException = EventClientError


# --- handlers and registration -----------------------------------------------------------


class EventHandler:
    """Old-style handler: ``handle`` is a classmethod taking the event; ``_SCHEMA`` types it."""

    _SCHEMA: ClassVar[Any] = None

    @classmethod
    def handle(cls, event: RequestEvent) -> Any:
        raise NotImplementedError(f"{cls.__name__}.handle")

    @classmethod
    def parse_event(cls, event: _model.Event) -> Any:
        """The payload decoded into ``_SCHEMA``; when it does not match, a
        :class:`MissingEventInformationException` (a ``badRequest`` answer) naming the fields,
        as in 0.2.4."""
        if cls._SCHEMA is None:
            return event.payload
        try:
            return event.payload_as(cls._SCHEMA)
        except PayloadValidationError as exc:
            raise MissingEventInformationException(parameters=exc.parameters, expected=True) from None


class AsyncEventHandler(EventHandler):
    """Old-style handler whose ``handle`` is ``async``."""


def _answer(result: Any) -> Any:
    # This module's events write text; the dispatch cores send an Event's bytes.
    return _rebuild(_model.ResponseEvent, result) if isinstance(result, Event) else result


def _route(handle: Callable[[RequestEvent], Any]) -> Callable[[_model.Event], Any]:
    """``handle`` as a route: it gets a :class:`RequestEvent` of this module."""
    if inspect.iscoroutinefunction(handle):

        async def route_async(event: _model.Event) -> Any:
            return _answer(await handle(_rebuild(RequestEvent, event)))

        return route_async

    def route(event: _model.Event) -> Any:
        result = handle(_rebuild(RequestEvent, event))
        if inspect.isawaitable(result):  # a sync function that returns an awaitable

            async def later() -> Any:
                return _answer(await result)

            return later()
        return _answer(result)

    return route


class EventDiscovery:
    """The old registry interface over :data:`default_router`."""

    _handlers: ClassVar[dict[tuple[str, int], type[EventHandler]]] = {}

    @classmethod
    def add(cls, event_name: str, event_handler: type[EventHandler], version: int = 1) -> None:
        if not (isinstance(event_handler, type) and issubclass(event_handler, EventHandler)):
            raise TypeError("event_handler must be an EventHandler subclass")
        default_router.add(event_name, version, _route(event_handler.handle))
        cls._handlers[(event_name, version)] = event_handler

    @classmethod
    def get(cls, event_name: str, version: int = 1) -> type[EventHandler]:
        handler = cls._handlers.get((event_name, version))
        if handler is None:
            raise EventNotFoundException(f"Event Name {event_name} of version {version} was not found")
        return handler


class EventRegister:
    """Subclass with ``event_name``, ``event_version`` and ``event_handler``, then call
    ``register_event()`` at start-up."""

    event_name: ClassVar[str]
    event_version: ClassVar[int | None] = 1
    event_handler: ClassVar[type[EventHandler]]

    @classmethod
    def register_event(cls) -> None:
        EventDiscovery.add(cls.event_name, cls.event_handler, cls.event_version or 1)


@functools.cache
def _default_processor() -> _processor.EventProcessor:
    return _processor.EventProcessor(default_router)


class EventProcessor:
    """``EventProcessor.process_event(body)``: the old class-level call, text in, text out."""

    @classmethod
    def process_event(cls, raw_event: str | bytes) -> str:
        return _default_processor().process_event(raw_event).decode()


class AsyncEventProcessor:
    """``await AsyncEventProcessor.process_event(body)``, for ``async`` handlers."""

    @classmethod
    async def process_event(cls, raw_event: str | bytes) -> str:
        return (await _default_processor().process_event_async(raw_event)).decode()


class EventClient(_client.EventClient):
    """The old package's client: like :class:`fastevents.EventClient`, but every ``timeout``
    (the constructor's and :meth:`send_event`'s) is in **milliseconds**, as it was in
    ``events-protocol``: ``send_event(..., timeout=1000)`` waits one second, not 1000.

    The default is fastevents' 15 s (15000 ms), not the old 60000. ``timeout`` reads back in
    milliseconds. New code should use :class:`fastevents.EventClient` (seconds).
    """

    def __init__(
        self,
        url: str,
        timeout: float = _client.DEFAULT_TIMEOUT * 1000,
        *,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(url, timeout / 1000, headers=headers, client=client)
        self._seconds = timeout / 1000
        self.timeout = timeout

    def send_event(
        self,
        name: str,
        version: int,
        payload: Any = None,
        id: str | None = None,
        flow_id: str | None = None,
        identity: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResponseEvent:
        """Send one event; ``timeout`` in milliseconds (default: the client's). The
        arguments may be positional, in the old order (``id`` and ``flow_id`` after ``payload``)."""
        seconds = self._seconds if timeout is None else timeout / 1000
        call = self._prepare(name, version, payload, id, flow_id, identity, auth, metadata, seconds, headers)
        return _rebuild(ResponseEvent, self._send(call))

    def __repr__(self) -> str:
        return f"<compat.EventClient {self.url} timeout={self.timeout} ms>"
