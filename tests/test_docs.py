"""The repository is self-contained: every document the code, tests and benchmarks cite is
in it (a citation of a file that lives elsewhere points a reader nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")


def test_every_cited_document_is_in_the_repository() -> None:
    missing = []
    for folder in ("fastevents", "tests", "benchmarks", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".pyx", ".md", ".html") or "__pycache__" in path.parts:
                continue
            for name in set(CITED.findall(path.read_text(encoding="utf-8", errors="replace"))):
                if not ((ROOT / name).exists() or (path.parent / name).exists()):
                    missing.append(f"{path.relative_to(ROOT)} cites {name}")
    assert missing == []
