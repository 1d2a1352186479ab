"""The ``fastevents`` command: ``serve`` a router over HTTP, ``send`` one event."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import math
import os
import platform
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import msgspec

from . import _nats
from ._target import UsageError, load_router

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


def _fail(message: str, code: int) -> NoReturn:
    print(f"fastevents: {message}", file=sys.stderr)
    raise SystemExit(code)


# --- serve ------------------------------------------------------------------------------


def _backends() -> str:
    names = []
    for name in ("uvloop", "httptools"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
            names.append(name)
    return " + ".join(names) or "asyncio + h11"


def serve(args: argparse.Namespace) -> int:
    try:
        from . import _server
        from ._limits import Limits
    except ImportError:
        _fail("serving needs uvicorn and httptools: pip install 'fastevents-protocol[server]'", EXIT_USAGE)
    try:
        router = load_router(args.target)
        limits = Limits(**{field.name: getattr(args, field.name) for field in dataclasses.fields(Limits)})
    except (UsageError, ValueError) as exc:
        _fail(str(exc), EXIT_USAGE)
    path = "/" + args.path.strip("/")
    also_serve, nats_line = _nats_serving(args, limits)
    if args.no_http:
        if args.catalogue or args.health_path is not None:
            _fail("serve: --catalogue and --health-path are HTTP paths, and --no-http serves no HTTP", EXIT_USAGE)
        print(f"fastevents: {nats_line} (pid {os.getpid()})", flush=True)
        return _server.run(args.target, path, limits, args.workers, args.log_level, None, also_serve=also_serve)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _fail(f"cannot listen on {args.host}:{args.port}: {reason}", EXIT_USAGE)
    sock.listen(2048)  # connections queue up while the workers start
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    workers = "1 worker" if args.workers == 1 else f"{args.workers} workers"
    events = len(router)
    print(
        f"fastevents: serving {events} event{'s' if events != 1 else ''} on "
        f"http://{host}:{port}{path} ({workers}, {_backends()}, pid {os.getpid()})",
        flush=True,
    )
    if nats_line:
        print(f"fastevents: {nats_line}", flush=True)
    if args.catalogue:
        print(f"fastevents: docs page http://{host}:{port}{path.rstrip('/')}/docs", flush=True)
    return _server.run(
        args.target,
        path,
        limits,
        args.workers,
        args.log_level,
        sock,
        catalogue=args.catalogue,
        health_path=args.health_path,
        also_serve=also_serve,
    )


def _nats_serving(args: argparse.Namespace, limits: Any) -> tuple[tuple[Any, ...], str]:
    """The NATS lifespan ``--nats`` asks for (none without it) and the line that announces it."""
    if args.nats is None:
        if args.no_http:
            _fail("serve: --no-http needs --nats (nothing else would be served)", EXIT_USAGE)
        return (), ""
    import functools

    from . import _nats_serve

    if args.nats_subject is None:
        _fail("serve: --nats needs --nats-subject SUBJECT", EXIT_USAGE)
    try:
        import nats  # noqa: F401 - checked here, so a missing extra is a usage error, not a worker crash
    except ImportError:
        _fail("serving over NATS needs nats-py: pip install 'fastevents-protocol[nats]'", EXIT_USAGE)
    try:
        settings = _nats_serve.NatsSettings(
            args.nats,
            args.nats_subject,
            queue=args.nats_queue,
            concurrency=args.nats_concurrency,
            **({} if args.nats_max_pending is None else {"max_pending": args.nats_max_pending}),
            max_body=limits.max_body,
            shutdown_timeout=limits.shutdown_timeout,
        )
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    line = (
        f"serving on NATS subject {settings.subject} at {settings.url} (queue group {settings.queue}, "
        f"up to {settings.concurrency} events at once per worker)"
    )
    return (functools.partial(_nats_serve.lifespan, settings),), line


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


def _check_url(url: str) -> None:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise UsageError(f"invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"invalid URL {url!r}: expected http://HOST[:PORT]/PATH")


class _NatsOnce(contextlib.AbstractContextManager["_NatsOnce"]):
    """``fastevents send nats://HOST:PORT/SUBJECT``: one event over a NatsEventClient."""

    def __init__(self, url: str, timeout: float) -> None:
        from . import _nats
        from .nats import NatsEventClient

        _nats.nats_py()  # an ImportError saying how to install it, before anything is sent
        self._client = NatsEventClient(url, timeout)

    def send_event(self, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        async def once() -> Any:
            try:
                return await self._client.send_event(*args, **kwargs)
            finally:
                await self._client.aclose()

        return asyncio.run(once())

    def __exit__(self, *exc: object) -> None:
        return None


def send(args: argparse.Namespace) -> int:
    from ._client import EventClient, EventConnectionError
    from ._errors import BadProtocolException, FailedDependencyException, TimeoutException

    try:
        payload = _json_arg("payload", args.payload, must_be_object=False)
        identity = _json_arg("identity", args.identity, must_be_object=True)
        auth = _json_arg("auth", args.auth, must_be_object=True)
        metadata = _json_arg("metadata", args.metadata, must_be_object=True)
        if _nats.is_url(args.url):
            client: Any = _NatsOnce(args.url, args.timeout)
        else:
            _check_url(args.url)
            client = EventClient(args.url, timeout=args.timeout)
    except (UsageError, ValueError, ImportError) as exc:
        _fail(str(exc), EXIT_USAGE)

    with client:
        try:
            response = client.send_event(
                args.name, args.version, payload, identity=identity, auth=auth, metadata=metadata
            )
        except TimeoutException:
            _fail(f"timeout: no answer from {args.url} within {args.timeout} s", EXIT_TIMEOUT)
        except EventConnectionError as exc:
            reason = exc.__cause__ or exc
            _fail(f"connection failed: {args.url}: {type(reason).__name__}: {reason}", EXIT_CONNECTION)
        except FailedDependencyException as exc:
            detail = exc.body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
            _fail(
                f"failed dependency: {args.url} answered HTTP {exc.status}" + (f": {detail}" if detail else ""),
                EXIT_FAILED_DEPENDENCY,
            )
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
        with_code = f", code {code}" if code else ""
        print(f"fastevents: error answer {response.name} ({response.error_type}{with_code})", file=sys.stderr)
        return EXIT_ERROR_EVENT
    return EXIT_OK


# --- catalogue --------------------------------------------------------------------------


def print_catalogue(args: argparse.Namespace) -> int:
    from ._catalogue import catalogue_json

    router = load_router(args.target)
    sys.stdout.write(msgspec.json.format(catalogue_json(router), indent=2).decode() + "\n")
    return 0


# --- openapi and codegen ----------------------------------------------------------------


def _default_title(target: str) -> str:
    module = target.partition(":")[0] if ":" in target and "://" not in target else ""
    return module.rsplit(".", 1)[-1] or "events"


def print_openapi(args: argparse.Namespace) -> int:
    router = load_router(args.target)
    from ._catalogue import json_text

    document = router.openapi(title=args.title or _default_title(args.target), version=args.api_version, path=args.path)
    sys.stdout.write(msgspec.json.format(json_text(document), indent=2).decode() + "\n")
    return 0


def _remote_catalogue(url: str, timeout: float) -> Any:
    import httpx

    _check_url(url)
    where = url.rstrip("/") + "/catalogue"
    try:
        answer = httpx.get(where, timeout=timeout, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot read the catalogue at {where}: {type(exc).__name__}: {exc}") from None
    if answer.status_code != 200:
        hint = " (is the server run with --catalogue?)" if answer.status_code == 404 else ""
        raise UsageError(f"cannot read the catalogue at {where}: HTTP {answer.status_code}{hint}")
    try:
        found = msgspec.json.decode(answer.content)
    except msgspec.DecodeError:
        found = None
    if not isinstance(found, dict) or not isinstance(found.get("events"), list):
        raise UsageError(f"{where} did not answer a catalogue (a JSON object with events)")
    return found


def codegen(args: argparse.Namespace) -> int:
    from ._codegen import python_client, typescript_client
    from ._version import __version__ as version

    source = args.source
    remote = "://" in source
    found = _remote_catalogue(source, args.timeout) if remote else load_router(source).catalogue()
    if args.name:
        name = args.name
    elif args.output:
        name = os.path.splitext(os.path.basename(args.output))[0].removesuffix("_client").removesuffix(".client")
    else:
        name = _default_title(source)
    command = ["fastevents", "codegen", source]
    if args.output:
        command += ["-o", os.path.basename(args.output)]
    if args.name:
        command += ["--name", args.name]
    if args.lang != "python":
        command += ["--lang", args.lang]
    header = [
        f"Generated by fastevents {version} from {'the catalogue at ' if remote else ''}{source}: do not edit.",
        f"Made with: {' '.join(command)}",
    ]
    write = typescript_client if args.lang == "typescript" else python_client
    text = write(found, name=name, header=header)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _add_schema_commands(commands: Any) -> None:
    o = commands.add_parser(
        "openapi",
        help="print a router's OpenAPI 3.1 document as JSON",
        description="Print the OpenAPI 3.1 document of MODULE:ROUTER (an EventRouter): one POST PATH, "
        "a request body with one envelope per event, and every answer the server can give.",
    )
    o.add_argument("target", metavar="MODULE:ROUTER", help="e.g. myapp.events:router")
    o.add_argument("--title", help="the document's info.title (default: the module's last name)")
    o.add_argument("--api-version", default="1.0.0", help="the document's info.version (default 1.0.0)")
    o.add_argument("--path", default="/events", help="URL path of the events endpoint (default /events)")
    o.set_defaults(run=print_openapi)

    g = commands.add_parser(
        "codegen",
        help="write a typed Python client for a router's events",
        description="Write a Python module with the events' payload and response types (msgspec Structs) "
        "and a sync and an async client with one typed method per event. SOURCE is MODULE:ROUTER, or "
        "the URL of a server's events endpoint served with --catalogue (its URL/catalogue is read).",
    )
    g.add_argument(
        "source", metavar="MODULE:ROUTER|URL", help="e.g. myapp.events:router or http://127.0.0.1:8000/events"
    )
    g.add_argument("-o", "--output", metavar="FILE", help="the module to write (default: standard output)")
    g.add_argument(
        "--name",
        help="names the classes: users gives UsersClient, AsyncUsersClient, UsersError (default: "
        "FILE's name without _client, else the module's last name)",
    )
    g.add_argument(
        "--lang",
        choices=["python", "typescript"],
        default="python",
        help="python (default): msgspec Structs and clients over EventClient/AsyncEventClient; "
        "typescript: interfaces and a client over fetch",
    )
    g.add_argument("--timeout", metavar="S", type=_seconds, default=15.0, help="seconds to read a URL (default 15)")
    g.set_defaults(run=codegen)


# --- entry point ------------------------------------------------------------------------


def version_line() -> str:
    """``fastevents <version> (core: compiled|pure, CPython X.Y.Z)``: what is installed, on what."""
    from ._impl import COMPILED
    from ._version import __version__

    core = "compiled" if COMPILED else "pure"
    return f"fastevents {__version__} (core: {core}, {platform.python_implementation()} {platform.python_version()})"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported in one line (``fastevents: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{self.prog.removeprefix('fastevents ')}: {message}", EXIT_USAGE)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0 to 65535, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)  # "1_000" too, as Python writes it; not "_5" or "1__0"
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


#: A limit's unit (``Limits`` fields) -> its option's metavar, parser and how its default is shown.
_UNITS: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], str]]] = {
    "bytes": ("BYTES", _count, lambda value: f"{value:_}"),
    "count": ("N", _count, lambda value: f"{value:_}"),
    "seconds": ("S", _seconds, lambda value: f"{value:g}"),
}

