"""Long documents: Kleister-NDA F1 with the embedded model, chunked vs truncated, one run.

Each document of ``/work/shared/data/kleister-nda-train.jsonl.gz`` (NDAs
filed with the SEC; gold keys effective_date, jurisdiction, party, term) is
read by the embedded model (``local=True``, SmolLM2-135M, 4,096-token
context) in up to three arms, interleaved document by document so machine
load hits them alike:

* ``truncate``: the same model on the first chunk only (what fits one prompt);
* ``chunked``: every chunk through the loop, merged by schema, each chunk
  after the first given the document's start (``document_context``);
* ``nocontext``: the same without the document's start (does context help?);
* ``plain``: chunked without ``--focus`` (every chunk asked every field), to
  see what focus adds.

With ``--focus N`` the chunked arms ask each field of the document's start
and of its N most relevant chunks (``focus=N``, evidence ranking), and merge
scalars by evidence (policy ``best``).

Scoring is the dataset's: ``key=value`` pairs, values in the dataset's normal
forms (dates ``YYYY-MM-DD``, terms ``3_years`` / ``1_year``, names with ``_``
for spaces, ``&`` as ``and``, no commas; a jurisdiction is the US state it
names, so "the laws of the State of New York" is ``New_York``; a date or a
term is the first full date / "N years" in the value, and a value holding
none gives no prediction) and upper-cased, true positives the multiset
intersection per document, micro-averaged. A key without gold that gets a
value is a false positive. Also printed: per-field precision/recall, seconds
and tokens per document, and the share of gold values whose text is present
in the document (the ceiling for an extractive reader).

Per-document records (values, errors, failed chunks with reasons) go to
``--records`` (JSON Lines). Budget: chunked F1 >= 1.5x truncate on the same
documents, no document failing without a reason in its record.

The machine is small and shared: the default is the first 20 documents
(``--limit``); ``--arms`` picks arms.

The chunked arms use ``--chunk-tokens`` (default 1000: a 135M model reads
short chunks better); the truncate arm gets the first chunk of the automatic
plan, i.e. as much of the document's start as fits the 4,096-token window.

    python bench/longdoc.py [--limit 20] [--offset 0] [--arms truncate,chunked,nocontext,plain]
                            [--chunk-tokens 1000] [--focus N] [--max-retries 1]
                            [--max-tokens 256] [--grounding check] [--records FILE]

Every arm has the same ``--max-tokens`` answer budget, and the embedded
model's wall-clock limit is raised to 180 s (``EXTRACTKIT_LOCAL_TIMEOUT``,
unless set) so a loaded machine does not cut the long truncate prompt short.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractkit import Extractor  # noqa: E402
from extractkit.documents.run import DocumentResult, plan_document  # noqa: E402
from extractkit.markers import Merge  # noqa: E402

DATA = Path("/work/shared/data/kleister-nda-train.jsonl.gz")
KEYS = ("effective_date", "jurisdiction", "party", "term")


class NDA(BaseModel):
    """The key facts of a non-disclosure agreement."""

    effective_date: str | None = Field(
        None, description="the date the agreement is dated or takes effect")
    jurisdiction: str | None = Field(
        None, description="the US state or country whose laws govern the agreement")
    parties: Annotated[list[str], Merge("union")] = Field(
        default_factory=list, description="names of the companies or people who sign it")
    term: str | None = Field(
        None, description="how long the agreement lasts, e.g. '2 years'")


# -- the dataset's normal forms ------------------------------------------------------

_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve "
                 "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty")
_NUMBERS = {w: i for i, w in enumerate(_NUMBER_WORDS.split())}
_NUMBERS.update({"twenty-four": 24, "thirty": 30, "thirty-six": 36, "sixty": 60, "ninety": 90})
_TERM = re.compile(r"(\d+|[a-z-]+)\s*(?:\(\d+\)\s*)?(year|month|week|day)s?", re.I)
_STATE_PREFIX = re.compile(r"^(the\s+)?(state|commonwealth|laws?)\s+of\s+(the\s+)?", re.I)


def norm_date(value: str) -> str | None:
    """ISO form of the first full date (day, month and year) in ``value``; ``None`` when
    it holds none (a fuzzy parse of "2. Subsequent Employer" would invent today's month)."""
    from dateutil import parser

    match = _DATES.search(value)
    if match is None:
        return None
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", match.group(0).replace("day of", ""))
    try:
        return parser.parse(text).date().isoformat()
    except (ValueError, OverflowError, TypeError, AttributeError):
        return None


def norm_term(value: str) -> str | None:
    match = _TERM.search(value)
    if not match:
        return None
    number, unit = match.group(1).lower(), match.group(2).lower()
    n = int(number) if number.isdigit() else _NUMBERS.get(number)
    if n is None:
        return None
    return f"{n}_{unit}" if n == 1 else f"{n}_{unit}s"  # the dataset writes 1_year


_US_STATES = [
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut",
    "Delaware", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa",
    "Kansas", "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan",
    "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada", "New_Hampshire",
    "New_Jersey", "New_Mexico", "New_York", "North_Carolina", "North_Dakota", "Ohio",
    "Oklahoma", "Oregon", "Pennsylvania", "Rhode_Island", "South_Carolina", "South_Dakota",
    "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington", "West_Virginia",
    "Wisconsin", "Wyoming", "District_of_Columbia",
]
_STATE = re.compile(r"\b(" + "|".join(sorted((s.replace("_", r"\s+") for s in _US_STATES),
                                              key=len, reverse=True)) + r")\b", re.I)


def norm_jurisdiction(value: str) -> str:
    """The US state named in ``value`` (the dataset's jurisdictions are states or
    countries: "the laws of the State of New York" is ``New_York``), else the name."""
    match = _STATE.search(value)
    if match:
        return "_".join(match.group(1).split())
    return norm_name(value)


def norm_name(value: str) -> str:
    value = re.sub(r"\(.*?\)", " ", value).replace("&", " and ").replace(",", " ")
    value = _STATE_PREFIX.sub("", value.strip())
    return "_".join(value.split()).strip("_;:")


def predicted_pairs(value: NDA | None) -> list[tuple[str, str]]:
    if value is None:
        return []
    out: list[tuple[str, str]] = []
    if value.effective_date and (d := norm_date(value.effective_date)):
        out.append(("effective_date", d))
    if value.jurisdiction and (j := norm_jurisdiction(value.jurisdiction)):
        out.append(("jurisdiction", j))
    for party in dict.fromkeys(norm_name(p).upper() for p in value.parties if p.strip()):
        out.append(("party", party))
    if value.term and (t := norm_term(value.term)):
        out.append(("term", t))
    return [(k, v.upper()) for k, v in out if v]


def gold_pairs(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, str(v).upper()) for k, v in doc["expected"]]


