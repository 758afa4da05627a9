"""Source grounding: where each extracted value stands in the document.

* :mod:`.spans` -- the result types (:class:`Span`, :class:`LeafGrounding`,
  :class:`Grounding`) and their JSON form, shared by results, records,
  document merging, eval and the review page;
* :mod:`.policy` -- which fields are grounded (:func:`is_grounded`);
* :mod:`.align` -- :func:`ground_value`: every leaf of a value aligned to the
  documents (exact / normalized / fuzzy / ungrounded, which occurrence);
* :mod:`.normalize` -- the normalized copy of a text and its map back to
  original offsets;
* :mod:`.index` -- the per-document index (trigrams, numbers, fuzzy regions);
* :mod:`.forms` -- the textual forms of numbers, dates and booleans;
* :mod:`.check` -- the loop's step (``grounding="check"``/``"require"``) and
  which template variables are documents;
* :mod:`.show` -- ``extractkit run --show-grounding`` lines.

See ``docs/grounding.md``.
"""

from __future__ import annotations

from .align import ground_value
from .policy import GROUNDING_MODES, is_grounded
from .spans import STATUSES, Grounding, LeafGrounding, Span

__all__ = ["GROUNDING_MODES", "STATUSES", "Grounding", "LeafGrounding", "Span", "ground_value",
           "is_grounded"]
