"""The ``extractkit`` command line.

::

    extractkit run SCHEMA INPUT... [options]   extract; JSON (one input) or JSON Lines
    extractkit schema SCHEMA...                dry run: the request pieces per schema file
    extractkit prompt SCHEMA INPUT             print the rendered messages

Exit codes: 0 all ok; 1 an extraction (or an input) failed; 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic_core import to_jsonable_python

from .errors import (
    ConfigurationError,
    ExtractionError,
    ExtractkitError,
    InputError,
    SchemaError,
    TemplateError,
)
from .extractor import Extractor
from .loading import InputDoc, SchemaTarget, iter_inputs, load_target
from .profiles import MODES, profile_names
from .results import Result

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ExtractkitError):
    """A command-line mistake (exit code 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extractkit",
        description="Typed structured extraction from LLMs (OpenAI-compatible endpoints or "
        "the embedded local model).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def endpoint_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="model name (default: $EXTRACTKIT_MODEL)")
        p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
        p.add_argument("--endpoint", choices=profile_names(),
                       help="endpoint profile (what the endpoint accepts)")
        p.add_argument("--mode", default="auto", choices=["auto", *MODES])
        p.add_argument("--prompt", metavar="TEMPLATE",
                       help="user-message template: a file, or a name in --prompts-dir")
        p.add_argument("--prompts-dir", metavar="DIR",
                       help="directory whose templates override the defaults")
        p.add_argument("--local", action="store_true",
                       help="use the embedded local model even if an endpoint is configured")

    run = sub.add_parser("run", help="extract from one or more inputs")
    run.add_argument("schema", metavar="SCHEMA", help="file.py[:Name] or file.json")
    run.add_argument("inputs", metavar="INPUT", nargs="+",
                     help="files, directories, or - for standard input")
    endpoint_options(run)
    run.add_argument("--max-retries", type=int, default=None, metavar="N",
                     help="validation re-asks (default 2)")
    run.add_argument("--temperature", type=float, default=None, metavar="T")
    run.add_argument("--max-tokens", type=int, default=None, metavar="N")
    run.add_argument("--output", "-o", metavar="FILE", help="write results here, not stdout")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="show every attempt of a failed extraction on stderr")
    run.add_argument("--stream", action="store_true",
                     help="print partial values as JSON Lines while the model writes")

    schema = sub.add_parser("schema", help="dry run: the request pieces a schema compiles to")
    schema.add_argument("schemas", metavar="SCHEMA", nargs="+",
                        help="schema files or directories of them")
    schema.add_argument("--mode", default="auto", choices=["auto", *MODES])
    schema.add_argument("--endpoint", default="openai", choices=profile_names(),
                        help="target endpoint profile (default: openai, the strictest)")

    prompt = sub.add_parser("prompt", help="print the rendered messages; calls no model")
    prompt.add_argument("schema", metavar="SCHEMA")
    prompt.add_argument("input", metavar="INPUT")
    endpoint_options(prompt)
    prompt.add_argument("--json", action="store_true", help="print the whole request as JSON")
    return parser


