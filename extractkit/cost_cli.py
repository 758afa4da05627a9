"""``extractkit run``'s cost options: ``--dry-run`` (with ``--json``), ``--max-cost``,
``--max-tokens-total``. The logic is in :mod:`extractkit.estimate` and
:mod:`extractkit.spend`; this module adds the options and drives them over
the CLI's inputs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import IO, Any

from .errors import ConfigurationError
from .estimate import Estimator, PlannedRequest, answer_tokens, estimate_lines
from .loading import InputDoc
from .output import done_inputs
from .pricing import FREE, PriceTable
from .settings import Settings
from .spend import SpendLimit

#: ``extractkit run`` stopped at ``--max-cost`` / ``--max-tokens-total`` (resumable)
EXIT_LIMIT = 3


def add_cost_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--dry-run", action="store_true",
                     help="send nothing: render every request (every chunk's), count its "
                     "tokens and print the estimated cost per endpoint")
    run.add_argument("--json", action="store_true",
                     help="with --dry-run: print the estimate as one JSON object")
    run.add_argument("--max-cost", type=float, default=None, metavar="USD",
                     help="stop starting inputs before the run's spending would pass USD "
                     "(needs the model's price; resumable; exit code 3)")
    run.add_argument("--max-tokens-total", type=int, default=None, metavar="N",
                     help="stop starting inputs before the run's prompt + completion tokens "
                     "would pass N (resumable; exit code 3)")


def dry_run_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """A dry run needs no key: a named model with no endpoint configured is priced and
    counted as a remote model (its default profile), not refused."""
    if settings.get("local"):
        return settings
    if Settings.of(**settings).uses_local():
        remote = Settings.of(**{**settings, "local": False})
        try:
            remote.resolved_model()
        except ConfigurationError:
            return settings  # no model named: the embedded model is what would run
        return {**settings, "local": False}
    return settings


def spend_limit(args: argparse.Namespace, settings: Settings,
                prices: PriceTable) -> SpendLimit | None:
    """The run's limit, checked before anything is sent (an unknown price is an error)."""
    if args.max_cost is None and args.max_tokens_total is None:
        return None
    try:
        model: str | None = settings.resolved_model()
    except ConfigurationError:
        model = None
    return SpendLimit(max_cost=args.max_cost, max_tokens_total=args.max_tokens_total,
                      prices=prices, model=model, local=settings.uses_local())


def dry_run(args: argparse.Namespace, runner: Any, docs: Iterator[InputDoc],
            out: IO[str], err: IO[str]) -> int:
    """``run --dry-run``: the estimate of every input's first request(s); nothing is sent."""
    engine = runner.engine
    prices = PriceTable.load(args.price_table) if args.price_table else PriceTable()
    estimator = endpoint_estimator(engine.profile.name, engine, prices)
    target = runner.target
    spec = target.function.schema if target.function is not None else target.schema
    expected = answer_tokens(engine.plan(spec).compiled.source.json_schema, engine.params)
    done = done_inputs(args.output, runner.fingerprint()) if args.resume and args.output else set()
    skipped = unreadable = 0
    for doc in docs:
        if doc.id in done:
            skipped += 1
            continue
        if doc.error is not None or doc.text is None:
            unreadable += 1
            print(f"extractkit: {doc.id}: not counted: {doc.error}", file=err)
            continue
        for request in _requests(runner, doc):
            estimator.add(PlannedRequest(doc.id, request, expected))
    estimate = estimator.estimate()
    notes = ["first attempts only: each re-ask (up to --max-retries per input) resends the "
             "conversation"]
    if args.batch_api:
        notes.append("priced at online rates: the Batch API charges about half")
    if engine.settings.resolved_passes > 1:
        notes.append("pass 1 of chunked documents only: later passes ask for what is missing")
    if args.json:
        report = {"dry_run": True, "estimates": [estimate.as_dict()],
                  "skipped": skipped, "unreadable": unreadable, "notes": notes}
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
        return 0
    out.write("\n".join(["extractkit: dry run, nothing sent", *estimate_lines([estimate])])
              + "\n")
    if skipped:
        out.write(f"  {skipped:,} input(s) already done in {args.output} (--resume)\n")
    for note in notes:
        out.write(f"  note: {note}\n")
    return 0


def endpoint_estimator(name: str, engine: Any, prices: PriceTable) -> Estimator:
    """The :class:`~extractkit.estimate.Estimator` of one endpoint: the model, profile
    and price that ``engine`` resolves to. (A fallback chain lists one per endpoint.)"""
    resolved = engine.resolved
    price = FREE if resolved.local else prices.price_for(resolved.model)
    return Estimator(name, model=resolved.model, profile=engine.profile.name, price=price)


def _requests(runner: Any, doc: InputDoc) -> Iterator[dict[str, Any]]:
    """The first request of an input, or of each chunk of a document read in chunks."""
    assert doc.text is not None
    own = dict(doc.variables)
    if doc.messages is not None:  # a conversation: fitted to the window, never chunked
        yield runner.render(list(doc.messages), own)
        return
    chunked = runner.chunked(doc.document or doc.text, own)
    if chunked is None:
        yield runner.render(doc.text, own)
        return
    for job in chunked.jobs():
        yield job.start().request()
