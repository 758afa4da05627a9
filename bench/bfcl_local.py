"""Function-argument extraction on BFCL items with the embedded local model.

Each item of ``../shared/data/bfcl-dev.jsonl`` holds a request in plain words
(``text``), a function (``function``, ``description``) with its JSON Schema
(``schema``) and the acceptable values of each argument (``answers``; ``""``
among them means the argument may be left out).

Usage::

    python bench/bfcl_local.py [--limit N] [--mode tools|json_object] [--data PATH]

Scores: an item is *argument-correct* when every gold argument has an
acceptable value (strings compared ignoring case and runs of whitespace,
numbers numerically, nested objects and lists element by element) and no
unexpected argument appears; *argument accuracy* counts gold arguments one by
one; *validity* checks the output against the item's schema with
``jsonschema``. The scoring functions (:func:`score_item`, :func:`summarize`)
take any ``extract(item) -> Outcome`` function, so other pipelines can be
benchmarked the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bfcl-dev.jsonl"

SYSTEM_PROMPT = (
    "You turn a user's request into the arguments of a function call. "
    "Copy values exactly as the user wrote them (names, places, numbers, units). "
    "Leave out optional arguments the user did not mention."
)


# -- scoring -----------------------------------------------------------------


@dataclass
class Outcome:
    """What a pipeline produced for one item."""

    arguments: Any = None
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class ItemScore:
    id: str
    correct: bool
    args_right: int
    args_total: int
    valid: bool
    seconds: float
    cpu_seconds: float
    error: str | None = None
    wrong: list[str] = field(default_factory=list)


def normalize_text(text: str) -> str:
    return " ".join(text.split()).casefold()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def matches(value: Any, expected: Any) -> bool:
    """Whether ``value`` equals one acceptable ``expected`` value.

    Objects in the answers map each key to its own list of acceptable values.
    """
    if isinstance(expected, dict):
        return isinstance(value, dict) and object_matches(value, expected)
    if isinstance(expected, list):
        return (
            isinstance(value, list)
            and len(value) == len(expected)
            and all(matches(v, e) for v, e in zip(value, expected, strict=True))
        )
    if isinstance(expected, bool) or expected is None:
        return value is expected
    if _is_number(expected):
        return _is_number(value) and math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(expected, str):
        return isinstance(value, str) and normalize_text(value) == normalize_text(expected)
    return bool(value == expected)


def argument_ok(arguments: dict[str, Any], name: str, acceptable: list[Any]) -> bool:
    """One gold argument: present with an acceptable value, or absent when allowed."""
    if name not in arguments:
        return "" in acceptable
    return any(matches(arguments[name], option) for option in acceptable)


def object_matches(value: dict[str, Any], answers: dict[str, list[Any]]) -> bool:
    if any(key not in answers for key in value):
        return False
    return all(argument_ok(value, name, options) for name, options in answers.items())


def schema_valid(arguments: Any, schema: dict[str, Any]) -> bool:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return bool(validator.is_valid(arguments))


def score_item(item: dict[str, Any], outcome: Outcome) -> ItemScore:
    answers: dict[str, list[Any]] = item["answers"]
    arguments = outcome.arguments
    if not isinstance(arguments, dict):
        error = outcome.error or "no object"
        return ItemScore(
            item["id"], False, 0, len(answers), False, outcome.seconds, outcome.cpu_seconds, error
        )
    wrong = [name for name, options in answers.items() if not argument_ok(arguments, name, options)]
    unexpected = [key for key in arguments if key not in answers]
    return ItemScore(
        id=item["id"],
        correct=not wrong and not unexpected,
        args_right=len(answers) - len(wrong),
        args_total=len(answers),
        valid=schema_valid(arguments, item["schema"]),
        seconds=outcome.seconds,
        cpu_seconds=outcome.cpu_seconds,
        error=outcome.error,
        wrong=wrong + [f"+{key}" for key in unexpected],
    )


def summarize(scores: list[ItemScore]) -> dict[str, Any]:
    count = len(scores) or 1
    args_total = sum(s.args_total for s in scores) or 1
    return {
        "items": len(scores),
        "item_accuracy": sum(s.correct for s in scores) / count,
        "argument_accuracy": sum(s.args_right for s in scores) / args_total,
        "validity": sum(s.valid for s in scores) / count,
        "errors": sum(s.error is not None for s in scores),
        "seconds_per_item": sum(s.seconds for s in scores) / count,
        "cpu_seconds_per_item": sum(s.cpu_seconds for s in scores) / count,
    }


def run(
    items: Iterable[dict[str, Any]],
    extract: Callable[[dict[str, Any]], Outcome],
    *,
    verbose: bool = False,
) -> list[ItemScore]:
    scores = []
    for item in items:
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = extract(item)
        outcome.seconds = outcome.seconds or time.perf_counter() - started
        outcome.cpu_seconds = outcome.cpu_seconds or time.process_time() - cpu_started
        score = score_item(item, outcome)
        scores.append(score)
        if verbose and not score.correct:
            print(
                f"  {score.id}: wrong {score.wrong} got {json.dumps(outcome.arguments)[:200]}"
                f"{' error ' + str(score.error) if score.error else ''}",
                file=sys.stderr,
            )
    return scores


def load_items(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    return items[:limit] if limit else items


# -- the local backend, driven directly --------------------------------------


def build_request(item: dict[str, Any], mode: str, system: str = SYSTEM_PROMPT) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": item["text"]}]
    if mode == "tools":
        function = {
            "name": item["function"],
            "description": item["description"],
            "parameters": item["schema"],
        }
        return {
            "messages": messages,
            "tools": [{"type": "function", "function": function}],
            "tool_choice": {"type": "function", "function": {"name": item["function"]}},
        }
    function = {
        "name": item["function"],
        "description": item["description"],
        "parameters": item["schema"],
    }
    messages[0]["content"] = f"{system}\n\n{describe_function(function)}"
    return {
        "messages": messages,
        "response_format": {"type": "json_object", "schema": item["schema"]},
    }


def describe_function(function: dict[str, Any]) -> str:
    """The function and its arguments in plain words (for the json_object mode)."""
    lines = [f"Write the arguments of {function['name']} as one JSON object."]
    if function.get("description"):
        lines.append(f"{function['name']}: {function['description']}")
    schema = function.get("parameters") or {}
    required = set(schema.get("required") or [])
    properties = schema.get("properties") or {}
    if properties:
        lines.append("Arguments:")
    for name, sub in properties.items():
        kind = sub.get("type", "any")
        kind = "/".join(kind) if isinstance(kind, list) else str(kind)
        if "enum" in sub:
            kind += " one of " + ", ".join(json.dumps(v) for v in sub["enum"])
        line = f"- {name} ({kind}{'' if name in required else ', optional'})"
        lines.append(f"{line}: {sub['description']}" if sub.get("description") else line)
    lines.append("Take the values from the user's message.")
    return "\n".join(lines)


def local_extractor(
    mode: str, system: str = SYSTEM_PROMPT, **options: Any
) -> Callable[[dict[str, Any]], Outcome]:
    from extractkit.backends.local import LocalBackend

    backend = LocalBackend(**options)

    def extract(item: dict[str, Any]) -> Outcome:
        response = backend.complete(build_request(item, mode, system))
        choice = response.choices[0]
        if choice.message.tool_calls:
            raw = choice.message.tool_calls[0].function.arguments
        else:
            raw = choice.message.content or ""
        if choice.finish_reason == "length":
            return Outcome(None, f"cut off (finish_reason=length) after {raw[:80]!r}")
        try:
            return Outcome(json.loads(raw))
        except json.JSONDecodeError as exc:
            return Outcome(None, f"invalid JSON: {exc}")

    return extract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--mode", choices=("tools", "json_object"), default="tools")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--system", default=SYSTEM_PROMPT, help="system prompt")
    parser.add_argument("-v", "--verbose", action="store_true", help="show wrong items")
    parser.add_argument("--out", type=Path, help="write one JSON line per item here")
    parser.add_argument(
        "--copy-bias", type=float, default=None, help="LocalBackend copy_bias (default: its own)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    items = load_items(args.data, args.limit)
    options = {} if args.copy_bias is None else {"copy_bias": args.copy_bias}
    extract = local_extractor(args.mode, args.system, **options)
    extract(items[0])  # load the model outside the timings
    scores = run(items, extract, verbose=args.verbose)
    if args.out:
        with args.out.open("w", encoding="utf-8") as handle:
            for score in scores:
                handle.write(json.dumps(dataclasses.asdict(score)) + "\n")
    summary = summarize(scores)
    print(json.dumps({"mode": args.mode, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
