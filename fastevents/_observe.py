"""The observer seam: who is told when an event starts and how it ended.

Telemetry, metrics and audit logs plug in here (``fastevents.otel`` does). Register an
:class:`EventObserver` with :func:`add_observer`: every processor, those built before
included, then reports every event it answers -- the ones that never reach a handler
(``badProtocol``, ``eventNotFound``, ``badRequest``) too. With no observer registered the
dispatch cores check one attribute and pay nothing else (BENCHMARKS.md, "Extending the
server").

Clients have the same seam: :class:`ClientObserver` and :func:`add_client_observer`.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import ValidationError

from ._errors import EventException, PayloadValidationError
from ._wire import EventErrorType

if TYPE_CHECKING:
    from ._model import Event, ResponseEvent

__all__ = [
    "ClientCall",
    "ClientObserver",
    "EventCall",
    "EventObserver",
    "add_client_observer",
    "add_observer",
    "remove_client_observer",
    "remove_observer",
]

logger = logging.getLogger("fastevents")

#: The HTTP request headers of the call being dispatched (set by the ASGI app while
#: observers are registered), so that observers can read trace context from them.
request_headers: ContextVar[Mapping[str, str] | None] = ContextVar("fastevents.request_headers", default=None)

_CLIENT_CAUSED = frozenset({"badProtocol", "eventNotFound"})
#: The status of an event cancelled before it was answered.
CANCELLED = "cancelled"
#: The statuses of a call that succeeded (the rest are errors, for metrics and spans).
SUCCESS = frozenset({"response", "redirect"})


class EventCall:
    """One event as observers see it. Filled when it starts: ``name``, ``version``, ``id``,
    ``flow_id`` (``None`` when the body is no envelope), ``event`` (the received event, or
    ``None``), ``routed`` (a route answers it), ``headers`` (the HTTP request headers under
    ``asgi_app``, else ``None``), ``start`` (``time.perf_counter()``). Filled when it ends:
    ``answer_name``, ``status`` (the answer's suffix: ``response``, ``redirect``,
    ``badRequest``, ``badProtocol``, ``eventNotFound``, ``error``...), ``error_type``
    (``None`` for a success or a redirect), ``exception``, ``expected`` (an
    ``EventException(expected=True)``), ``client_caused`` (``badProtocol``,
    ``eventNotFound``, or a payload that does not fit) and ``duration`` (seconds).
    """

    __slots__ = (
        "answer_name",
        "client_caused",
        "duration",
        "error_type",
        "event",
        "exception",
        "expected",
        "headers",
        "observers",
        "routed",
        "start",
        "states",
        "status",
    )

    def __init__(self, event: Event | None, routed: bool) -> None:
        self.event = event
        self.routed = routed
        self.headers = request_headers.get()
        self.start = perf_counter()
        self.answer_name = ""
        self.status = ""
        self.error_type: EventErrorType | None = None
        self.exception: BaseException | None = None
        self.expected = False
        self.client_caused = False
        self.duration = 0.0
        self.observers: tuple[EventObserver, ...] = ()
        self.states: list[Any] = []

    # Read from the event on demand: the ids stay undecoded unless an observer asks.
    @property
    def name(self) -> str | None:
        return self.event.name if self.event is not None else None

    @property
    def version(self) -> int | None:
        return self.event.version if self.event is not None else None

    @property
    def id(self) -> str | None:
        return self.event.id if self.event is not None else None

    @property
    def flow_id(self) -> str | None:
        return self.event.flow_id if self.event is not None else None

    def end(self, answer: bytes | None, exc: BaseException | None) -> None:
        """The event was answered (``answer``; ``exc`` if the handler raised), or cancelled
        before it could be (``answer`` is ``None``, status ``cancelled``: its client went
        away, or the server stopped): tell the observers that saw it start, once."""
        self.duration = perf_counter() - self.start
        if answer is None:
            self.answer_name, status = "", CANCELLED
        else:
            try:
                self.answer_name = _answer_name(answer)
            except Exception:  # pragma: no cover - every answer is an envelope
                self.answer_name = ""
            status = self.answer_name.rpartition(":")[2]
        self.status = status
        self.exception = exc
        self.expected = isinstance(exc, EventException) and exc.expected
        if status not in SUCCESS:
            self.error_type = EventErrorType.from_suffix(status)
        self.client_caused = status in _CLIENT_CAUSED or (
            status == EventErrorType.BAD_REQUEST and isinstance(exc, (ValidationError, PayloadValidationError))
        )
        _ended(self.observers, self.states, "event_ended", self)

    def __repr__(self) -> str:
        return f"<EventCall {self.name!r} v{self.version} {self.status or 'running'}>"


class EventObserver:
    """Subclass and override what you need; register with :func:`add_observer`.

    ``event_started`` runs in the handler's own context, right before the handler (for
    events that reach none, right before the answer is sent): what it sets in a context
    variable is seen by the handler and by the client calls it makes. Its return value is
    handed to ``event_ended``, which runs in the same context once the answer is built.
    What an observer raises is logged and ignored: it never changes an answer.
    """

    def event_started(self, call: EventCall) -> Any:
        return None

    def event_ended(self, call: EventCall, state: Any) -> None:
        return None


class _AnswerName(msgspec.Struct):
    name: str


_decode_answer_name = msgspec.json.Decoder(_AnswerName).decode
_NAME_START = b'{"name":"'


def _answer_name(answer: bytes) -> str:
    # Every answer starts with its name (the cores write it first): read it in place unless
    # it holds an escape, which only a full decode reads right.
    if answer.startswith(_NAME_START):
        end = answer.find(b'"', 9)
        if end > 0 and b"\\" not in answer[9:end]:
            return answer[9:end].decode()
    return _decode_answer_name(answer).name


def _started(observers: tuple[Any, ...], method: str, call: Any) -> list[Any]:
    """Each observer's ``method(call)``, in order: their states (``None`` for one that failed)."""
    states = []
    for observer in observers:
        try:
            states.append(getattr(observer, method)(call))
        except Exception:
            logger.exception("fastevents: observer %r failed in %s", observer, method)
            states.append(None)
    return states


