"""The textual forms a number, a date or a boolean may take in a document.

Forms are lower case (they are looked up in the normalized text, see
:mod:`.normalize`). A value found in its canonical form (the JSON spelling,
ISO 8601 for a date) is ``exact``, in another form ``normalized``.

Numbers (``34``, ``-3``, ``1250``, ``1250.5``)
    any number written in the text with the same value: digits, optionally
    grouped by thousands with ``,``, ``.``, a space or ``'`` (the same
    separator throughout, groups of three), optionally a fraction after ``.``
    or ``,`` (the one not used for grouping), any number of decimals, an
    optional ``-``. So ``1250`` is found as ``1250``, ``1,250``, ``1.250``,
    ``1 250``, ``1'250``, ``1,250.00``, ``1.250,00``; ``12.5`` as ``12.5``,
    ``12.50``, ``12,5``. A written number is read whole: ``34`` is not found
    in ``1234`` or ``34.5``; digit runs that are not one number (``20.05.2014``,
    ``+1 555 0100``) count as separate numbers. The numbers of a document are
    read once into a table (value → spans), so a lookup costs one dict access.
Dates (``2014-05-20``: a string of format ``date``, or any string that is an ISO date)
    ``2014-05-20``, ``2014/05/20``, ``2014.05.20``, ``20.05.2014``,
    ``20.5.2014``, ``20/05/2014``, ``20/5/2014``, ``05/20/2014``,
    ``5/20/2014``, ``20-05-2014``, ``2014年5月20日``, and with the English
    month name (full, three letters, or three letters and a dot; ``sept``
    too): ``May 20, 2014``, ``May 20 2014``, ``May 20th, 2014``,
    ``20 May 2014``, ``20 May, 2014``, ``20th May 2014``, ``20. May 2014``.
Booleans (only when the field is marked grounded)
    ``true`` / ``yes``; ``false`` / ``no``.
"""

from __future__ import annotations

import datetime as _dt
import re

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


_NUMBER_TOKEN = re.compile(r"-?\d+(?:[.,']\d+| \d{3}(?!\d))*")
_DOT_DECIMAL = re.compile(r"\d{1,3}(?:([,' ])\d{3}(?:\1\d{3})*)?(?:\.\d+)?|\d+(?:\.\d+)?")
_COMMA_DECIMAL = re.compile(r"\d{1,3}(?:([.' ])\d{3}(?:\1\d{3})*)?(?:,\d+)?|\d+(?:,\d+)?")
_DIGITS = re.compile(r"\d+")


def number_values(token: str) -> list[float]:
    """The numbers a written number can mean (``1.250`` is 1.25 or 1250); ``[]`` if
    it is not one number (``20.05.2014``)."""
    sign = -1.0 if token.startswith("-") else 1.0
    body = token.lstrip("-")
    out: list[float] = []
    if _DOT_DECIMAL.fullmatch(body):
        out.append(sign * float(re.sub(r"[,' ]", "", body)))
    if _COMMA_DECIMAL.fullmatch(body):
        value = sign * float(re.sub(r"[.' ]", "", body).replace(",", "."))
        if value not in out:
            out.append(value)
    return out


def numbers_in(text: str) -> dict[float, tuple[list[int], list[int]]]:
    """Every number written in ``text`` (see the module docstring): value → the starts
    and the ends of its spans, in text order. A run of digits and separators
    that is not one number (a date, a phone number) counts as its separate
    digit runs."""
    found: dict[float, tuple[list[int], list[int]]] = {}

    def add(value: float, start: int, end: int) -> None:
        spans = found.get(value)
        if spans is None:
            spans = found[value] = ([], [])
        spans[0].append(start)
        spans[1].append(end)

    for match in _NUMBER_TOKEN.finditer(text):
        start, end = match.span()
        token = match.group()
        if token.isdigit():  # the common case, read without the patterns
            add(float(token), start, end)
            continue
        values = number_values(token)
        if values:
            for value in values:
                add(value, start, end)
                if token.startswith("-"):  # "-3" also holds 3 (a range: "10-3")
                    add(-value, start + 1, end)
            continue
        for run in _DIGITS.finditer(token):
            add(float(run.group()), start + run.start(), start + run.end())
    return found


def canonical_number(value: int | float) -> str:
    """The JSON spelling of a number (what an ``exact`` match is)."""
    return str(value) if isinstance(value, int) else repr(float(value))


def date_forms(value: str) -> list[str]:
    """Textual forms of an ISO date ``YYYY-MM-DD``, canonical first; ``[]`` if it is not one."""
    if not ISO_DATE.fullmatch(value):
        return []
    try:
        date = _dt.date.fromisoformat(value)
    except ValueError:
        return []
    y, m, d = date.year, date.month, date.day
    mm, dd = f"{m:02d}", f"{d:02d}"
    forms = [value, f"{y}/{mm}/{dd}", f"{y}.{mm}.{dd}", f"{dd}.{mm}.{y}", f"{d}.{m}.{y}",
             f"{dd}/{mm}/{y}", f"{d}/{m}/{y}", f"{mm}/{dd}/{y}", f"{m}/{d}/{y}",
             f"{dd}-{mm}-{y}", f"{y}年{m}月{d}日"]
    suffix = "th" if 11 <= d <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    full = _MONTHS[m - 1]
    names = [full, full[:3], full[:3] + "."]
    if m == 9:
        names += ["sept", "sept."]
    for name in dict.fromkeys(names):
        forms += [f"{name} {d}, {y}", f"{name} {d} {y}", f"{name} {d}{suffix}, {y}",
                  f"{d} {name} {y}", f"{d} {name}, {y}", f"{d}{suffix} {name} {y}",
                  f"{d}. {name} {y}"]
    return list(dict.fromkeys(forms))


def boolean_forms(value: bool) -> list[str]:
    """Textual forms of a boolean, canonical first."""
    return ["true", "yes"] if value else ["false", "no"]


__all__ = ["ISO_DATE", "boolean_forms", "canonical_number", "date_forms", "number_values",
           "numbers_in"]
