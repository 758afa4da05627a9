"""How one extracted scalar is compared with the expected one.

A :class:`Matcher` gives a similarity in ``[0, 1]`` and counts a value as
right when the similarity reaches its ``threshold``. The similarity (not just
right/wrong) is what list alignment optimizes (:mod:`extractkit.eval.assign`).

========== ============================================================ ==========
name       right when                                                   options
========== ============================================================ ==========
exact      equal JSON values (``1`` equals ``1.0``, not ``True``)
normalized equal after Unicode NFKC, case folding, whitespace collapsed
numeric    ``abs(actual - expected) <= tolerance`` (numbers or numeric  tolerance
           strings such as ``"1,234.50"``)
date       the same calendar day; the expected ISO date against any
           common written form (``2024-03-05``, ``March 5, 2024``,
           ``5 Mar 2024``, ``05/03/2024`` read as US month/day)
enum       equal after case folding and trimming
fuzzy      rapidfuzz ``ratio`` of the normalized strings ≥ threshold    threshold
callable   ``fn(expected, actual)`` returns a bool or a score in [0, 1]  threshold
========== ============================================================ ==========

Which matcher a field gets: its ``x-match`` marker (``Match(...)`` in a
Pydantic model), else a ``--match-config`` entry, else the default for its
type (:func:`default_matcher`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import ConfigurationError
from ..markers import MATCHERS, registered_callable
from ..schema.view import Node, is_number

ScoreFn = Callable[[Any, Any], float]

DEFAULT_FUZZY_THRESHOLD = 0.85
DEFAULT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Matcher:
    """A named similarity with the threshold at which a value counts as right."""

    name: str
    score_fn: ScoreFn
    threshold: float = 1.0

    def score(self, expected: Any, actual: Any) -> float:
        """The similarity, clamped to ``[0, 1]`` (NaN from a user callable is 0)."""
        if expected is None or actual is None:
            return 1.0 if expected is actual else 0.0
        value = float(self.score_fn(expected, actual))
        return 0.0 if math.isnan(value) else min(1.0, max(0.0, value))

    def matches(self, expected: Any, actual: Any) -> bool:
        return self.score(expected, actual) >= self.threshold


# -- the similarities -----------------------------------------------------------


def _exact(expected: Any, actual: Any) -> float:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return 1.0 if expected is actual else 0.0
    return 1.0 if expected == actual else 0.0


_SPACE = re.compile(r"\s+")


def normalize_text(value: Any) -> str:
    """NFKC, case-folded, whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", str(value))
    return _SPACE.sub(" ", text.casefold()).strip()


def _normalized(expected: Any, actual: Any) -> float:
    if not isinstance(expected, str) or not isinstance(actual, str):
        return _exact(expected, actual)
    return 1.0 if normalize_text(expected) == normalize_text(actual) else 0.0


_NUMBER_NOISE = re.compile(r"[\s,$€£¥%]")


def as_number(value: Any) -> float | None:
    """A number, or a string that is one once thousands separators and currency go."""
    if is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(_NUMBER_NOISE.sub("", value))
        except ValueError:
            return None
    return None


def _numeric(tolerance: float) -> ScoreFn:
    def score(expected: Any, actual: Any) -> float:
        e, a = as_number(expected), as_number(actual)
        if e is None or a is None or math.isnan(e) or math.isnan(a):
            return 0.0
        return 1.0 if abs(e - a) <= tolerance else 0.0

    return score


_MONTHS = {name: i for i, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
     ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
     ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
     ("dec", "december")), 1) for name in names}
_ORDINAL = re.compile(r"(?<=\d)(st|nd|rd|th)\b")
_YMD = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ t].*)?")
_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")
_DMY_DOTS = re.compile(r"(\d{1,2})[.-](\d{1,2})[.-](\d{4})")
_WORDS = re.compile(r"[a-z]+|\d+")


