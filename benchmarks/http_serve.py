"""Serve an ASGI app exactly as ``fastevents serve`` serves its own (one worker).

    python -m benchmarks.http_serve MODULE:APP [--port 0]

Same uvicorn configuration (``fastevents._cli._uvicorn_config``: httptools + uvloop when
installed, access log off, lifespan on, no server header), same pre-bound listening socket,
and the same startup line (``... on http://127.0.0.1:PORT/events (...)``), so the HTTP
benchmarks start, find and compare every server alike.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_serve")
    parser.add_argument("target", metavar="MODULE:APP")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/events", help="shown in the startup line only")
    args = parser.parse_args()

    import uvicorn

    from fastevents._cli import _backends, _uvicorn_config

    module_name, _, attribute = args.target.partition(":")
    app = getattr(importlib.import_module(module_name), attribute)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    port = sock.getsockname()[1]
    print(
        f"http_serve: serving {args.target} on http://{args.host}:{port}{args.path} "
        f"(1 worker, {_backends()}, pid {os.getpid()})",
        flush=True,
    )
    uvicorn.Server(_uvicorn_config(app, "warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
