"""The floors of the server benchmarks: a raw ``asyncio.Protocol`` on uvloop and httptools.

    python -m benchmarks.http_raw [--answer fixed|msgspec|events|events-compiled] [--port 0]

No framework, no ASGI, no limits: one parser per connection, and when a request is
complete its answer is written at once from the parser's callback. ``fixed`` answers every
request with the same bytes (the answer to the README example, computed once at startup):
the per-core ceiling of uvloop + httptools, which no server on this stack can pass.
``msgspec`` answers with the bare msgspec app's logic (``http_bare_app.answer_bytes``:
decode the envelope, call the handler, encode the answer): the lower bound of any events
server on this stack. ``events`` answers with fastevents' own dispatch
(``EventProcessor.process_event`` on ``http_app.router``, the router ``fastevents serve``
serves in the benchmarks): the direct path with nothing around it. ``events-compiled`` is
the same protocol compiled with Cython (``raw_events.pyx``, built on first use): the lower
bound of a direct path whose HTTP side costs nothing in Python. All close the connection
when the request asks for it (HTTP/1.0, ``Connection: close``) and on a request httptools
cannot parse; nothing else is checked.
Prints the benchmarks' startup line (``... on http://127.0.0.1:PORT/events (...)``) and
stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

import httptools
import uvloop

try:
    from . import http_bare_app, scenarios
except ImportError:  # run as a script
    import http_bare_app  # type: ignore[no-redef]
    import scenarios  # type: ignore[no-redef]

_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"


def _fixed_answer() -> Callable[[bytes], bytes]:
    body = http_bare_app.answer_bytes(scenarios.EXAMPLE_BODY)
    answer = _HEAD % len(body) + body
    return lambda _body: answer


def _events_processor() -> Callable[[bytes], bytes]:
    """The answer body of fastevents' dispatch for ``http_app.router`` (what serve serves)."""
    from fastevents import EventProcessor

    try:
        from . import http_app
    except ImportError:  # run as a script
        import http_app  # type: ignore[no-redef]
    return EventProcessor(http_app.router).process_event


def _events_answer() -> Callable[[bytes], bytes]:
    process = _events_processor()

    def answer(body: bytes) -> bytes:
        answer = process(body)
        return _HEAD % len(answer) + answer

    return answer


def _compiled_protocol() -> Any:
    """``raw_events.RawEventsProtocol``, compiled by pyximport into ``build/pyxbld`` on first use."""
    import pyximport

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pyximport.install(build_dir=os.path.join(root, "build", "pyxbld"), language_level=3, inplace=False)
    try:
        from . import raw_events
    except ImportError:  # run as a script
        import raw_events  # type: ignore[no-redef]
    return raw_events.RawEventsProtocol


def _msgspec_answer(body: bytes) -> bytes:
    answer = http_bare_app.answer_bytes(body)
    return _HEAD % len(answer) + answer


class RawProtocol(asyncio.Protocol):
    """Answers each complete request with ``answer(body)``."""

    __slots__ = ("answer", "body", "parser", "transport")

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        self.answer = answer
        self.body = b""
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        body, self.body = self.body, b""
        self.transport.write(self.answer(body))
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(sock: socket.socket, protocol: Callable[[], asyncio.BaseProtocol]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, sock=sock, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_raw")
    parser.add_argument("--answer", choices=["fixed", "msgspec", "events", "events-compiled"], default="fixed")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.answer == "events-compiled":
        compiled, process = _compiled_protocol(), _events_processor()
        protocol: Callable[[], Any] = lambda: compiled(process)  # noqa: E731
    else:
        answer = {"fixed": _fixed_answer, "msgspec": lambda: _msgspec_answer, "events": _events_answer}[args.answer]()
        protocol = lambda: RawProtocol(answer)  # noqa: E731
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(
        f"http_raw: serving {args.answer} answers on http://127.0.0.1:{sock.getsockname()[1]}/events "
        f"(1 process, raw asyncio.Protocol, uvloop {uvloop.__version__} + httptools {httptools.__version__}, "
        f"pid {os.getpid()})",
        flush=True,
    )
    uvloop.run(serve(sock, protocol))


if __name__ == "__main__":
    main()
