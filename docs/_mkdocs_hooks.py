"""mkdocs hook: the docs test harness's fence markers are plain fences on the site.

``tests/test_docs.py`` reads ```` ```text output ```` (expected output) and
```` ```python skip ```` (shown, not run); Markdown fences take one word, so the
site gets ```` ```text ```` and ```` ```python ````.
"""

from __future__ import annotations

import re
from typing import Any

_MARKERS = re.compile(r"^(\s*```+)(text output|python skip)\s*$", re.MULTILINE)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return _MARKERS.sub(lambda m: m.group(1) + m.group(2).split()[0], markdown)
