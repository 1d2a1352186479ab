"""The README's table of contents (at its top) lists each of its sections, in order, with
the anchor GitHub gives the heading."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _anchor(heading: str) -> str:
    # GitHub: lower case, punctuation dropped (hyphens and underscores kept), spaces to hyphens.
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_contents_list_every_section_in_order() -> None:
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    contents = text[text.index("Contents:") : text.index("\n## ")]
    listed = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", contents)
    assert listed == [(heading, _anchor(heading)) for heading in headings]
