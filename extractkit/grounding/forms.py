"""The textual forms a number, a date or a boolean may take in a document.

All forms are lower case (they are looked up in the normalized text, see
:mod:`.normalize`). The first form is the canonical one (the JSON spelling,
or ISO 8601 for a date): a value found in that form is ``exact``, in another
form ``normalized``.

Numbers (``34``, ``-3``, ``1250``, ``1250.5``)
    the JSON spelling; the integer part grouped by thousands with ``,``,
    ``.``, a space or ``'`` (when it has more than three digits); the
    fraction after ``.`` or ``,`` (the separator not used for grouping), also
    padded to two decimals (``12.50``); an integral value also with ``.00``
    / ``,00``. So ``1250.0`` is found as ``1250``, ``1,250``, ``1.250``,
    ``1 250``, ``1,250.00``, ``1.250,00``, ``1 250,00``...
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
from decimal import Decimal

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def number_forms(value: int | float) -> list[str]:
    """Textual forms of a number, canonical first."""
    canonical = str(value) if isinstance(value, int) else repr(float(value))
    dec = Decimal(canonical)
    sign = "-" if dec < 0 else ""
    digits = format(abs(dec), "f")
    whole, _, frac = digits.partition(".")
    if frac and set(frac) == {"0"}:
        frac = ""
    fractions = [frac] if frac else [""]
    if len(frac) == 1:
        fractions.append(frac + "0")
    if not frac:
        fractions.append("00")
    out = [canonical.lower()]
    groupings: list[tuple[str, str]] = [("", "."), ("", ",")]
    if len(whole) > 3:
        groupings += [(",", "."), (" ", "."), ("'", "."), (".", ","), (" ", ",")]
    for group, point in groupings:
        head = _grouped(whole, group)
        for f in fractions:
            form = sign + head + (point + f if f else "")
            if form not in out:
                out.append(form)
    return out


def _grouped(whole: str, sep: str) -> str:
    if not sep:
        return whole
    first = len(whole) % 3 or 3
    parts = [whole[:first]] + [whole[i:i + 3] for i in range(first, len(whole), 3)]
    return sep.join(parts)


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


__all__ = ["ISO_DATE", "boolean_forms", "date_forms", "number_forms"]
