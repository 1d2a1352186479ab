"""Serve an ASGI app on Granian (Rust HTTP, one worker): a candidate stack for ``fastevents serve``.

    python -m benchmarks.http_granian MODULE:APP [--port 0]

Picks a free port, prints the benchmarks' startup line (``... on http://127.0.0.1:PORT/events
(...)``) and becomes ``granian --interface asgi`` with its hardening options: a 10 s header
read timeout (``--http1-header-read-timeout``, Granian's counterpart of ``--header-timeout``)
and its default 400 KiB HTTP/1 buffer cap; access log off, uvloop.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_granian")
    parser.add_argument("target", metavar="MODULE:APP")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    granian = shutil.which("granian") or os.path.join(os.path.dirname(sys.executable), "granian")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", args.port))
        port = probe.getsockname()[1]
    import granian as granian_module

    print(
        f"http_granian: serving {args.target} on http://127.0.0.1:{port}/events "
        f"(1 worker, Granian {granian_module.__version__} ASGI, pid {os.getpid()})",
        flush=True,
    )
    os.execv(
        granian,
        [
            granian,
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
            "--http",
            "1",
            "--http1-header-read-timeout",
            "10000",
            args.target,
        ],
    )


if __name__ == "__main__":
    main()