# -- helpers ------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": args.model,
        "base_url": args.base_url,
        "endpoint": args.endpoint,
        "mode": None if args.mode == "auto" else args.mode,
        "prompts_dir": args.prompts_dir,
        "local": True if args.local else None,
    }
    if args.prompt:
        out["prompt"] = Path(args.prompt) if Path(args.prompt).is_file() else args.prompt
    for name in ("max_retries", "temperature", "max_tokens"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    return {k: v for k, v in out.items() if v is not None}


class Runner:
    """Runs one target over documents with the CLI's settings."""

    def __init__(self, target: SchemaTarget, settings: dict[str, Any]) -> None:
        self.target = target
        if target.function is not None:
            self._fn = target.function.with_options(**settings) if settings else target.function
            self._extractor = None
        else:
            self._fn = None
            self._extractor = Extractor(**settings)

    def result(self, text: str) -> Result[Any]:
        if self._fn is not None:
            return self._fn.result(text)
        assert self._extractor is not None
        return self._extractor.extract_result(self.target.schema, text)

    def render(self, text: str) -> dict[str, Any]:
        if self._fn is not None:
            return self._fn.render(text)
        assert self._extractor is not None
        return self._extractor.render(self.target.schema, text)

    def stream(self, text: str) -> Iterator[Any]:
        if self._fn is not None:
            return self._fn.stream(text)
        assert self._extractor is not None
        return self._extractor.stream(self.target.schema, text)


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _report_attempts(exc: ExtractionError, err: IO[str]) -> None:
    for number, attempt in enumerate(exc.attempts, 1):
        print(f"  attempt {number}: finish_reason={attempt.finish_reason}", file=err)
        print(f"    raw: {attempt.raw!r}", file=err)
        for repair in attempt.repairs:
            print(f"    repaired: {repair}", file=err)
        for error in attempt.errors:
            print(f"    error: {error}", file=err)


def _record(doc: InputDoc, runner: Runner, verbose: bool, err: IO[str]) -> dict[str, Any]:
    if doc.error is not None:
        return {"input": doc.id, "ok": False, "error": _error_text(doc.error)}
    assert doc.text is not None
    try:
        result = runner.result(doc.text)
    except (TemplateError, ConfigurationError, SchemaError):
        raise  # configuration: stops the whole run with exit code 2
    except ExtractionError as exc:
        if verbose:
            print(f"extractkit: {doc.id}: every attempt:", file=err)
            _report_attempts(exc, err)
        return {"input": doc.id, "ok": False, "error": _error_text(exc)}
    except Exception as exc:  # endpoint errors (401, 404...) and the like
        return {"input": doc.id, "ok": False, "error": f"{type(exc).__name__}: {_error_text(exc)}"}
    return {
        "input": doc.id,
        "ok": True,
        "value": _jsonable(result.value),
        "usage": result.usage.as_dict(),
    }


# -- commands -----------------------------------------------------------------


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    target = load_target(args.schema)
    runner = Runner(target, _settings(args))
    docs = list(iter_inputs(args.inputs))
    if not docs:
        raise UsageError("no input documents found in " + ", ".join(args.inputs))
    sink = open(args.output, "w", encoding="utf-8") if args.output else out  # noqa: SIM115
    try:
        if args.stream:
            return _run_stream(docs, runner, sink, err)
        if len(docs) == 1:
            record = _record(docs[0], runner, args.verbose, err)
            if record["ok"]:
                sink.write(json.dumps(record["value"], indent=2, ensure_ascii=False) + "\n")
                return EXIT_OK
            print(f"extractkit: {record['input']}: {record['error']}", file=err)
            return EXIT_FAILED
        failed = 0
        progress = _progress(len(docs), err)
        for doc in docs:
            record = _record(doc, runner, args.verbose, err)
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            if not record["ok"]:
                failed += 1
                print(f"extractkit: {record['input']}: {record['error']}", file=err)
            progress(record["ok"])
        progress(None)
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        if sink is not out:
            sink.close()


def _run_stream(docs: list[InputDoc], runner: Runner, sink: IO[str], err: IO[str]) -> int:
    failed = 0
    for doc in docs:
        if doc.error is not None:
            failed += 1
            print(f"extractkit: {doc.id}: {doc.error}", file=err)
            continue
        assert doc.text is not None
        try:
            for snapshot in runner.stream(doc.text):
                sink.write(json.dumps({"input": doc.id, **_jsonable(snapshot)}) + "\n")
                sink.flush()
        except ExtractionError as exc:
            failed += 1
            print(f"extractkit: {doc.id}: {exc}", file=err)
    return EXIT_FAILED if failed else EXIT_OK


def _progress(total: int, err: IO[str]) -> Any:
    """A rich progress bar on a terminal; a no-op otherwise."""
    if not getattr(err, "isatty", lambda: False)():
        return lambda ok: None
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(file=err), transient=True)
    task = progress.add_task("extracting", total=total)
    progress.start()

    def step(ok: bool | None) -> None:
        if ok is None:
            progress.stop()
        else:
            progress.advance(task)

    return step


def _schema_files(specs: Sequence[str]) -> Iterator[str]:
    for spec in specs:
        path = Path(spec.split(":")[0])
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.suffix in (".py", ".json") and not file.name.startswith(("_", ".")):
                    yield str(file)
        else:
            yield spec


def cmd_schema(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from .modes import build_plan
    from .profiles import get_profile

    profile = get_profile(args.endpoint)
    failed = 0
    for spec in _schema_files(args.schemas):
        try:
            target = load_target(spec)
            schema = target.function.schema if target.function is not None else target.schema
            plan = build_plan(schema, args.mode, profile)
            record: dict[str, Any] = {
                "file": spec,
                "ok": True,
                "name": target.name,
                "mode": plan.mode.name,
                "request": plan.fields,
            }
            if plan.compiled.moved:
                record["enforced_locally"] = [
                    {"pointer": p, "keyword": k} for p, k in plan.compiled.moved
                ]
        except ExtractkitError as exc:
            failed += 1
            record = {"file": spec, "ok": False, "error": _error_text(exc)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_prompt(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    target = load_target(args.schema)
    runner = Runner(target, _settings(args))
    doc = next(iter_inputs([args.input]))
    if doc.error is not None:
        raise doc.error
    assert doc.text is not None
    request = runner.render(doc.text)
    if args.json:
        out.write(json.dumps(request, indent=2, ensure_ascii=False, default=str) + "\n")
        return EXIT_OK
    for message in request["messages"]:
        out.write(f"--- {message['role']} ---\n{message.get('content') or ''}\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None,
         err: IO[str] | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    commands = {"run": cmd_run, "schema": cmd_schema, "prompt": cmd_prompt}
    try:
        return commands[args.command](args, out, err)
    except InputError as exc:
        print(f"extractkit: {exc}", file=err)
        return EXIT_FAILED
    except (UsageError, ConfigurationError, SchemaError, TemplateError) as exc:
        print(f"extractkit: error: {exc}", file=err)
        return EXIT_USAGE
    except ExtractkitError as exc:
        print(f"extractkit: {exc}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("extractkit: interrupted", file=err)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
