"""``extractkit run --show-grounding``: each leaf with its span, as text lines.

::

    /name         exact        text[10:21]   "Maria Lopez"
    /email        ungrounded                 'ann@example.com' (not in the document)
"""

from __future__ import annotations

from collections.abc import Mapping

from .spans import Grounding

_QUOTE_LIMIT = 60


def grounding_lines(grounding: Grounding, documents: Mapping[str, str]) -> list[str]:
    """One line per leaf: pointer, status (and score when fuzzy), span and the quoted
    source text (from ``documents``, name → text)."""
    if not grounding:
        return []
    width = max(len(p) for p in grounding)
    lines = []
    for pointer, leaf in grounding.items():
        status = leaf.status if leaf.status != "fuzzy" else f"fuzzy {leaf.score:.2f}"
        if not leaf.required and leaf.status == "ungrounded":
            status += " (not required)"
        if leaf.spans:
            span = leaf.spans[0]
            where = f"{span.source}[{span.start}:{span.end}]"
            if span.page is not None:
                where += f" p.{span.page}"
            text = documents.get(span.source, "")[span.start:span.end]
            if len(text) > _QUOTE_LIMIT:
                text = text[:_QUOTE_LIMIT - 3] + "..."
            quoted = '"' + text.replace("\n", "\\n") + '"'
        else:
            where = ""
            quoted = f"{leaf.value!r} (not in the document)"
        lines.append(f"{pointer:<{width}}  {status:<12} {where:<16} {quoted}".rstrip())
    return lines


__all__ = ["grounding_lines"]
