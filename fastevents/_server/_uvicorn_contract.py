"""The uvicorn internals ``fastevents serve`` relies on, fingerprinted: an upgrade is a decision.

``fastevents._server`` subclasses uvicorn's httptools protocol, its server and its process manager.
Where it copies a uvicorn method to change a few lines, replaces one, or leans on what one
does in detail, it is right only for the source it was written against. :data:`COPIED`
holds, for each such method, a fingerprint of that source (SHA-256 of ``inspect.getsource``,
first 16 hex digits) and what to re-check in ``fastevents/_server/`` when it changes.
:data:`TESTED_ON` is the uvicorn release the fingerprints were taken from; ``pyproject.toml``
pins the range to it. ``tests/test_uvicorn_contract.py`` fails when a fingerprint differs,
and ``fastevents serve`` logs one warning per changed method at startup.

After re-checking (and fixing) ``fastevents/_server/`` against a new uvicorn: re-record with
``python -m fastevents._server._uvicorn_contract``, which prints the table.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any

__all__ = ["COPIED", "TESTED_ON", "changed", "fingerprint", "table"]

#: The uvicorn release :data:`COPIED` was recorded on.
TESTED_ON = "0.55.0"

_PROTOCOL = "uvicorn.protocols.http.httptools_impl:HttpToolsProtocol"
_CYCLE = "uvicorn.protocols.http.httptools_impl:RequestResponseCycle"
_SERVER = "uvicorn.server:Server"
_MULTIPROCESS = "uvicorn.supervisors.multiprocess:Multiprocess"
_PROCESS = "uvicorn.supervisors.multiprocess:Process"

#: uvicorn method -> (fingerprint of its source, what to re-check in ``fastevents/_server/``).
COPIED: dict[str, tuple[str, str]] = {
    f"{_PROTOCOL}.__init__": (
        "4f08999410347141",
        "the attributes HardenedHttpToolsProtocol reads (parser, cycle, connections, flow, "
        "timeout_keep_alive_task, server_state)",
    ),
    f"{_PROTOCOL}.connection_made": ("6efb565ff3d36b91", "connection_made: the connection is counted before the cap"),
    f"{_PROTOCOL}.connection_lost": (
        "c91a4c9bf2e29c55",
        "connection_lost: what the deadlines and the cap release; it tells only self.cycle of the "
        "disconnect, so _in_flight (a cycle with requests pipelined behind it) is told there too",
    ),
    f"{_PROTOCOL}.data_received": ("010a7ae59a5d3b1a", "data_received: inlined there, keep the copy in step"),
    f"{_PROTOCOL}.on_message_begin": (
        "96d377fdc7c2baef",
        "on_message_begin/_asgi_scope: the scope is built only for requests the ASGI app answers",
    ),
    f"{_PROTOCOL}.on_headers_complete": (
        "1ea8589acfad92d8",
        "data_received: a new cycle is how the end of the headers is detected; on_headers_complete: "
        "the direct path's cycle, else uvicorn's, a pipelined one queued with pipeline.appendleft "
        "behind the cycle in flight (_in_flight)",
    ),
    f"{_PROTOCOL}.on_body": ("dba9c32aeba35b6a", "on_body: the direct cycle takes the body, else uvicorn's cycle"),
    f"{_PROTOCOL}.on_message_complete": (
        "1fbad42dc31fc01f",
        "data_received: more_body tells the end of the body; on_message_complete: the direct cycle answers",
    ),
    f"{_PROTOCOL}.on_response_complete": (
        "64e254f28e389e76",
        "on_response_complete: called, then the cap's bookkeeping; it starts pipeline[-1] "
        "(pop from the right), which _in_flight names beforehand",
    ),
    f"{_PROTOCOL}.eof_received": (
        "5652627579a02369",
        "eof_received: replaced (a lingering close ends on the client's FIN)",
    ),
    f"{_PROTOCOL}.pause_writing": ("17a8fd215d96a13c", "pause_writing: extended (the write timeout)"),
    f"{_PROTOCOL}.resume_writing": ("7844bbaa8cceb1ef", "resume_writing: extended (the write timeout)"),
    f"{_PROTOCOL}.send_400_response": ("ae5a4a3782b646fd", "send_400_response: replaced (a lingering close)"),
    f"{_PROTOCOL}.shutdown": ("d7351fa33f00d430", "shutdown: replaced (lingering, and a grace for new connections)"),
    f"{_CYCLE}.__init__": ("4d2f220910c33c12", "_Transport and _answer_and_linger: the cycle's fields they set"),
    f"{_SERVER}.__init__": ("c150b55284f7511e", "Server.__init__: extended (on_started)"),
    f"{_SERVER}.startup": ("2aa1d70a244bfcf2", "Server.startup: started is set last, after listening"),
    f"{_SERVER}.shutdown": (
        "5d01b8b1f116a786",
        "Server.shutdown: the accept queue is drained before it closes the sockets",
    ),
    f"{_SERVER}.capture_signals": ("e1bbcd4770d1c887", "Server.capture_signals: replaced (no re-raise)"),
    f"{_SERVER}.handle_exit": ("553276efa26e09ea", "Server.handle_exit: extended"),
    f"{_MULTIPROCESS}.__init__": ("5e0f105cb4a381b5", "Manager: the signals it catches (handle_<name> methods)"),
    f"{_MULTIPROCESS}.init_processes": ("6c69f2a36bf55750", "Manager.init_processes: copied with _Worker"),
    f"{_MULTIPROCESS}.restart_all": ("438dec6d95be9fcd", "Manager.restart_all: copied with _Worker"),
    f"{_MULTIPROCESS}.keep_subprocess_alive": (
        "3ba4980aa33bcecd",
        "Manager.keep_subprocess_alive: replaced (started workers always replaced, backoff, STARTUP_FAILURE)",
    ),
    f"{_MULTIPROCESS}.handle_signals": ("69be08d4fd9bc0b4", "Manager: handle_<name> dispatch of the signals"),
    f"{_MULTIPROCESS}.handle_hup": ("c6701178f72d4d79", "Manager.handle_hup: replaced (a log line)"),
    f"{_MULTIPROCESS}.handle_ttin": ("ebfc0650752a779d", "Manager.handle_ttin: copied with _Worker"),
    f"{_MULTIPROCESS}.handle_ttou": ("7801be71de722e96", "Manager.handle_ttou: copied with a log line"),
    f"{_MULTIPROCESS}.terminate_all": ("6efef9523120f025", "Manager.terminate_all: extended (closes the sockets)"),
    f"{_PROCESS}.__init__": ("a8c85f799aae5b2c", "_Worker: the pipes and the target it builds on"),
    f"{_PROCESS}.start": ("56658f1a46a87685", "_Worker.start: extended (when it was launched)"),
    f"{_PROCESS}.target": ("ad60ca4616de4c34", "_Worker.server: target runs self.server"),
    f"{_PROCESS}.server": ("0bc0d378bdef89dd", "_Worker.server: replaced (builds fastevents' Server)"),
}


def _resolve(name: str) -> Any:
    module, _, path = name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        obj = inspect.getattr_static(obj, part) if part == path.split(".")[-1] else getattr(obj, part)
    if isinstance(obj, property):
        obj = obj.fget
    return obj


def fingerprint(name: str) -> str | None:
    """The fingerprint of the named uvicorn method's source; None if it has none to read."""
    try:
        source = inspect.getsource(_resolve(name))
    except (OSError, TypeError, AttributeError, ImportError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def changed() -> list[str]:
    """One line per method whose source differs from the recorded one (unreadable ones skipped)."""
    lines = []
    for name, (recorded, recheck) in COPIED.items():
        now = fingerprint(name)
        if now is not None and now != recorded:
            lines.append(f"{name} changed since uvicorn {TESTED_ON}: re-check {recheck}")
    return lines


def table() -> str:
    """The fingerprints of the installed uvicorn, one ``"name": "fingerprint",`` line each."""
    return "".join(f'    "{name}": "{fingerprint(name)}",\n' for name in COPIED)


if __name__ == "__main__":
    print(table(), end="")
