"""The documentation site builds with warnings as errors (mkdocs.yml, `mkdocs build --strict`),
and its API reference documents every public name (docs/reference.md)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The modules docs/reference.md documents, each with the names it must show.
DOCUMENTED = ("fastevents", "fastevents.testing", "fastevents.otel", "fastevents.nats", "fastevents.compat")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        message = 'mkdocs and mkdocstrings are not installed (pip install -e ".[docs]")'
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must build the docs")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # mkdocs-material's banner about MkDocs 2
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert re.findall(r"^(?:WARNING|ERROR)\b.*", log, re.MULTILINE) == [], log
    return out


@pytest.mark.slow
def test_the_docs_build_with_warnings_as_errors(site: Path) -> None:
    pages = {path.parent.name for path in site.glob("*/index.html")}
    assert {path.stem for path in (ROOT / "docs").glob("*.md")} - {"index"} <= pages


@pytest.mark.slow
@pytest.mark.parametrize("module", DOCUMENTED)
def test_the_reference_documents_every_public_name(site: Path, module: str) -> None:
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    shown = set(re.findall(r'id="([\w.]+)"', reference))
    missing = [name for name in importlib.import_module(module).__all__ if f"{module}.{name}" not in shown]
    assert missing == []


@pytest.mark.slow
def test_the_reference_shows_cross_references_as_code_not_sphinx_roles(site: Path) -> None:
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r":(?:class|meth|func|attr|data|exc|mod|obj):", reference) == []
