"""mkdocs hooks (mkdocs.yml): the docstrings cross-reference in Sphinx roles
(:class:`Event`), which mkdocstrings renders as the role's text followed by the code; the
site shows the code alone."""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|meth|func|attr|data|exc|mod|obj):\s*(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub("", html)