def _ended(observers: tuple[Any, ...], states: list[Any], method: str, call: Any) -> None:
    """Each observer's ``method(call, state)``, in reverse order, failures logged and ignored."""
    for observer, state in zip(reversed(observers), reversed(states), strict=True):
        try:
            getattr(observer, method)(call, state)
        except Exception:
            logger.exception("fastevents: observer %r failed in %s", observer, method)


class Hooks:
    """The dispatch cores' ``hooks``: ``begin`` starts an :class:`EventCall` with the
    observers registered now; the call's own ``end`` finishes it with the same observers,
    even if the registered ones changed while it was in flight."""

    __slots__ = ("observers",)

    def __init__(self, observers: tuple[EventObserver, ...]) -> None:
        self.observers = observers

    def begin(self, event: Event | None, route: Any) -> EventCall:
        call = EventCall(event, route is not None)
        call.observers = self.observers
        call.states = _started(self.observers, "event_started", call)
        return call


_observers: list[EventObserver] = []
_dispatchers: weakref.WeakSet[Any] = weakref.WeakSet()


def _hooks() -> Hooks | None:
    return Hooks(tuple(_observers)) if _observers else None


def watch(dispatcher: Any) -> None:
    """Keep ``dispatcher.hooks`` in step with the registered observers (its processor's)."""
    _dispatchers.add(dispatcher)
    dispatcher.hooks = _hooks()


def observing() -> bool:
    """Whether any observer is registered (the ASGI app then passes the request headers)."""
    return bool(_observers)


def add_observer(observer: EventObserver) -> None:
    """Tell ``observer`` about every event every processor answers, from now on."""
    if observer not in _observers:
        _observers.append(observer)
    _rebind()


def remove_observer(observer: EventObserver) -> None:
    """Stop telling ``observer``; with none left, dispatch pays nothing again."""
    if observer in _observers:
        _observers.remove(observer)
    _rebind()


def _rebind() -> None:
    hooks = _hooks()
    for dispatcher in list(_dispatchers):
        dispatcher.hooks = hooks


# --- clients -----------------------------------------------------------------------------


class ClientCall:
    """One sent event as client observers see it. At start: ``name``, ``version``, ``id``,
    ``flow_id``, ``url``, ``headers`` and ``metadata`` (both mutable: what an observer puts
    there is sent, e.g. trace context), ``start``. At the end: ``response`` (a
    ``ResponseEvent``, or ``None``), ``exception`` (an ``EventClientError``, or ``None``),
    ``status`` (the answer's suffix, or ``None``) and ``duration`` (seconds)."""

    __slots__ = (
        "duration",
        "exception",
        "flow_id",
        "headers",
        "id",
        "metadata",
        "name",
        "observers",
        "response",
        "start",
        "states",
        "status",
        "url",
        "version",
    )

    def __init__(
        self,
        name: str,
        version: int,
        id: str,
        flow_id: str,
        url: str,
        headers: dict[str, str],
        metadata: dict[str, Any],
    ) -> None:
        self.name = name
        self.version = version
        self.id = id
        self.flow_id = flow_id
        self.url = url
        self.headers = headers
        self.metadata = metadata
        self.start = perf_counter()
        self.response: ResponseEvent | None = None
        self.exception: BaseException | None = None
        self.status: str | None = None
        self.duration = 0.0
        self.observers = tuple(client_observers)
        self.states: list[Any] = []


class ClientObserver:
    """Subclass and override what you need; register with :func:`add_client_observer`.
    Both clients call ``request_started`` before sending (in the caller's context) and
    ``request_ended`` once the answer or the failure is known."""

    def request_started(self, call: ClientCall) -> Any:
        return None

    def request_ended(self, call: ClientCall, state: Any) -> None:
        return None


client_observers: list[ClientObserver] = []


def add_client_observer(observer: ClientObserver) -> None:
    """Tell ``observer`` about every event every client sends, from now on."""
    if observer not in client_observers:
        client_observers.append(observer)


def remove_client_observer(observer: ClientObserver) -> None:
    if observer in client_observers:
        client_observers.remove(observer)


def client_started(call: ClientCall) -> None:
    call.states = _started(call.observers, "request_started", call)


def client_ended(call: ClientCall, response: ResponseEvent | None, exc: BaseException | None) -> None:
    call.duration = perf_counter() - call.start
    call.response = response
    call.exception = exc
    call.status = response.name.rpartition(":")[2] if response is not None else None
    _ended(call.observers, call.states, "request_ended", call)
