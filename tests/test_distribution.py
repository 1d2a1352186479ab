"""The distribution is ``fastevents-protocol`` (PyPI's ``fastevents`` is an unrelated
project that installs a ``fastevents`` package too): metadata, version and every install
hint agree on it."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import fastevents

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
