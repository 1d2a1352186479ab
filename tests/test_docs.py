"""The repository is self-contained: every document the code, tests and benchmarks cite is
in it (a citation of a file that lives elsewhere points a reader nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.md)\b")


def test_every_cited_document_is_in_the_repository() -> None:
    missing = []
    for folder in ("fastevents", "tests", "benchmarks", "docs", "README.md"):
        for path in [ROOT / folder] if (ROOT / folder).is_file() else (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".pyx", ".md", ".html") or "__pycache__" in path.parts:
                continue
            for name in set(CITED.findall(path.read_text(encoding="utf-8", errors="replace"))):
                if not ((ROOT / name).exists() or (path.parent / name).exists()):
                    missing.append(f"{path.relative_to(ROOT)} cites {name}")
    assert missing == []


LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
CODE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _anchors(page: Path) -> set[str]:
    # GitHub's: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens.
    headings = HEADING.findall(CODE.sub("", page.read_text(encoding="utf-8")))
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_relative_link_of_the_readme_and_the_docs_resolves() -> None:
    # The docs site (mkdocs.yml) reports links to files outside docs/ (BENCHMARKS.md, tests)
    # only as information, since they are no pages of it: they are checked here, on GitHub's
    # terms, anchors included.
    broken = []
    for page in _pages():
        for target in LINK.findall(CODE.sub("", page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)} links {target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{page.relative_to(ROOT)} links {target}: no such heading")
    assert broken == []


def test_the_readme_links_every_docs_page() -> None:
    # Any topic one click away: each page of docs/ is linked from the README.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [
        page.name
        for page in sorted((ROOT / "docs").glob("*.md"))
        if page.stem != "index" and f"](docs/{page.name}" not in readme
    ]
    assert unlinked == []


def test_the_testing_guide_shows_the_readme_example_that_is_run() -> None:
    # tests/test_testing.py runs the README's copy; the guide's must be the same code.
    def block(path: Path, marker: str) -> str:
        return path.read_text(encoding="utf-8").split(marker + "\n```python\n", 1)[1].split("```", 1)[0]

    readme = block(ROOT / "README.md", "<!-- tests/test_testing.py runs this block with pytest -->")
    guide = block(ROOT / "docs/testing.md", "<!-- the README's copy of this block is run by tests/test_testing.py -->")
    assert guide == readme
