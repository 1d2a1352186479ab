"""The distribution is ``fastevents-protocol`` (PyPI's ``fastevents`` is an unrelated
project that installs a ``fastevents`` package too): metadata, version and every install
hint agree on it."""

from __future__ import annotations

import email.message
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from email import message_from_bytes
from pathlib import Path

import pytest

import fastevents

from .conftest import CORES

ROOT = Path(__file__).resolve().parent.parent


def test_installed_distribution_is_fastevents_protocol() -> None:
    dist = importlib.metadata.distribution("fastevents-protocol")
    assert dist.version == fastevents.__version__
    assert "fastevents" in (dist.read_text("top_level.txt") or "fastevents").split()


def test_no_install_hint_names_the_other_project() -> None:
    # `pip install fastevents`, `'fastevents[server]'`... would install PyPI's fastevents.
    hint = re.compile(r"""pip install\s+(-U\s+|--upgrade\s+)?['"]?fastevents(\[|['"\s]|$)""", re.MULTILINE)
    offenders = []
    for path in [ROOT / "README.md", *ROOT.glob("fastevents/*.py"), *ROOT.glob("benchmarks/*.py")]:
        for match in hint.finditer(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)!r}")
    assert offenders == []


# --- what is installed, and how it is built (README "Install"; docs/install.md) ----------

VERSION_LINE = re.compile(
    r"fastevents (?P<version>\S+) \(core: (?P<core>compiled|pure), (?P<python>CPython \d+\.\d+\.\d+)\)"
)


@pytest.mark.slow
@pytest.mark.parametrize("switch", [None, "1"], ids=["default", "FASTEVENTS_NO_EXTENSIONS=1"])
def test_version_names_the_installed_core_and_the_python(switch: str | None) -> None:
    env = {key: value for key, value in os.environ.items() if key != "FASTEVENTS_NO_EXTENSIONS"}
    if switch is not None:
        env["FASTEVENTS_NO_EXTENSIONS"] = switch
    result = subprocess.run(
        [sys.executable, "-m", "fastevents", "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    match = VERSION_LINE.fullmatch(result.stdout.strip())
    assert match is not None, result.stdout
    compiled = "compiled" in CORES and switch is None
    assert match["core"] == ("compiled" if compiled else "pure")
    assert match["version"] == fastevents.__version__
    assert match["python"] == f"CPython {platform.python_version()}"


@pytest.mark.skipif(
    "FASTEVENTS_EXPECT_INSTALLED" not in os.environ,
    reason="set by .ci/test_installed.py, which runs the suite against an installed wheel",
)
def test_the_suite_runs_against_the_installed_package() -> None:
    # .ci/test_installed.py: FASTEVENTS_EXPECT_INSTALLED=compiled|pure. Not the checkout: the
    # package is imported from the environment's site-packages, with the core expected.
    package = Path(fastevents.__file__).parent
    site = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    assert package.parent.resolve() in site, f"fastevents imported from {package}, not from {sorted(site)}"
    expected = os.environ["FASTEVENTS_EXPECT_INSTALLED"]
    assert ("compiled" if fastevents.COMPILED else "pure") == expected


def _source_copy(tmp_path: Path) -> Path:
    """The files a build needs, without anything built in place (no compiled core, no C)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "fastevents",
        source / "fastevents",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__", "_core.html"),
    )
    return source


def _build_wheel(source: Path, **env: str) -> tuple[Path, str]:
    """Run the build backend as a frontend would (no isolation: the test extra has its
    requirements); returns the wheel and everything the build printed."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("FASTEVENTS_NO_EXTENSIONS", "PYTHONDONTWRITEBYTECODE")}
    full_env.update(env)
    code = "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(source / "out")],
        cwd=source,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    return source / "out" / result.stdout.strip().splitlines()[-1], log


def _wheel_metadata(wheel: Path) -> tuple[list[str], email.message.Message]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = message_from_bytes(archive.read(info))
    return names, metadata


@pytest.mark.slow
def test_the_switch_builds_a_pure_wheel_with_license_metadata_and_no_warning(tmp_path: Path) -> None:
    wheel, log = _build_wheel(_source_copy(tmp_path), FASTEVENTS_NO_EXTENSIONS="1")
    assert wheel.name == f"fastevents_protocol-{fastevents.__version__}-py3-none-any.whl"
    assert [line for line in log.splitlines() if re.search("warn|deprecat", line, re.IGNORECASE)] == []
    names, metadata = _wheel_metadata(wheel)
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    pythons = {c.rsplit(" :: ", 1)[1] for c in metadata.get_all("Classifier") if re.fullmatch(r".* :: 3\.\d+", c)}
    assert pythons == {"3.11", "3.12", "3.13"}


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="CC does not choose the compiler on Windows (MSVC)")
def test_without_a_working_compiler_the_build_warns_once_and_makes_the_pure_wheel(tmp_path: Path) -> None:
    # /bin/false stands for a compiler that is missing or broken; .ci/run also installs the
    # sdist with no compiler on the PATH at all.
    wheel, log = _build_wheel(_source_copy(tmp_path), CC="false")
    warnings = [line for line in log.splitlines() if "FASTEVENTS_NO_EXTENSIONS" in line]
    assert len(warnings) == 1, log
    assert warnings[0].startswith("WARNING: fastevents: cannot compile the C core (")
    assert "pure-Python core" in warnings[0]
    assert wheel.name.endswith("-py3-none-any.whl")
    names, _ = _wheel_metadata(wheel)
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
