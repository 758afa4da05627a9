"""Extractive decoding on the embedded model: field accuracy and invented values.

Runs the dev set ``bench/data/messages.jsonl`` (34 short messages written for
this project, schema in ``bench/data/messages.py``) through
``Extractor(local=True)`` twice per message, side by side in one run:

* **off** -- plain constrained decoding (the JSON grammar only);
* **on** -- extractive decoding: every grounded string (free-form strings
  here: name, email, phone, city, company, date) can only be a substring of
  the message. Through ``grounding="require"`` when the installed extractkit
  has it, and in any case by handing the backend the document
  (``extra_body={"extractkit_documents": [text]}``, the request field the
  loop fills in with ``require``).

Usage::

    python bench/grounding_local.py [--limit N] [--data PATH] [-v]
    python bench/grounding_local.py --automaton   # index cost against document size

``--automaton`` times building the substring index (once per request) and
walking it, for documents of 10 kB to 1 MB, and prints the cost per byte
relative to the smallest: flat ratios mean linear cost.

Scores: *field accuracy* -- fields equal to the expected value (strings
compared ignoring case and runs of whitespace; ``null`` must be ``null``),
over every field of every message, a failed extraction counting all its
fields wrong; *invented values* -- returned non-null strings that are not an
exact substring of the message, over all returned strings; *invented for
absent fields* -- fields the message does not state that came back as a
string.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "messages.jsonl"


@dataclass
class Tally:
    fields_right: int = 0
    fields_total: int = 0
    strings: int = 0
    invented: int = 0
    absent: int = 0
    absent_invented: int = 0
    failed: int = 0
    seconds: float = 0.0
    wrong: list[str] = field(default_factory=list)

    def add(self, item: dict[str, Any], value: dict[str, Any] | None, seconds: float) -> None:
        text, expected = item["text"], item["expected"]
        self.seconds += seconds
        if value is None:
            self.failed += 1
        for name, want in expected.items():
            got = None if value is None else value.get(name)
            self.fields_total += 1
            if value is not None and _same(got, want):
                self.fields_right += 1
            elif value is not None:
                self.wrong.append(f"{item['id']}.{name}: {got!r} (expected {want!r})")
            if want is None:
                self.absent += 1
                self.absent_invented += isinstance(got, str) and got not in text
            if isinstance(got, str):
                self.strings += 1
                self.invented += got not in text

    def summary(self, items: int) -> dict[str, Any]:
        return {
            "field_accuracy": round(self.fields_right / max(1, self.fields_total), 3),
            "invented_rate": round(self.invented / max(1, self.strings), 3),
            "invented": f"{self.invented}/{self.strings}",
            "absent_invented": f"{self.absent_invented}/{self.absent}",
            "failed": self.failed,
            "seconds_per_item": round(self.seconds / max(1, items), 2),
        }


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, str) and isinstance(want, str):
        return " ".join(got.split()).casefold() == " ".join(want.split()).casefold()
    return bool(got == want and type(got) is type(want))


def load_items(path: Path, limit: int | None) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    return items[:limit] if limit else items


def extractors(text: str) -> dict[str, Any]:
    """The two contenders for one message: ``off`` and ``on``."""
    from extractkit import Extractor

    documents = {"extractkit_documents": [text]}
    try:
        # The loop fills in the documents itself with grounding="require"; passing
        # them too keeps the run extractive whichever side has landed.
        return {
            "off": Extractor(local=True, grounding="check"),
            "on": Extractor(local=True, grounding="require", extra_body=documents),
        }
    except Exception:  # this extractkit has no grounding= yet: drive the backend field
        return {
            "off": Extractor(local=True),
            "on": Extractor(local=True, extra_body=documents),
        }


def automaton_costs() -> int:
    """Build and query times of the substring index by document size (linear?)."""
    import random

    sys.path.insert(0, str(ROOT))
    from extractkit.backends.local.extractive import SubstringIndex

    rng = random.Random(7)
    words = ["alpha", "Zürich", "ann@example.org", "42", "東京", "the", "booking", "of", "\n"]
    base = None
    print(
        f"{'bytes':>10s} {'build s':>9s} {'us/byte':>8s} {'ratio':>6s} {'states/byte':>11s} {'query us':>9s}"
    )
    for size in (10_000, 100_000, 1_000_000):
        parts: list[str] = []
        total = 0
        while total < size:
            word = rng.choice(words)
            parts.append(word)
            total += len(word.encode()) + 1
        text = " ".join(parts)
        started = time.perf_counter()
        index = SubstringIndex([text])
        build = time.perf_counter() - started
        probes = [text[i : i + 24] for i in range(0, len(text) - 24, max(1, len(text) // 1000))]
        started = time.perf_counter()
        assert all(index.contains(p) for p in probes)
        query = (time.perf_counter() - started) / len(probes)
        per_byte = build / len(text.encode())
        base = base or per_byte
        print(
            f"{len(text.encode()):>10d} {build:>9.3f} {per_byte * 1e6:>8.2f} {per_byte / base:>6.2f}"
            f" {index.states / len(text.encode()):>11.2f} {query * 1e6:>9.1f}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("-v", "--verbose", action="store_true", help="list wrong fields")
    parser.add_argument("--automaton", action="store_true", help="time the substring index only")
    args = parser.parse_args(argv)
    if args.automaton:
        return automaton_costs()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(DATA.parent))
    from messages import Booking  # type: ignore[import-not-found]

    items = load_items(args.data, args.limit)
    tallies = {"off": Tally(), "on": Tally()}
    extractors(items[0]["text"])["off"].extract_result(Booking, items[0]["text"])  # load the model
    for n, item in enumerate(items):
        contenders = list(extractors(item["text"]).items())
        if n % 2:
            contenders.reverse()  # alternate who runs first
        for name, extractor in contenders:
            started = time.perf_counter()
            try:
                value = extractor.extract_result(Booking, item["text"]).value.model_dump()
            except Exception as exc:  # a failed extraction counts all its fields wrong
                value = None
                tallies[name].wrong.append(f"{item['id']}: {type(exc).__name__}: {exc}"[:200])
            tallies[name].add(item, value, time.perf_counter() - started)
    summaries = {name: t.summary(len(items)) for name, t in tallies.items()}
    print(f"{len(items)} messages, {tallies['on'].fields_total} fields, embedded model")
    print(f"{'':24s}{'off':>12s}{'on':>12s}")
    for key in summaries["off"]:
        print(f"{key:24s}{summaries['off'][key]!s:>12s}{summaries['on'][key]!s:>12s}")
    if args.verbose:
        for name, tally in tallies.items():
            print(f"\n{name}: wrong fields")
            for line in tally.wrong:
                print("  " + line)
    print(json.dumps(summaries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