def parse_date(value: Any) -> date | None:
    """The calendar day a common written date names, or ``None``.

    ISO (``2024-03-05``, with or without a time), ``3/5/2024`` (US order),
    ``05.03.2024`` (day first), and forms with a month name in any order
    (``March 5th, 2024``, ``5 Mar 2024``, ``the 5th day of March, 2024``).
    """
    if not isinstance(value, str):
        return None
    text = _ORDINAL.sub("", value.strip().casefold())
    try:
        if m := _YMD.fullmatch(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _MDY.fullmatch(text):
            year = int(m[3]) + (2000 if len(m[3]) == 2 and int(m[3]) < 70 else
                                1900 if len(m[3]) == 2 else 0)
            return date(year, int(m[1]), int(m[2]))
        if m := _DMY_DOTS.fullmatch(text):
            return date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    words = _WORDS.findall(text)
    months = [_MONTHS[w] for w in words if w in _MONTHS]
    numbers = [int(w) for w in words if w.isdigit()]
    years = [n for n in numbers if n >= 1000]
    days = [n for n in numbers if 1 <= n <= 31]
    if len(months) != 1 or len(years) != 1 or len(days) != 1 or len(numbers) != 2:
        return None
    try:
        return date(years[0], months[0], days[0])
    except ValueError:
        return None


def _date(expected: Any, actual: Any) -> float:
    e, a = parse_date(expected), parse_date(actual)
    if e is None or a is None:
        return _normalized(expected, actual)
    return 1.0 if e == a else 0.0


def _enum(expected: Any, actual: Any) -> float:
    if isinstance(expected, str) and isinstance(actual, str):
        return 1.0 if expected.strip().casefold() == actual.strip().casefold() else 0.0
    return _exact(expected, actual)


def _fuzzy(expected: Any, actual: Any) -> float:
    try:
        from rapidfuzz import fuzz
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            'the "fuzzy" matcher needs rapidfuzz: pip install "extractkit[eval]"'
        ) from None
    if not isinstance(expected, str) or not isinstance(actual, str):
        return _exact(expected, actual)
    return float(fuzz.ratio(normalize_text(expected), normalize_text(actual))) / 100.0


def _from_callable(fn: Callable[..., Any]) -> ScoreFn:
    def score(expected: Any, actual: Any) -> float:
        out = fn(expected, actual)
        return float(out) if not isinstance(out, bool) else (1.0 if out else 0.0)

    return score


# -- building matchers ----------------------------------------------------------


def make_matcher(spec: Any, where: str = "x-match") -> Matcher:
    """A matcher from a spec: a name, ``{"type": name, options}``, a callable or a Matcher.

    ``where`` names the place the spec came from in errors.
    """
    if isinstance(spec, Matcher):
        return spec
    if callable(spec):
        return Matcher(getattr(spec, "__name__", "callable"), _from_callable(spec), 1.0)
    options: dict[str, Any] = {}
    if isinstance(spec, dict):
        options = {k: v for k, v in spec.items() if k != "type"}
        spec = spec.get("type")
    if not isinstance(spec, str):
        raise ConfigurationError(f"{where}: a matcher is a name or {{\"type\": name, ...}}, "
                                 f"not {spec!r}")
    unknown = set(options) - {"threshold", "tolerance"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown matcher option(s) {', '.join(sorted(unknown))}")
    threshold = options.get("threshold")
    tolerance = options.get("tolerance")
    for key, value in (("threshold", threshold), ("tolerance", tolerance)):
        if value is not None and not is_number(value):
            raise ConfigurationError(f"{where}: {key} must be a number, not {value!r}")
    if spec == "exact":
        return Matcher("exact", _exact)
    if spec == "normalized":
        return Matcher("normalized", _normalized)
    if spec == "numeric":
        tol = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
        name = "numeric" if tol == DEFAULT_TOLERANCE else f"numeric±{tol:g}"
        return Matcher(name, _numeric(tol))
    if spec == "date":
        return Matcher("date", _date)
    if spec == "enum":
        return Matcher("enum", _enum)
    if spec == "fuzzy":
        limit = DEFAULT_FUZZY_THRESHOLD if threshold is None else float(threshold)
        return Matcher(f"fuzzy≥{limit:g}", _fuzzy, limit)
    fn = registered_callable(spec)
    if fn is None:
        raise ConfigurationError(
            f"{where}: unknown matcher {spec!r}; expected one of {', '.join(MATCHERS)} "
            "or the name of a callable registered with extractkit.markers.register_callable"
        )
    return Matcher(spec, _from_callable(fn), 1.0 if threshold is None else float(threshold))


def default_matcher(node: Node) -> Matcher:
    """The matcher for a field without ``x-match``: by its type.

    Strings with ``enum`` → enum; ``format: date``/``date-time`` → date; other
    strings → normalized; numbers → numeric (exact up to rounding noise);
    everything else → exact.
    """
    schema = node.schema
    if node.kind == "string":
        if "enum" in schema or "const" in schema:
            return make_matcher("enum")
        if schema.get("format") in ("date", "date-time"):
            return make_matcher("date")
        return make_matcher("normalized")
    if node.kind in ("number", "integer"):
        return make_matcher("numeric")
    return make_matcher("exact")


__all__ = [
    "Matcher",
    "as_number",
    "default_matcher",
    "make_matcher",
    "normalize_text",
    "parse_date",
]
