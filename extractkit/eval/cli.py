"""``extractkit eval SCHEMA DATA.jsonl [run options]``: score extraction on labelled data.

Runs the extraction on every example with the options ``run`` has (endpoint,
model, prompt, ``--concurrency``, ``--cache``, ...), or scores earlier
records with ``--results FILE`` without calling any model; prints rich
tables; ``--json`` writes the report, ``--html`` the review page with the
expected values, ``--baseline`` compares with an earlier ``--json`` report,
``--fail-under F1`` exits with 1 below it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigurationError, InputError


def add_eval_parser(sub: Any, endpoint_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("eval", help="measure extraction quality on labelled examples")
    p.add_argument("schema", metavar="SCHEMA", help="file.py[:Name] or file.json")
    p.add_argument("dataset", metavar="DATA", help='JSON Lines: {"id", "text"|"path"|"vars", '
                   '"expected"} per line')
    endpoint_options(p)
    from ..cli import extraction_options

    extraction_options(p)  # re-asks, coercion, grounding, chunking: as for run
    p.add_argument("--concurrency", type=int, default=1, metavar="N",
                   help="extractions in flight at once (default 1)")
    p.add_argument("--cache", action="store_true",
                   help="answer repeated requests from the response cache on disk")
    p.add_argument("--cache-path", metavar="PATH",
                   help="the response cache file (implies --cache)")
    p.add_argument("--price-table", metavar="FILE", help="JSON prices per million tokens")
    p.add_argument("--results", metavar="FILE",
                   help="score these records (run -o FILE) instead of extracting")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="also write the run's records here (JSON Lines, for --results later)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an --output file that already holds records")
    p.add_argument("--match-config", metavar="FILE",
                   help='JSON {"/field/pattern/*": matcher} overriding the x-match markers')
    p.add_argument("--json", metavar="FILE", dest="json_out", help="write the report as JSON")
    p.add_argument("--html", metavar="FILE", help="write the review page with expected values")
    p.add_argument("--baseline", metavar="FILE",
                   help="an earlier --json report: show per-field deltas, mark regressions")
    p.add_argument("--fail-under", type=float, default=None, metavar="F1",
                   help="exit with 1 when the overall F1 (0..1) is below this")
    p.add_argument("--no-documents", action="store_true",
                   help="leave the per-document table out of the terminal output")
    p.set_defaults(handler=cmd_eval)


def _match_config(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read match config {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"match config {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f'match config {path}: expected {{"/pattern": matcher, ...}}')
    from .matchers import make_matcher

    for pattern, spec in data.items():  # fail before any extraction
        make_matcher(spec, f"match config {pattern!r}")
    return data


def cmd_eval(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ..cli import (
        EXIT_FAILED,
        EXIT_OK,
        Runner,
        UsageError,
        _cache,
        _failure_text,
        _model_name,
        _settings,
    )
    from ..errors import is_endpoint_fatal
    from ..loading import load_target
    from ..pricing import PriceTable
    from ..review.page import load_records, write_page
    from .dataset import load_dataset
    from .report import EvalReport
    from .run import chunk_aware, run_examples, score_records

    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.fail_under is not None and not 0 <= args.fail_under <= 1:
        raise UsageError("--fail-under takes an F1 between 0 and 1")
    from ..output import RecordsFile, check_writable, refuse_to_replace

    for name in (args.output, args.json_out, args.html):  # fail before any request
        if name:
            check_writable(Path(name))
    if args.output and not args.results and not args.overwrite:
        refuse_to_replace(Path(args.output))
    examples = load_dataset(args.dataset)
    target = load_target(args.schema)
    schema = target.function.schema if target.function is not None else target.schema
    match_config = _match_config(args.match_config)
    prices = PriceTable.load(args.price_table) if args.price_table else PriceTable()
    baseline = EvalReport.load(args.baseline) if args.baseline else None
    model: str | None = None
    local = False
    if args.results:
        records = load_records(args.results)
        model = args.model or os.environ.get("EXTRACTKIT_MODEL")  # for the price of records
    else:
        runner = Runner(target, _settings(args))
        model = _model_name(runner.settings)
        local = runner.settings.uses_local()
        cache = _cache(args)
        try:
            records = list(run_examples(chunk_aware(runner), examples,
                                        concurrency=args.concurrency,
                                        cache=cache, variables=target.function is not None))
        except Exception as exc:
            if not is_endpoint_fatal(exc):
                raise
            # every request would fail alike (401, 404, unreachable): no score to give
            print(f"extractkit: stopped: {_failure_text(exc)}", file=err)
            return EXIT_FAILED
        finally:
            if cache is not None:
                cache.close()
        if args.output:
            with RecordsFile(args.output, overwrite=args.overwrite) as sink:
                for record in records:
                    sink.write(record)
    report = score_records(schema, examples, records, match_config=match_config, prices=prices,
                           model=model, local=local)
    report.print(out, baseline=baseline, documents=not args.no_documents)
    if args.json_out:
        report.write_json(args.json_out)
    if args.html:
        texts = {}
        for example in examples:
            try:
                texts[example.id] = example.document_text()
            except InputError:  # the record may still carry its text
                texts[example.id] = None
        by_input = {str(r.get("input")): r for r in records}
        ordered = []
        for e in examples:  # in dataset order, named by example id (as scored)
            found = by_input.get(e.id) or (by_input.get(e.path) if e.path else None)
            ordered.append({**found, "input": e.id} if found is not None
                           else {"input": e.id, "ok": False, "error": "no result"})
        write_page(args.html, ordered, texts=texts,
                   evaluations={d.id: d for d in report.documents},
                   title=f"extractkit eval: {Path(args.dataset).name}")
        print(f"extractkit: wrote {args.html}", file=err)
    if args.fail_under is not None and report.f1 < args.fail_under:
        print(f"extractkit: F1 {report.f1:.4f} is under {args.fail_under:.4f}", file=err)
        return EXIT_FAILED
    return EXIT_OK


__all__ = ["add_eval_parser", "cmd_eval"]
