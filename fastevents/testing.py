"""Testing kit: in-process test clients and a mock for the events your code sends.

* :class:`TestClient` / :class:`AsyncTestClient` send events to a router (or any ASGI app)
  in process, with no sockets, through the same ASGI app ``fastevents serve`` runs. They
  are the real clients over an in-process transport: the same ``send_event``, return type
  and client errors (a non-2xx answer is a ``FailedDependencyException``, running out of
  time a ``TimeoutException``). Used as context managers they run the app's lifespan.
* :class:`MockEvents` answers the real :class:`~fastevents.EventClient` and
  :class:`~fastevents.AsyncEventClient` (every one, or the one it is given) while it is
  active: register answers with
  :meth:`MockEvents.add`, read what was sent in :attr:`MockEvents.calls`. An event with no
  registered answer raises :class:`UnmockedEventError` at the call, and again when the
  mock exits, in case the code under test swallowed it.
* The pytest plugin (installed with fastevents) offers the fixtures ``mock_events``,
  ``events_client`` and ``async_events_client``; the last two test the router your
  ``events_router`` fixture returns.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ._asgi import asgi_app
from ._client import AsyncEventClient, BaseClient, EventClient
from ._client import _base as _client
from ._client._base import DEFAULT_TIMEOUT
from ._errors import EventConnectionError
from ._http import Message, Receive, Scope, Send, http_scope
from ._model import RequestEvent
from ._processor import EventProcessor
from ._router import EventRouter

if TYPE_CHECKING:
    from typing import Self

__all__ = ["AsyncTestClient", "MockCall", "MockEvents", "TestClient", "UnmockedEventError"]

T = TypeVar("T")
#: The test clients' max_answer and max_connections: an app in process is neither capped nor queued.
_UNBOUNDED = sys.maxsize

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- in-process clients ---------------------------------------------------------------------


class _AppTransport:
    """The in-process transport: one exchange with the test client's app, within the call's timeout."""

    def __init__(self, client: AsyncTestClient) -> None:
        self._client = client

    async def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            return await self._client.request(body, headers)

    async def aclose(self) -> None:
        return None


class _InProcess:
    """The test clients' one constructor: the app at ``path``, as a client neither capped nor
    queued, whose transport (``_transport()``) hands each request to the app in process."""

    __test__ = False  # a class named Test*, not a test: pytest must not collect it
    _real = False
    url: str

    def __init__(
        self,
        app: EventRouter | EventProcessor | ASGIApp,
        path: str = "/events",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app: ASGIApp = asgi_app(app, path=path) if isinstance(app, (EventRouter, EventProcessor)) else app
        self.path = "/" + path.strip("/") if path.strip("/") else "/"
        client: Any = super()  # EventClient or AsyncEventClient: the next class of the test client
        client.__init__(
            "http://testserver" + self.path,
            timeout,
            headers=headers,
            transport=self._transport(),
            max_answer=_UNBOUNDED,
            max_connections=_UNBOUNDED,
        )

    def _transport(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} (in process)>"


class AsyncTestClient(_InProcess, AsyncEventClient):
    """Sends events to ``app`` (an EventRouter, EventProcessor or ASGI app) in process.

    ``await send_event(...)`` is :meth:`fastevents.AsyncEventClient.send_event`, the same
    code, over a transport that hands the request to the events app at ``path`` instead of a
    socket. ``async with`` runs the app's lifespan (startup, then shutdown); without it,
    events are sent without a lifespan. Exceptions the app itself raises (not those of
    handlers, which are answered as events) propagate, so a broken app fails the test.
    Client observers and a global :class:`MockEvents` leave it alone: it plays the server.
    """

    _lifespan: asyncio.Task[None] | None = None
    _lifespan_inbox: asyncio.Queue[Message] | None = None
    _lifespan_outbox: asyncio.Queue[Message] | None = None

    def _transport(self) -> _AppTransport:
        return _AppTransport(self)

    async def request(
        self, body: bytes, headers: Mapping[str, str], method: str = "POST", path: str | None = None
    ) -> tuple[int, bytes]:
        """One raw HTTP exchange with the app: (status, body). For transport-level tests."""
        raw_headers = [(b"host", b"testserver"), (b"content-length", b"%d" % len(body))]
        raw_headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in headers.items()
            if k.lower() not in ("host", "content-length")
        ]
        path = self.path if path is None else path
        scope = http_scope(method, path, raw_headers, server=("testserver", 80))
        request_sent = False
        done = asyncio.Event()
        status: int | None = None
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # like a client that waits for the answer, then hangs up
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        if status is None:
            raise EventConnectionError(f"{self.url}: the app returned without answering")
        return status, b"".join(chunks)

    async def __aenter__(self) -> Self:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_inbox, self._lifespan_outbox = inbox, outbox
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._lifespan = asyncio.ensure_future(self.app(scope, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        await self._lifespan_step("startup")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._lifespan is None or self._lifespan_inbox is None:
            return
        await self._lifespan_inbox.put({"type": "lifespan.shutdown"})
        try:
            await self._lifespan_step("shutdown")
            await self._lifespan
        finally:
            self._lifespan = self._lifespan_inbox = self._lifespan_outbox = None

    async def _lifespan_step(self, phase: str) -> None:
        assert self._lifespan is not None and self._lifespan_outbox is not None
        answer = asyncio.ensure_future(self._lifespan_outbox.get())
        await asyncio.wait({answer, self._lifespan}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self._lifespan.result()  # the app raised: let it through
            raise RuntimeError(f"the app ended its lifespan before {phase} completed")
        message = answer.result()
        if message["type"] == f"lifespan.{phase}.failed":
            raise RuntimeError(f"lifespan {phase} failed: {message.get('message', '')}")


class _LoopTransport:
    """:class:`TestClient`'s transport: its :class:`AsyncTestClient`'s, on the test client's loop."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def send(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        client = self._client
        return client._run(client._async.transport.send(url, body, headers, timeout))

    def close(self) -> None:
        return None


