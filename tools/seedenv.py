"""Provision the real ``events-protocol`` 0.2.4 in a virtual environment of its own.

The old package cannot live in the main environment: it only imports with
pydantic < 2, while fastevents' comparison variant needs
pydantic 2. ``ensure_seed_python()`` creates the venv once, caches it behind a
marker file holding the pinned requirements, rebuilds it when it is broken, and
returns the path of its python interpreter.

Run ``python tools/seedenv.py`` (or ``python -m tools.seedenv`` from the repository's root)
to provision it and print that path. Tests (interop with the old package) and benchmarks
(the comparison) both use it; nothing in the package imports it, and the wheel does not
ship it. It needs nothing but the standard library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

# ``pydantic<2``: 0.2.4 declares ``pydantic>=1.4`` but fails to import on pydantic 2.
# Its other dependencies (requests, certifi, chardet, idna, urllib3) are declared
# and resolve unpinned.
SEED_REQUIREMENTS: tuple[str, ...] = ("events-protocol==0.2.4", "pydantic<2")

_MARKER_NAME = "fastevents-seed.txt"
_DEFAULT_VENV = Path("~/.cache/fastevents/seed-venv")


def seed_venv_dir() -> Path:
    """Return the seed venv folder: ``$FASTEVENTS_SEED_VENV`` or the user cache default."""
    return Path(os.environ.get("FASTEVENTS_SEED_VENV") or _DEFAULT_VENV).expanduser()


def _venv_python(venv_dir: Path) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _marker_text() -> str:
    return "\n".join(SEED_REQUIREMENTS) + "\n"


def _progress(message: str) -> None:
    print(f"[seedenv] {message}", file=sys.stderr, flush=True)


def _imports_ok(python: Path) -> bool:
    """Check that the venv's interpreter runs and imports ``events_protocol`` 0.2.4."""
    probe = "import events_protocol, pydantic; assert events_protocol.__version__ == '0.2.4'"
    try:
        result = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=120, check=False)
    except OSError:
        return False
    return result.returncode == 0


def _is_ready(venv_dir: Path) -> bool:
    marker = venv_dir / _MARKER_NAME
    python = _venv_python(venv_dir)
    if not python.exists() or not marker.is_file():
        return False
    if marker.read_text(encoding="utf-8") != _marker_text():
        return False
    return _imports_ok(python)


def _build(venv_dir: Path) -> None:
    if venv_dir.exists():
        _progress(f"removing stale venv {venv_dir}")
        shutil.rmtree(venv_dir)
    _progress(f"creating venv {venv_dir}")
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    python = _venv_python(venv_dir)
    _progress(f"installing {' '.join(SEED_REQUIREMENTS)}")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *SEED_REQUIREMENTS,
        ],
        check=True,
    )
    if not _imports_ok(python):
        raise RuntimeError(f"events_protocol does not import in {venv_dir} after install")
    (venv_dir / _MARKER_NAME).write_text(_marker_text(), encoding="utf-8")
    _progress("ready")


def ensure_seed_python() -> str:
    """Return the seed venv's python, creating or repairing the venv when needed."""
    venv_dir = seed_venv_dir()
    if not _is_ready(venv_dir):
        _build(venv_dir)
    return str(_venv_python(venv_dir))


if __name__ == "__main__":
    print(ensure_seed_python())