def gold_in_text(doc: dict[str, Any]) -> tuple[int, int]:
    """(gold values whose text appears in the document, gold values)."""
    flat = " ".join(doc["text"].replace(",", " ").replace("&", " and ").split()).upper()
    found = 0
    for key, value in doc["expected"]:
        words = str(value).replace("_", " ").upper()
        if key == "effective_date":
            found += any(norm_date(m.group(0)) == value for m in _DATES.finditer(doc["text"]))
        elif key == "term":
            found += any(norm_term(m.group(0)) == value for m in _TERM.finditer(doc["text"]))
        else:
            found += words in flat
    return found, len(doc["expected"])


_DATES = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?(?:January|February|March|April|May|June|July"
    r"|August|September|October|November|December),?\s+\d{4}", re.I)


class Score:
    def __init__(self) -> None:
        self.tp: Counter[str] = Counter()
        self.pred: Counter[str] = Counter()
        self.gold: Counter[str] = Counter()
        self.seconds = 0.0
        self.tokens = 0
        self.docs = 0
        self.failed = 0
        self.failed_chunks = 0
        self.chunks = 0

    def add(self, pred: list[tuple[str, str]], gold: list[tuple[str, str]]) -> None:
        hits = Counter(pred) & Counter(gold)
        for (key, _), n in hits.items():
            self.tp[key] += n
        for key, _ in pred:
            self.pred[key] += 1
        for key, _ in gold:
            self.gold[key] += 1

    @staticmethod
    def prf(tp: int, pred: int, gold: int) -> tuple[float, float, float]:
        p = tp / pred if pred else 0.0
        r = tp / gold if gold else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def f1(self) -> float:
        return self.prf(sum(self.tp.values()), sum(self.pred.values()), sum(self.gold.values()))[2]