class TestClient(_InProcess, EventClient):
    """The synchronous twin of :class:`AsyncTestClient`, on an event loop of its own.

    ``send_event`` is :meth:`fastevents.EventClient.send_event`, over a transport that runs
    the app in process. Use it from plain (synchronous) tests; inside a running event loop use
    :class:`AsyncTestClient`. ``with`` runs the app's lifespan; :meth:`close` (or leaving the
    ``with``) closes the loop.
    """

    _runner: asyncio.Runner | None = None

    def _transport(self) -> _LoopTransport:
        self._async = AsyncTestClient(self.app, self.path)  # the app's lifespan and raw requests
        return _LoopTransport(self)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise RuntimeError("TestClient cannot run inside a running event loop: use AsyncTestClient there")
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coro)

    def request(
        self, body: bytes, headers: Mapping[str, str], method: str = "POST", path: str | None = None
    ) -> tuple[int, bytes]:
        """One raw HTTP exchange with the app: (status, body)."""
        return self._run(self._async.request(body, headers, method, path))

    def close(self) -> None:
        """Close the client's event loop (its lifespan, if running, is shut down first)."""
        if self._runner is not None:
            if self._async._lifespan is not None:
                self._run(self._async.__aexit__(None, None, None))
            self._runner.close()
            self._runner = None

    def __enter__(self) -> Self:  # leaving the with closes the loop (EventClient.__exit__ calls close)
        self._run(self._async.__aenter__())
        return self


# --- mocking the events your code sends ------------------------------------------------------


class UnmockedEventError(AssertionError):
    """An event was sent while :class:`MockEvents` was active, and no answer was registered."""


class MockCall(msgspec.Struct, frozen=True):
    """One event sent by a real client while :class:`MockEvents` was active."""

    url: str
    name: str
    version: int
    payload: Any
    event: RequestEvent
    headers: dict[str, str]


class MockEvents:
    """Answers the real ``EventClient`` / ``AsyncEventClient`` while active (``with``).

    ``add(name, version, answer)``: ``answer`` is the success payload (any value a handler
    may return, a ``ResponseEvent`` included), an exception to raise (an
    ``EventException`` gives its error answer), or a handler ``fn(event[, payload])``,
    sync or async, registered as on an ``EventRouter`` (typed payloads included). Every
    event sent is recorded in :attr:`calls`. The answer is the same wire answer a
    fastevents server would give (ids and flow ids echoed). Mocks nest; the innermost wins.

    ``MockEvents()`` answers every client of the process; ``MockEvents(client)`` only that
    client (any ``EventClient``, ``AsyncEventClient`` or ``NatsEventClient``), and wins over
    a global mock for it. Either way the client builds the envelope, runs its observers and
    reads the answer as it does over the network: only the transport is left out.
    """

    def __init__(self, client: BaseClient | None = None) -> None:
        self.client = client
        self._router = EventRouter()
        self._processor = EventProcessor(self._router)
        self.calls: list[MockCall] = []
        self.unanswered: list[MockCall] = []
        self._previous: list[Any] = []

    def add(self, name: str, version: int, answer: Any, *, schema: Any = None) -> None:
        """Register the answer to (name, version); see the class docstring."""
        if isinstance(answer, BaseException):

            def handler(event: Any) -> Any:
                raise answer

        elif callable(answer) and not isinstance(answer, (type, msgspec.Struct)):
            handler = answer
        else:

            def handler(event: Any) -> Any:
                return answer

        self._router.add(name, version, handler, schema=schema)

    def calls_for(self, name: str, version: int | None = None) -> list[MockCall]:
        """The recorded calls of one event (of any version unless ``version`` is given)."""
        return [c for c in self.calls if c.name == name and (version is None or c.version == version)]

    def _record(self, url: str, body: bytes, headers: Mapping[str, str] | None) -> MockCall:
        event = RequestEvent.from_json(body)
        call = MockCall(url, event.name, event.version, event.payload, event, dict(headers or {}))
        self.calls.append(call)
        if (event.name, event.version) not in self._router:
            self.unanswered.append(call)
            raise UnmockedEventError(
                f"MockEvents has no answer for {event.name!r} version {event.version} (sent to {url}); "
                f"register one with mock.add({event.name!r}, {event.version}, ...)"
            )
        return call

    def answer(self, url: str, body: bytes, headers: Mapping[str, str] | None) -> tuple[int, bytes]:
        """The mock transport of ``EventClient.send_event``: (status, body) as a server's (internal)."""
        self._record(url, body, headers)
        return 200, self._processor.process_event(body)

    async def answer_async(self, url: str, body: bytes, headers: Mapping[str, str] | None) -> tuple[int, bytes]:
        """The mock transport of ``AsyncEventClient.send_event`` (internal)."""
        self._record(url, body, headers)
        return 200, await self._processor.process_event_async(body)

    def __enter__(self) -> Self:
        # The seat a mock takes: the one client's, else the process's (read by BaseClient._start).
        seat: Any = _client if self.client is None else self.client
        self._previous.append(seat._mock)
        seat._mock = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        seat: Any = _client if self.client is None else self.client
        seat._mock = self._previous.pop()
        if self.unanswered and exc_type is None:
            names = ", ".join(sorted({f"{c.name} v{c.version}" for c in self.unanswered}))
            raise UnmockedEventError(f"events sent with no answer registered in MockEvents: {names}")

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<MockEvents {len(self._router)} answers, {len(self.calls)} calls>"
