"""``extractkit review RESULTS.jsonl [-o page.html]``: the review page of a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any


def add_review_parser(sub: Any) -> None:
    review = sub.add_parser(
        "review", help="write the HTML review page of a run's records (-o of run or eval)")
    review.add_argument("results", metavar="RESULTS", help="JSON Lines records (run -o FILE)")
    review.add_argument("--output", "-o", metavar="FILE",
                        help="the page to write (default: RESULTS with .html)")
    review.add_argument("--title", help="the page's title (default: the records file name)")
    review.set_defaults(handler=cmd_review)


def cmd_review(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ..cli import EXIT_OK
    from .page import load_records, write_page

    records = load_records(args.results)
    target = Path(args.output) if args.output else Path(args.results).with_suffix(".html")
    write_page(target, records, title=args.title or f"extractkit review: {Path(args.results).name}")
    print(f"extractkit: wrote {target} ({len(records)} documents)", file=err)
    return EXIT_OK


__all__ = ["add_review_parser", "cmd_review"]