# -- the arms ------------------------------------------------------------------------------


def run_arm(arm: str, extractors: dict[str, Extractor], doc: dict[str, Any],
            first_chunk: str) -> tuple[NDA | None, dict[str, Any], int]:
    started = time.perf_counter()
    record: dict[str, Any] = {"id": doc["id"], "arm": arm}
    tokens = 0
    value: NDA | None = None
    try:
        if arm == "truncate":
            result = extractors[arm].extract_result(NDA, first_chunk)
        else:
            result = extractors[arm].extract_result(NDA, doc["text"])
        value = result.value
        tokens = result.usage.total_tokens
        if isinstance(result, DocumentResult):
            record["chunks"] = result.chunk_count
            record["total_chunks"] = result.total_chunks
            if result.asked:
                record["asked"] = {str(k): v for k, v in result.asked.items()}
            record["failed_chunks"] = [f.as_dict() for f in result.failed_chunks]
            record["conflicts"] = len(result.conflicts)
        record["value"] = value.model_dump()
        record["ok"] = True
    except Exception as exc:
        record["ok"] = False
        record["error"] = f"{type(exc).__name__}: {exc}"[:500]
        tokens = sum(a.usage.total_tokens for a in getattr(exc, "attempts", []) or [])
    record["seconds"] = round(time.perf_counter() - started, 2)
    record["tokens"] = tokens
    return value, record, tokens


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--arms", default="truncate,chunked,nocontext")
    ap.add_argument("--records", type=Path, default=Path("/tmp/longdoc-records.jsonl"))
    ap.add_argument("--chunk-tokens", type=int, default=1000,
                    help="chunk size of the chunked arms (the truncate arm gets what fits)")
    ap.add_argument("--focus", type=int, default=0,
                    help="the chunked arms ask each field of the document's start and its N "
                         "most relevant chunks (0: every chunk); arm 'plain' never focuses")
    ap.add_argument("--max-retries", type=int, default=1,
                    help="re-asks per request, every arm alike (each costs a generation)")
    ap.add_argument("--max-tokens", type=int, default=256,
                    help="answer tokens per request, every arm alike (a degenerate generation "
                         "stops there instead of at the derived budget)")
    ap.add_argument("--grounding", choices=["off", "check", "require"], default="check",
                    help="every arm alike; require = extractive decoding on the embedded model")
    ap.add_argument("--rescore", type=Path, nargs="+", metavar="RECORDS",
                    help="score earlier --records files instead of running (documents every "
                         "arm has)")
    ap.add_argument("--show", type=int, default=0, metavar="N",
                    help="with --rescore: print predicted vs gold pairs of N documents per arm")
    args = ap.parse_args(argv)
    if args.rescore:
        return rescore(args.rescore, args.data, show=args.show)
    arms = [a for a in args.arms.split(",") if a]
    # a loaded machine must not cut the long truncate prompt's evaluation short
    os.environ.setdefault("EXTRACTKIT_LOCAL_TIMEOUT", "180")
    common = {"local": True, "max_retries": args.max_retries, "grounding": args.grounding,
              "max_tokens": args.max_tokens}
    extractors = {
        "truncate": Extractor(**common, chunking="off"),
        "chunked": Extractor(**common, chunk_tokens=args.chunk_tokens, focus=args.focus),
        "nocontext": Extractor(**common, chunk_tokens=args.chunk_tokens, document_context=False,
                               focus=args.focus),
        "plain": Extractor(**common, chunk_tokens=args.chunk_tokens),
        "window": Extractor(**common),  # auto: chunked only when it does not fit
    }
    with gzip.open(args.data, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in itertools.islice(fh, args.offset + args.limit)]
    docs = docs[args.offset:]
    scores = {arm: Score() for arm in arms}
    present = total = 0
    args.records.parent.mkdir(parents=True, exist_ok=True)
    with args.records.open("w", encoding="utf-8") as out:
        for n, doc in enumerate(docs, 1):
            run = plan_document(extractors["window"]._engine, NDA, doc["text"], {})
            first = run.chunks[0].text if run is not None else doc["text"]
            found, count = gold_in_text(doc)
            present, total = present + found, total + count
            gold = gold_pairs(doc)
            line = [f"[{n}/{len(docs)}] {doc['id'][:20]:20} {len(doc['text']):6} chars "
                    f"{len(run.chunks) if run else 1} chunks"]
            for arm in arms:
                value, record, tokens = run_arm(arm, extractors, doc, first)
                score = scores[arm]
                pred = predicted_pairs(value)
                score.add(pred, gold)
                score.docs += 1
                score.seconds += record["seconds"]
                score.tokens += tokens
                score.failed += not record["ok"]
                score.failed_chunks += len(record.get("failed_chunks", []))
                score.chunks += record.get("chunks", 1)
                record["predicted"], record["gold"] = pred, gold
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
                line.append(f"{arm} {record['seconds']:.0f}s")
            print("  ".join(line), flush=True)
    report(scores, present, total, len(docs))
    return 0


