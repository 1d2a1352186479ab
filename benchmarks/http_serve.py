"""Serve an ASGI app on stock uvicorn with ``fastevents serve``'s settings (one worker).

    python -m benchmarks.http_serve MODULE:APP [--port 0] [--http httptools|h11]

The baseline the HTTP benchmarks compare ``fastevents serve`` with: uvicorn's own protocol
(httptools, or h11 with its 16 KiB header cap) on uvloop, access log off, lifespan on, no
server header, no proxy-headers middleware -- the settings ``fastevents serve`` uses, minus
its hardened protocol. Same pre-bound listening socket and the same startup line (``... on
http://127.0.0.1:PORT/events (...)``), so the benchmarks start, find and compare every
server alike.
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
    parser.add_argument("--http", choices=["httptools", "h11"], default="httptools")
    args = parser.parse_args()

    import uvicorn

    module_name, _, attribute = args.target.partition(":")
    app = getattr(importlib.import_module(module_name), attribute)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    port = sock.getsockname()[1]
    print(
        f"http_serve: serving {args.target} on http://{args.host}:{port}{args.path} "
        f"(1 worker, stock uvicorn {uvicorn.__version__} + {args.http} + uvloop, pid {os.getpid()})",
        flush=True,
    )
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=args.http,
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
