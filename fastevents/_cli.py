"""The ``fastevents`` command: ``serve`` a router over HTTP, ``send`` one event."""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import msgspec

__all__ = ["main"]

# Exit codes of ``fastevents send`` (also listed in its --help).
EXIT_OK = 0
EXIT_ERROR_EVENT = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_CONNECTION = 4
EXIT_FAILED_DEPENDENCY = 5
EXIT_BAD_PROTOCOL = 6

_SEND_EPILOG = """\
exit status:
  0  success or redirect answer
  1  error answer (an error event, e.g. <name>:badRequest or eventNotFound)
  2  usage error (bad arguments, --payload etc. not valid JSON)
  3  timeout: no answer in time
  4  connection failure: the server could not be reached
  5  failed dependency: the server answered a non-2xx HTTP status
  6  bad protocol: the answer is not a response event
The answer is printed as indented JSON on stdout; failures print one line on stderr.
"""


class UsageError(Exception):
    """A mistake of the person at the keyboard: one line on stderr, no traceback."""


def _fail(message: str, code: int) -> NoReturn:
    print(f"fastevents: {message}", file=sys.stderr)
    raise SystemExit(code)


# --- serve ------------------------------------------------------------------------------


def load_router(target: str) -> Any:
    """Import ``MODULE:ATTRIBUTE`` (attribute may be dotted) and return an EventRouter."""
    from ._router import EventRouter

    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"expected MODULE:ROUTER, got {target!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like uvicorn: modules of the current folder
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(f"cannot import module {module_name!r}: {exc}") from None
        raise  # a bug inside the user's module: its traceback is the useful answer
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(obj, EventRouter):
        raise UsageError(f"{target} is a {type(obj).__name__}, not an EventRouter")
    return obj


def _make_app(target: str, path: str, catalogue: bool = False) -> Any:
    from ._asgi import asgi_app

    return asgi_app(load_router(target), path=path, catalogue=catalogue)


def _uvicorn_config(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        loop="auto",   # uvloop when installed (the ``server`` extra)
        http="auto",   # httptools when installed
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
    )


def _worker(target: str, path: str, log_level: str, catalogue: bool, sock: socket.socket) -> None:
    """One worker process: its own copy of the app, serving the shared listening socket."""
    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; it sends SIGTERM
    uvicorn.Server(_uvicorn_config(_make_app(target, path, catalogue), log_level)).run(sockets=[sock])


