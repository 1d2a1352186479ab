"""Users' code type-checks: tests/typing/*.py pass ``mypy --strict``, run as a user runs it;
and the package itself passes ``mypy --strict`` in the checkout.

mypy runs from a directory outside the checkout, so it must find fastevents the way a user's
program does: through the install (README's Quick start: ``pip install -e ".[test]"``). A
setuptools editable install that works through an import hook would fail here, as mypy
cannot follow one ("Cannot find implementation or library stub for module named
fastevents"); pyproject.toml's ``package-dir`` makes it a static path entry instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = sorted((Path(__file__).parent / "typing").glob("*_program.py"))


def test_there_are_typing_programs() -> None:
    assert {p.name for p in PROGRAMS} >= {"user_program.py", "compat_program.py"}


@pytest.mark.slow
@pytest.mark.timeout(300)  # mypy with a cold cache, on a busy machine
def test_users_programs_pass_mypy_strict_from_outside_the_checkout(tmp_path: Path) -> None:
    # Copied out of the checkout: mypy would otherwise find fastevents' source next to them
    # (tests/ is a package) and never look at the install.
    programs = tmp_path / "programs"
    programs.mkdir()
    for program in PROGRAMS:
        shutil.copy(program, programs / program.name)
    env = {key: value for key, value in os.environ.items() if key not in ("MYPYPATH", "PYTHONPATH")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(programs)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success: no issues found in {len(PROGRAMS)} source files" in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)  # mypy with a cold cache, on a busy machine
def test_the_package_passes_mypy_strict(tmp_path: Path) -> None:
    # A user's mypy skips the errors of an installed package, so the test above cannot see them.
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "fastevents"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout


def test_public_annotations_resolve_at_runtime() -> None:
    """Tools that read annotations at run time (get_type_hints, autodoc, frameworks) can."""
    import typing

    from fastevents import PayloadValidationError, compat

    for method in (PayloadValidationError.from_validation_error, compat.ValidationError.from_validation_error):
        assert typing.get_type_hints(method)["return"] is typing.Self
