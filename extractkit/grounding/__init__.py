"""Source grounding: where each extracted value stands in the document.

* :mod:`.spans` -- the result types (:class:`Span`, :class:`LeafGrounding`,
  :class:`Grounding`) and their JSON form, shared by results, records,
  document merging, eval and the review page;
* :mod:`.policy` -- which fields are grounded (:func:`is_grounded`).
"""

from __future__ import annotations

from .policy import GROUNDING_MODES, is_grounded
from .spans import STATUSES, Grounding, LeafGrounding, Span

__all__ = ["GROUNDING_MODES", "STATUSES", "Grounding", "LeafGrounding", "Span", "is_grounded"]
