"""Measure extraction quality on labelled data: ``extractkit eval`` and :func:`evaluate`.

* :mod:`.dataset` -- labelled examples (JSON Lines);
* :mod:`.matchers` -- how one value is compared (exact, normalized, numeric, date, enum, fuzzy, callables);
* :mod:`.assign` -- optimal alignment of list items;
* :mod:`.compare` -- one document, leaf by leaf, walked by the schema;
* :mod:`.metrics` -- precision, recall, F1;
* :mod:`.report` -- :class:`EvalReport` (JSON, baseline deltas, terminal tables);
* :mod:`.run` -- running the extraction and scoring records.
"""

from __future__ import annotations

from .compare import Comparer, LeafOutcome
from .dataset import Example, load_dataset
from .matchers import Matcher, make_matcher
from .metrics import Counts
from .report import DocumentReport, EvalReport, FieldDelta
from .run import evaluate, score_records

__all__ = [
    "Comparer",
    "Counts",
    "DocumentReport",
    "EvalReport",
    "Example",
    "FieldDelta",
    "LeafOutcome",
    "Matcher",
    "evaluate",
    "load_dataset",
    "make_matcher",
    "score_records",
]
