"""How much of JSONSchemaBench the strict-mode encoder covers, and how faithfully.

For every schema: the meta-schema check, :func:`encode_strict` (a root that is not
an object is wrapped as ``{"value": <schema>}`` and retried, as the library
does), the independent strict-subset checker on the wire schema, the validator
of record (``jsonschema`` on the original schema, formats checked) against the
benchmark's ``valid``/``invalid`` instances, and the round trip of each valid
instance: ``encode_instance`` → valid against the wire schema → ``decode`` →
equal to the instance and valid against the original schema.

Usage (from the repository root)::

    python bench/coverage.py [--data PATH] [--subset NAME] [--limit N] [--errors N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jsonschema import Draft202012Validator, validators  # noqa: E402
from jsonschema.exceptions import SchemaError as MetaSchemaError  # noqa: E402

from extractkit.errors import SchemaError  # noqa: E402
from extractkit.schema.strict import StrictEncoding, encode_strict  # noqa: E402
from tests.test_strict import strict_problems  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "jsonschemabench-dev.jsonl.gz"
_MISSING = object()


@dataclass
class RecordResult:
    """The checks on one benchmark record."""

    id: str
    subset: str
    meta_ok: bool
    compiled: bool = False
    wrapped: bool = False
    error_keyword: str | None = None
    error: str | None = None
    crash: str | None = None
    strict_problems: int = 0
    valid_total: int = 0
    valid_accepted: int = 0
    invalid_total: int = 0
    invalid_rejected: int = 0
    round_trips: int = 0
    wire_valid: int = 0
    decoded_equal: int = 0
    decoded_valid: int = 0


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file (gzip-compressed when the name ends in ``.gz``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, list):
        return [_rewrite_refs(x, prefix) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rewrite_refs(v, prefix) for k, v in node.items()}
    ref = out.get("$ref")
    local = isinstance(ref, str) and (ref == "#" or ref.startswith("#/"))
    if local and not ref.startswith(("#/$defs/", "#/definitions/")):
        out["$ref"] = "#" + prefix + ref[1:]
    return out


def wrap_root(schema: dict[str, Any]) -> dict[str, Any]:
    """``{"value": schema}`` as an object schema, keeping ``$defs``/``definitions`` at the root."""
    keep = ("$defs", "definitions", "$schema", "$id", "id")
    inner = {k: v for k, v in schema.items() if k not in keep}
    out: dict[str, Any] = {k: schema[k] for k in keep if k in schema}
    out.update(
        {
            "type": "object",
            "properties": {"value": _rewrite_refs(inner, "/properties/value")},
            "required": ["value"],
            "additionalProperties": False,
        }
    )
    for key in ("$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = _rewrite_refs(out[key], "/properties/value")
    return out


def _is_root_error(exc: SchemaError) -> bool:
    return exc.pointer == "" and exc.keyword in ("type", "anyOf")


def _safe_valid(validator: Any, instance: Any) -> bool | None:
    try:
        return bool(validator.is_valid(instance))
    except Exception:  # bad regex in the schema and the like
        return None


def _encode(schema: dict[str, Any], result: RecordResult) -> StrictEncoding | None:
    try:
        try:
            return encode_strict(schema)
        except SchemaError as exc:
            if not _is_root_error(exc):
                raise
            result.wrapped = True
            return encode_strict(wrap_root(schema))
    except SchemaError as exc:
        result.error_keyword = exc.keyword or "?"
        result.error = str(exc)
    except Exception as exc:  # a bug: reported separately
        result.crash = f"{type(exc).__name__}: {exc}"
    return None


def _round_trip(
    enc: StrictEncoding, wrapped: bool, instance: Any, record_validator: Any, result: RecordResult
) -> None:
    wire_validator = Draft202012Validator(enc.wire)
    result.round_trips += 1
    try:
        wire = enc.encode_instance({"value": instance} if wrapped else instance)
        result.wire_valid += bool(wire_validator.is_valid(wire))
        back = enc.decode(wire)
    except Exception as exc:
        result.crash = f"round trip: {type(exc).__name__}: {exc}"
        return
    if wrapped:
        back = back.get("value", _MISSING) if isinstance(back, dict) else _MISSING
    result.decoded_equal += back == instance
    result.decoded_valid += bool(_safe_valid(record_validator, back))


def check_record(record: dict[str, Any]) -> RecordResult:
    """Run every check on one benchmark record."""
    schema = record["schema"]
    cls = validators.validator_for(schema, default=Draft202012Validator)
    result = RecordResult(record.get("id", "?"), record.get("subset", "?"), meta_ok=True)
    try:
        cls.check_schema(schema)
    except MetaSchemaError:
        result.meta_ok = False
    record_validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    valid = record.get("valid", [])
    invalid = record.get("invalid", [])
    result.valid_total, result.invalid_total = len(valid), len(invalid)
    result.valid_accepted = sum(_safe_valid(record_validator, x) is True for x in valid)
    result.invalid_rejected = sum(_safe_valid(record_validator, x) is False for x in invalid)
    enc = _encode(schema, result)
    if enc is None:
        return result
    result.compiled = True
    result.strict_problems = len(strict_problems(enc.wire))
    for instance in valid:
        if _safe_valid(record_validator, instance):
            _round_trip(enc, result.wrapped, instance, record_validator, result)
    return result


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def summarize(results: Iterable[RecordResult]) -> dict[str, dict[str, Any]]:
    """Per-subset (and ``TOTAL``) counts."""
    groups: dict[str, list[RecordResult]] = defaultdict(list)
    for r in results:
        groups[r.subset].append(r)
        groups["TOTAL"].append(r)
    out: dict[str, dict[str, Any]] = {}
    for name, rs in groups.items():
        errors = Counter(r.error_keyword for r in rs if r.error_keyword)
        out[name] = {
            "schemas": len(rs),
            "meta_ok": sum(r.meta_ok for r in rs),
            "compiled": sum(r.compiled for r in rs),
            "compiled_unwrapped": sum(r.compiled and not r.wrapped for r in rs),
            "strict_clean": sum(r.compiled and r.strict_problems == 0 for r in rs),
            "crashes": sum(r.crash is not None for r in rs),
            "valid_total": sum(r.valid_total for r in rs),
            "valid_accepted": sum(r.valid_accepted for r in rs),
            "invalid_total": sum(r.invalid_total for r in rs),
            "invalid_rejected": sum(r.invalid_rejected for r in rs),
            "round_trips": sum(r.round_trips for r in rs),
            "wire_valid": sum(r.wire_valid for r in rs),
            "decoded_equal": sum(r.decoded_equal for r in rs),
            "decoded_valid": sum(r.decoded_valid for r in rs),
            "errors": errors.most_common(3),
        }
    return out


def print_table(summary: dict[str, dict[str, Any]]) -> None:
    head = (
        f"{'subset':<16}{'schemas':>8}{'meta':>8}{'compiled':>10}{'no-wrap':>9}{'strict':>8}"
        f"{'crash':>6}{'rec+':>8}{'rec-':>8}{'trips':>7}{'wire':>8}{'equal':>8}{'valid':>8}"
        "  top SchemaError keywords"
    )
    print(head)
    print("-" * len(head))
    names = [*sorted(k for k in summary if k != "TOTAL"), "TOTAL"]
    for name in names:
        s = summary[name]
        n = s["schemas"]
        trips = s["round_trips"]
        errors = ", ".join(f"{k} {v}" for k, v in s["errors"]) or "-"
        print(
            f"{name:<16}{n:>8}{_pct(s['meta_ok'], n):>8}{_pct(s['compiled'], n):>10}"
            f"{_pct(s['compiled_unwrapped'], n):>9}{_pct(s['strict_clean'], s['compiled']):>8}"
            f"{s['crashes']:>6}{_pct(s['valid_accepted'], s['valid_total']):>8}"
            f"{_pct(s['invalid_rejected'], s['invalid_total']):>8}{trips:>7}"
            f"{_pct(s['wire_valid'], trips):>8}{_pct(s['decoded_equal'], trips):>8}"
            f"{_pct(s['decoded_valid'], trips):>8}  {errors}"
        )
    print(
        "\nmeta: passes its meta-schema; compiled: encode_strict succeeded (no-wrap: without"
        " wrapping a non-object root); strict: wire passes the strict checker; rec+/rec-: the"
        " validator of record accepts valid / rejects invalid instances; trips: valid instances"
        " round-tripped; wire: encoded instance valid against the wire schema; equal: decoded =="
        " instance; valid: decoded valid against the original schema."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSONL(.gz) records")
    parser.add_argument("--subset", help="only this subset")
    parser.add_argument("--limit", type=int, help="at most this many records")
    parser.add_argument("--errors", type=int, default=0, help="print this many failures")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = []
    for i, record in enumerate(read_records(args.data)):
        if args.limit is not None and i >= args.limit:
            break
        if args.subset and record.get("subset") != args.subset:
            continue
        results.append(check_record(record))
    elapsed = time.perf_counter() - started
    print_table(summarize(results))
    print(
        f"\n{len(results)} schemas in {elapsed:.1f} s ({1000 * elapsed / max(1, len(results)):.1f} ms each)"
    )
    shown = 0
    for r in results:
        if shown >= args.errors:
            break
        if r.crash or r.strict_problems or r.error:
            print(f"{r.id}: {r.crash or r.error or f'{r.strict_problems} strict problems'}")
            shown += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