def rescore(paths: list[Path], data: Path, *, show: int = 0) -> int:
    """Score records written by earlier runs, on the documents every arm finished."""
    records = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]
    by_arm: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        by_arm.setdefault(r["arm"], {})[r["id"]] = r
    ids = set.intersection(*(set(v) for v in by_arm.values()))
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        docs = {d["id"]: d for d in map(json.loads, fh) if d["id"] in ids}
    scores = {arm: Score() for arm in by_arm}
    present = total = 0
    for n, ident in enumerate(sorted(ids)):
        if n < show:
            print(ident[:20])
            for arm, rows in by_arm.items():
                print(f"  {arm:10} predicted {rows[ident]['predicted']}")
            print(f"  {'':10} gold      {by_arm[next(iter(by_arm))][ident]['gold']}")
        found, count = gold_in_text(docs[ident])
        present, total = present + found, total + count
        for arm, rows in by_arm.items():
            r, score = rows[ident], scores[arm]
            score.add([tuple(p) for p in r["predicted"]], [tuple(g) for g in r["gold"]])
            score.docs += 1
            score.seconds += r["seconds"]
            score.tokens += r["tokens"]
            score.failed += not r["ok"]
            score.failed_chunks += len(r.get("failed_chunks", []))
            score.chunks += r.get("chunks", 1)
    report(scores, present, total, len(ids))
    return 0


def report(scores: dict[str, Score], present: int, total: int, docs: int) -> None:
    print(f"\n{docs} documents; gold values whose text is in the document: "
          f"{present}/{total} = {present / max(1, total):.2f}")
    header = f"{'arm':10} {'F1':>6} {'P':>6} {'R':>6}  " + "  ".join(
        f"{k[:8]:>8} P/R" for k in KEYS) + "   s/doc  tok/doc  failed  failed chunks"
    print(header)
    for arm, s in scores.items():
        p, r, f = s.prf(sum(s.tp.values()), sum(s.pred.values()), sum(s.gold.values()))
        fields = "  ".join(
            "{:.2f}/{:.2f}".format(*s.prf(s.tp[k], s.pred[k], s.gold[k])[:2]).rjust(12)
            for k in KEYS)
        print(f"{arm:10} {f:6.3f} {p:6.3f} {r:6.3f}  {fields}  {s.seconds / max(1, s.docs):6.1f} "
              f"{s.tokens / max(1, s.docs):8.0f}  {s.failed:6}  {s.failed_chunks}/{s.chunks}")
    if "truncate" in scores and "chunked" in scores:
        base = scores["truncate"].f1()
        ratio = scores["chunked"].f1() / base if base else float("inf")
        print(f"chunked / truncate F1: {ratio:.2f}x (budget >= 1.5x)")


if __name__ == "__main__":
    raise SystemExit(main())
