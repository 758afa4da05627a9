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


# -- the hook in ``extractkit run``: --keep-text and --html ---------------------


def add_run_options(run: argparse.ArgumentParser) -> None:
    """``run --keep-text`` / ``run --html FILE`` (records with texts; the review page)."""
    run.add_argument("--keep-text", action="store_true",
                     help="write each input's text into its record (for extractkit review)")
    run.add_argument("--html", metavar="FILE", help="also write the review page of the run")


class RunPage:
    """Keeps the texts of inputs in flight, adds them to records, writes the page at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.keep_text = bool(getattr(args, "keep_text", False))
        self.html = getattr(args, "html", None)
        self._texts: dict[str, Any] = {}
        self._records: list[dict[str, Any]] = []

    @property
    def wanted(self) -> bool:
        return self.keep_text or bool(self.html)

    def inputs(self, inputs: Any) -> Any:
        """Pass ``(id, text)`` inputs through, remembering the texts until their records."""
        if not self.wanted:
            yield from inputs
            return
        for ident, text in inputs:
            if isinstance(text, str):
                self._texts[ident] = text
            yield ident, text

    def record(self, record: dict[str, Any], item: Any = None) -> dict[str, Any]:
        """The record to write (with its text under ``--keep-text``); kept for the page,
        with the attempts of a failed item."""
        text = self._texts.pop(str(record.get("input")), None)
        if self.keep_text and text is not None:
            record = {**record, "text": text}
        if self.html:
            shown = record if text is None else {**record, "text": text}
            attempts = getattr(getattr(item, "error", None), "attempts", None)
            if attempts and "attempts" not in shown:
                from pydantic_core import to_jsonable_python

                shown = {**shown, "attempts": [to_jsonable_python(a.as_dict(), fallback=str)
                                               for a in attempts]}
            self._records.append(shown)
        return record

    def finish(self, err: IO[str]) -> None:
        if self.html:
            from .page import write_page

            write_page(self.html, self._records, title="extractkit review")
            print(f"extractkit: wrote {self.html} ({len(self._records)} documents)", file=err)
