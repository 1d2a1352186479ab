"""Run the test suite against the installed fastevents, not the checkout.

    python .ci/test_installed.py --expect compiled|pure [PYTEST ARGS...]

The tests read files of the repository (the README, pyproject.toml, the package's sources for
the layering and lint checks), so they run in a copy of the repository made in a temporary
folder, in which ``fastevents/`` is the installed package itself (a symlink to it; a copy
where links are not allowed): whatever a test imports, runs or reads as ``fastevents`` is what
the wheel installed. pytest runs with ``-P`` (the folder is not put on ``sys.path``), and
``FASTEVENTS_EXPECT_INSTALLED`` makes tests/test_distribution.py check that the package came
from site-packages with the expected core. Used by .ci/run and by cibuildwheel's test-command
(pyproject.toml). Exits with pytest's status; "no tests collected" (5) is a failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
# Never copied: the package (the installed one stands in), version control, environments,
# build outputs and caches.
SKIP_TOP = {"fastevents", ".git", "build", "dist", "wheelhouse"}
SKIP_ANYWHERE = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache", "*.so", "*.pyd", "*.egg-info"
)


def copy_repository(tree: Path) -> None:
    for entry in sorted(SOURCE.iterdir()):
        if entry.name in SKIP_TOP or entry.name.startswith(".venv") or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, tree / entry.name, ignore=SKIP_ANYWHERE, symlinks=True)
        else:
            shutil.copy2(entry, tree / entry.name)


def installed_package() -> Path:
    import fastevents  # this script's folder (.ci) is on sys.path, the checkout is not

    package = Path(fastevents.__file__).resolve().parent
    site = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    if package.parent not in site:
        raise SystemExit(
            f"test_installed: fastevents is imported from {package}, not from this environment's "
            "site-packages: install a wheel here (not an editable install)"
        )
    return package


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect", choices=["compiled", "pure"], required=True, help="the core the wheel must have")
    args, pytest_args = parser.parse_known_args()

    package = installed_package()
    version = subprocess.run(
        [sys.executable, "-m", "fastevents", "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=package.parent,
    ).stdout.strip()
    print(f"test_installed: {version} from {package}", flush=True)

    with tempfile.TemporaryDirectory(prefix="fastevents-installed-") as tmp:
        tree = Path(tmp)
        copy_repository(tree)
        try:
            (tree / "fastevents").symlink_to(package, target_is_directory=True)
        except OSError:  # Windows without the right to create links
            shutil.copytree(package, tree / "fastevents", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "FASTEVENTS_EXPECT_INSTALLED": args.expect}
        env.pop("PYTHONPATH", None)
        command = [sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider", *pytest_args]
        print(f"test_installed: {' '.join(command)} (in {tree})", flush=True)
        code = subprocess.run(command, cwd=tree, env=env, check=False).returncode
    if code == 5:
        print("test_installed: pytest collected no tests: that is a failure", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