def _supervise(workers: int, args: tuple[str, str, str, bool], sock: socket.socket) -> int:
    """Run ``workers`` processes on one socket; SIGTERM/SIGINT stop them gracefully."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> Any:
        process = context.Process(target=_worker, args=(*args, sock), daemon=False)
        process.start()
        return process

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    processes = [start() for _ in range(workers)]
    while not stopping:
        for i, process in enumerate(processes):
            process.join(timeout=0.2 / workers)
            if stopping:
                break
            if process.exitcode is not None:  # a worker died: replace it
                print(f"fastevents: worker {process.pid} exited with {process.exitcode}; restarting",
                      file=sys.stderr)
                processes[i] = start()
    for process in processes:
        if process.exitcode is None and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)  # graceful: in-flight requests finish
    for process in processes:
        process.join()
    return 0


def _backends() -> str:
    names = []
    for module, label in (("uvloop", "uvloop"), ("httptools", "httptools")):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        names.append(label)
    return " + ".join(names) or "asyncio + h11"


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        _fail("serving needs uvicorn: pip install 'fastevents-protocol[server]'", EXIT_USAGE)
    try:
        router = load_router(args.target)
    except UsageError as exc:
        _fail(str(exc), EXIT_USAGE)
    if args.workers < 1:
        _fail("--workers must be at least 1", EXIT_USAGE)
    path = "/" + args.path.strip("/")

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", EXIT_USAGE)
    sock.listen(2048)  # connections queue up while the workers start
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    workers = "1 worker" if args.workers == 1 else f"{args.workers} workers"
    events = len(router)
    print(f"fastevents: serving {events} event{'s' if events != 1 else ''} on "
          f"http://{host}:{port}{path} ({workers}, {_backends()}, pid {os.getpid()})", flush=True)
    if args.catalogue:
        print(f"fastevents: docs page http://{host}:{port}{path.rstrip('/')}/docs", flush=True)

    if args.workers == 1:
        import uvicorn

        from ._asgi import asgi_app

        app = asgi_app(router, path=path, catalogue=args.catalogue)
        server = uvicorn.Server(_uvicorn_config(app, args.log_level))
        server.run(sockets=[sock])
        return 0 if server.started else 1
    return _supervise(args.workers, (args.target, path, args.log_level, args.catalogue), sock)


# --- send -------------------------------------------------------------------------------


def _json_arg(name: str, text: str | None, *, must_be_object: bool) -> Any:
    if text is None:
        return None
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise UsageError(f"--{name} is not valid JSON: {exc}") from None
    if must_be_object and not isinstance(value, dict):
        raise UsageError(f"--{name} must be a JSON object")
    return value


def send(args: argparse.Namespace) -> int:
    from ._client import EventClient, EventConnectionError
    from ._errors import BadProtocolException, FailedDependencyException, TimeoutException

    try:
        payload = _json_arg("payload", args.payload, must_be_object=False)
        identity = _json_arg("identity", args.identity, must_be_object=True)
        auth = _json_arg("auth", args.auth, must_be_object=True)
        metadata = _json_arg("metadata", args.metadata, must_be_object=True)
        if args.timeout <= 0:
            raise UsageError("--timeout must be positive (seconds)")
        client = EventClient(args.url, timeout=args.timeout)
    except (UsageError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE)

    with client:
        try:
            response = client.send_event(args.name, args.version, payload, identity=identity,
                                         auth=auth, metadata=metadata)
        except TimeoutException:
            _fail(f"timeout: no answer from {args.url} within {args.timeout} s", EXIT_TIMEOUT)
        except EventConnectionError as exc:
            reason = exc.__cause__ or exc
            _fail(f"connection failed: {args.url}: {type(reason).__name__}: {reason}", EXIT_CONNECTION)
        except FailedDependencyException as exc:
            detail = exc.body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
            _fail(f"failed dependency: {args.url} answered HTTP {exc.status}"
                  + (f": {detail}" if detail else ""), EXIT_FAILED_DEPENDENCY)
        except BadProtocolException as exc:
            detail = exc.body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
            _fail(f"bad protocol: the answer is not a response event: {detail!r}", EXIT_BAD_PROTOCOL)
        except TypeError as exc:  # pragma: no cover - JSON arguments always encode
            _fail(str(exc), EXIT_USAGE)
    sys.stdout.write(msgspec.json.format(response.to_json(), indent=2).decode() + "\n")
    sys.stdout.flush()
    if response.is_error:
        payload = response.payload
        code = payload.get("code") if isinstance(payload, dict) else None
        print(f"fastevents: error answer {response.name} ({response.error_type}"
              + (f", code {code}" if code else "") + ")", file=sys.stderr)
        return EXIT_ERROR_EVENT
    return EXIT_OK


# --- catalogue --------------------------------------------------------------------------


def print_catalogue(args: argparse.Namespace) -> int:
    from ._catalogue import catalogue

    try:
        router = load_router(args.target)
    except UsageError as exc:
        _fail(str(exc), EXIT_USAGE)
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(catalogue(router)), indent=2).decode() + "\n")
    return 0


# --- entry point ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastevents", description="Serve or send events-protocol events.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="serve a router's events over HTTP (uvicorn)",
                            description="Serve MODULE:ROUTER (an EventRouter) with uvicorn. "
                                        "SIGTERM or Ctrl+C stops gracefully: in-flight requests finish.")
    p.add_argument("target", metavar="MODULE:ROUTER", help="e.g. myapp.events:router")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1; one per core)")
    p.add_argument("--path", default="/events", help="URL path of the events endpoint (default /events)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug", "trace"],
                   help="uvicorn log level (default warning)")
    p.add_argument("--catalogue", action="store_true",
                   help="also serve GET <path>/catalogue (JSON) and GET <path>/docs (a page to try "
                        "events); off by default")
    p.set_defaults(run=serve)

    s = commands.add_parser("send", help="send one event and print the answer",
                            description="Send one event and print the answer as indented JSON.",
                            epilog=_SEND_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("url", metavar="URL", help="e.g. http://127.0.0.1:8000/events")
    s.add_argument("name", metavar="NAME", help="event name")
    s.add_argument("version", metavar="VERSION", type=int, help="event version (integer)")
    s.add_argument("--payload", metavar="JSON", help="payload (any JSON value; default {})")
    s.add_argument("--identity", metavar="JSON", help="identity (JSON object)")
    s.add_argument("--auth", metavar="JSON", help="auth (JSON object)")
    s.add_argument("--metadata", metavar="JSON", help="metadata (JSON object)")
    s.add_argument("--timeout", metavar="S", type=float, default=15.0, help="seconds (default 15)")
    s.set_defaults(run=send)

    c = commands.add_parser(
        "catalogue",
        help="print a router's event catalogue as JSON",
        description="Print the catalogue of MODULE:ROUTER (an EventRouter): every event "
        "with its docs, payload and response JSON Schemas, as indented JSON.",
    )
    c.add_argument("target", metavar="MODULE:ROUTER", help="e.g. myapp.events:router")
    c.set_defaults(run=print_catalogue)

    from ._conformance import add_command as add_conformance_command  # its own module: the kit

    add_conformance_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