_SERVE_EPILOG = """\
limits (per worker; defaults suit a service on the open internet):
  a request whose headers exceed --max-header-size is answered 431, one whose headers or body
  arrive too slowly 408, one whose body exceeds --max-body 413; then the connection closes
  (after a short linger, so the client can read the answer). At --max-connections, a new
  connection makes room by closing the one that has waited longest for a request's headers
  (a slow or silent client, or an idle keep-alive one); when every connection has a request
  in progress it is answered 503 and closed. Both are logged. The cap is lowered, with a
  warning, to fit the open-file limit (raised to its hard limit at start).
signals (with --workers N, to the manager): SIGTERM or SIGINT stop gracefully, SIGHUP
replaces every worker, SIGTTIN adds a worker, SIGTTOU removes one.
exit status: 0 after a graceful stop (SIGTERM or Ctrl+C), 1 if the server could not start
or a worker kept failing to start, 2 for a usage error.
"""


def _parser() -> argparse.ArgumentParser:
    from ._limits import Limits

    parser = _Parser(prog="fastevents", description="Serve or send events-protocol events.")
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "serve",
        help="serve a router's events over HTTP (uvicorn)",
        description="Serve MODULE:ROUTER (an EventRouter) with uvicorn + httptools. "
        "SIGTERM or Ctrl+C stops gracefully: in-flight requests finish.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="MODULE:ROUTER", help="e.g. myapp.events:router")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument(
        "--workers",
        type=_count,
        default=1,
        help="worker processes (default 1; one per core), run by uvicorn's process manager",
    )
    p.add_argument("--path", default="/events", help="URL path of the events endpoint (default /events)")
    p.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="level of the uvicorn and fastevents loggers (default warning)",
    )
    for field in dataclasses.fields(Limits):
        metavar, parse, shown = _UNITS[field.metadata["unit"]]
        p.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            metavar=metavar,
            type=parse,
            default=field.default,
            help=f"{field.metadata['help']} (default {shown(field.default)})",
        )
    p.add_argument(
        "--catalogue",
        action="store_true",
        help="also serve GET <path>/catalogue (JSON), GET <path>/openapi.json (OpenAPI 3.1) and GET <path>/docs "
        "(a page to try events); off by default",
    )
    p.add_argument(
        "--health-path",
        metavar="PATH",
        default=None,
        help='answer GET PATH with 200 {"status":"ok"} while serving, 503 while starting '
        "or stopping (default: no health probe)",
    )
    n = p.add_argument_group("NATS (the nats extra; see docs/nats.md)")
    n.add_argument(
        "--nats",
        metavar="URL",
        help="also serve over NATS: nats://HOST:PORT (a comma-separated list for a cluster's servers)",
    )
    n.add_argument("--nats-subject", metavar="SUBJECT", help="the subject events are sent to, e.g. users.events")
    n.add_argument(
        "--nats-queue",
        metavar="Q",
        default="fastevents",
        help="queue group: NATS gives each event to one member (default fastevents)",
    )
    n.add_argument(
        "--nats-concurrency",
        metavar="N",
        type=_count,
        default=256,
        help="events handled at once per worker over NATS (default 256)",
    )
    n.add_argument(
        "--nats-max-pending",
        metavar="N",
        type=_count,
        help="events waiting for a slot per worker; past it (or past 128 MiB of them) each is answered 503 "
        "at once (default 524,288)",
    )
    n.add_argument("--no-http", action="store_true", help="serve over NATS only (the lifespan still runs)")
    p.set_defaults(run=serve)

    s = commands.add_parser(
        "send",
        help="send one event and print the answer",
        description="Send one event and print the answer as indented JSON.",
        epilog=_SEND_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("url", metavar="URL", help="e.g. http://127.0.0.1:8000/events or nats://127.0.0.1:4222/SUBJECT")
    s.add_argument("name", metavar="NAME", help="event name")
    s.add_argument("version", metavar="VERSION", type=int, help="event version (integer)")
    s.add_argument("--payload", metavar="JSON", help="payload (any JSON value; default {})")
    s.add_argument("--identity", metavar="JSON", help="identity (JSON object)")
    s.add_argument("--auth", metavar="JSON", help="auth (JSON object)")
    s.add_argument("--metadata", metavar="JSON", help="metadata (JSON object)")
    s.add_argument("--timeout", metavar="S", type=_seconds, default=15.0, help="seconds (default 15)")
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
    _add_schema_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
