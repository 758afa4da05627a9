"""An :class:`~extractkit.eval.report.EvalReport` as rich tables on a terminal."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from .report import EvalReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def print_report(report: EvalReport, file: IO[str] | None = None, *,
                 baseline: EvalReport | None = None, documents: bool = True) -> None:
    console = Console(file=file or sys.stdout, width=120, highlight=False,
                      force_terminal=None if file is None else False)
    fields = Table(title="Fields", title_justify="left")
    for name in ("field", "P", "R", "F1", "tp", "fp", "fn"):
        fields.add_column(name, justify="left" if name == "field" else "right")
    deltas = {d.field: d for d in report.deltas(baseline)} if baseline is not None else {}
    if baseline is not None:
        fields.add_column("ΔF1", justify="right")
    counts = report.fields
    names = list(counts) + [n for n in deltas if n not in counts]
    for name in names:
        c = counts.get(name)
        row = [escape(name)] + ([_pct(c.precision), _pct(c.recall), _pct(c.f1), str(c.tp), str(c.fp),
                         str(c.fn)] if c is not None else ["-"] * 6)
        if baseline is not None:
            d = deltas[name]
            change = "-" if d.delta is None else f"{100 * d.delta:+.1f}"
            row.append(f"[red]{change} REGRESSION[/red]" if d.regression else change)
        fields.add_row(*row)
    console.print(fields)
    if documents:
        docs = Table(title="Documents", title_justify="left")
        for name in ("id", "ok", "exact", "F1", "wrong", "missing", "extra", "tokens", "cost",
                     "seconds"):
            docs.add_column(name, justify="left" if name in ("id", "ok") else "right")
        for doc in report.documents:
            statuses = [o.status for o in doc.outcomes]
            docs.add_row(
                escape(doc.id), "yes" if doc.ok else "[red]FAILED[/red]", "yes" if doc.exact else "no",
                _pct(doc.counts.f1), str(statuses.count("wrong")), str(statuses.count("missing")),
                str(statuses.count("extra")), str(doc.usage.get("total_tokens", 0)),
                report.cost_text(doc.cost),
                "-" if doc.seconds is None else f"{doc.seconds:.2f}",
            )
        console.print(docs)
    total = report.total
    line = (f"documents {len(report.documents)} (failed {report.failed}), "
            f"P {_pct(total.precision)} R {_pct(total.recall)} F1 {_pct(total.f1)}, "
            f"exact match {_pct(report.exact_match_rate)}%, tokens {report.tokens}, "
            f"cost {report.cost_text(report.cost)}")
    if report.seconds is not None:
        line += f", time {report.seconds:.2f}s"
    if baseline is not None:
        overall = total.f1 - baseline.total.f1
        line += f", F1 vs baseline {100 * overall:+.1f}"
        regressions = report.regressions(baseline)
        if regressions:
            line += f", [red]{len(regressions)} field(s) regressed[/red]"
    console.print(line)


__all__ = ["print_report"]
