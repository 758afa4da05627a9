"""The ``extractkit`` command line.

::

    extractkit run SCHEMA INPUT... [options]   extract; JSON (one input) or JSON Lines
    extractkit schema SCHEMA...                dry run: the request pieces per schema file
    extractkit prompt SCHEMA INPUT             print the rendered messages
    extractkit eval SCHEMA DATA.jsonl          score extraction on labelled examples
    extractkit review RESULTS.jsonl            the HTML review page of a run's records

Exit codes: 0 all ok; 1 an extraction (or an input) failed; 2 usage or
configuration error; 3 ``run`` stopped at --max-cost/--max-tokens-total.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic_core import to_jsonable_python

from .batch_api import BatchAPI
from .cache import ResponseCache, request_key
from .decorator import ExtractFunction
from .detect import reporting
from .drivers.batch import ItemResult
from .errors import (
    ConfigurationError,
    ExtractionError,
    ExtractkitError,
    FatalError,
    InputError,
    SchemaError,
    SpendLimitReached,
    TemplateError,
    is_endpoint_fatal,
)
from .extractor import Extractor
from .grounding.policy import GROUNDING_MODES
from .grounding.show import grounding_lines
from .grounding.spans import Grounding
from .loading import (
    InputDoc,
    SchemaTarget,
    count_inputs,
    iter_inputs,
    load_target,
    user_facing,
)
from .output import OutputError, RecordsFile, StdoutRecords, check_writable, refuse_to_replace
from .pricing import PriceTable
from .profiles import MODES, profile_names
from .progress import is_terminal, spinner
from .redact import redact
from .results import Result, Usage
from .settings import MODERATION_MODES, Settings
from .tally import Tally
from .template_vars import add_var_option, merged, parse_vars, text_parameter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it
_PROBE_TEXT = "\x00extractkit resume fingerprint\x00"


class UsageError(ExtractkitError):
    """A command-line mistake (exit code 2)."""


def extraction_options(p: argparse.ArgumentParser) -> None:
    """What an extraction does, for every command that extracts (``run``, ``eval``)."""
    p.add_argument("--max-retries", type=int, default=None, metavar="N",
                   help="validation re-asks (default 2)")
    p.add_argument("--transport-retries", type=int, default=None, metavar="N",
                   help="retries of a request after a 429, 5xx, timeout or dropped connection "
                        "(default 5)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="deadline of each input's extraction, retries and re-asks included "
                        "(default 600; inf for none)")
    p.add_argument("--no-coerce", dest="coerce", action="store_false", default=None,
                   help="strict: no schema-aligned coercion of answers that fail validation")
    p.add_argument("--temperature", type=float, default=None, metavar="T")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N")
    # -- long documents (extractkit.documents.run) --
    p.add_argument("--chunking", choices=["auto", "on", "off"], default=None,
                   help="read long documents in chunks: when the prompt would not fit "
                        "(auto, the default), always (on) or never (off)")
    p.add_argument("--chunk-tokens", type=int, default=None, metavar="N",
                   help="tokens of document per chunk (default: what fits the context window)")
    p.add_argument("--overlap", type=int, default=None, metavar="N", dest="overlap_tokens",
                   help="tokens shared by neighbouring chunks (default: 64)")
    p.add_argument("--passes", type=int, default=None, metavar="N",
                   help="passes over a chunked document; pass k > 1 asks for what is missing")
    p.add_argument("--focus", type=int, default=None, metavar="N",
                   help="ask each field of a chunked document only of its start and the N "
                        "chunks most relevant to the field (default: every chunk)")
    p.add_argument("--context-window", type=int, default=None, metavar="N",
                   help="the endpoint's context window in tokens (default: its profile's)")
    # -- grounding (extractkit.grounding) --
    p.add_argument("--grounding", choices=list(GROUNDING_MODES), default=None,
                   help="trace values to the input: off; check (default: spans in the "
                   "records, ungrounded values reported); require (an ungrounded value is "
                   "an error and is re-asked)")
    # -- moderation (extractkit.moderation) --
    p.add_argument("--moderation", choices=list(MODERATION_MODES), default=None,
                   help="screen the input and/or the extracted strings with the endpoint's "
                   "moderation API first; flagged content fails that input (default off)")
    p.add_argument("--moderation-model", default=None, metavar="MODEL",
                   help="the moderation model (default omni-moderation-latest)")


def endpoint_chain_options(p: argparse.ArgumentParser) -> None:
    """Named endpoints of the config file, fallback and routing (docs/endpoints.md)."""
    from .endpoints.routing import ROUTINGS

    p.add_argument("--config", metavar="FILE",
                   help="the endpoints config file (default: ./extractkit.toml, or "
                   "[tool.extractkit] in ./pyproject.toml)")
    p.add_argument("--endpoint-name", metavar="NAME",
                   help="an endpoint of the config file, by name")
    p.add_argument("--fallback", action="append", metavar="NAME",
                   help="an endpoint of the config file tried when the ones before fail "
                   "(repeatable; in order)")
    p.add_argument("--routing", choices=list(ROUTINGS),
                   help="which endpoint goes first: order (default), cheapest, weighted")
    p.add_argument("--escalate-with-errors", action="store_true", default=None,
                   help="the next endpoint also sees the last invalid answer and its errors")


def _chain_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``--config`` (else the file found in the working directory), ``--endpoint-name``..."""
    from .endpoints.config import find_config

    if not hasattr(args, "endpoint_name"):
        return {}
    config = args.config or find_config()
    return {
        "config": str(config) if config is not None else None,
        "endpoint_name": args.endpoint_name,
        "fallback": tuple(args.fallback) if args.fallback else None,
        "routing": args.routing,
        "escalate_with_errors": args.escalate_with_errors,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="extractkit",
        description="Typed structured extraction from LLMs (OpenAI-compatible endpoints or "
        "the embedded local model).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"extractkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def endpoint_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="model name (default: $EXTRACTKIT_MODEL)")
        p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
        p.add_argument("--endpoint", choices=["auto", *profile_names()],
                       help="endpoint profile (what the endpoint accepts); auto: ask the "
                       "server once (docs/endpoints-profiles.md)")
        p.add_argument("--mode", default="auto", choices=["auto", *MODES])
        p.add_argument("--prompt", metavar="TEMPLATE",
                       help="user-message template: a file, or a name in --prompts-dir")
        p.add_argument("--prompts-dir", metavar="DIR",
                       help="directory whose templates override the defaults")
        p.add_argument("--local", action="store_true",
                       help="use the embedded local model even if an endpoint is configured")
        endpoint_chain_options(p)  # --endpoint-name, --fallback... (extractkit/endpoints)

    run = sub.add_parser("run", help="extract from one or more inputs")
    run.add_argument("schema", metavar="SCHEMA", help="file.py[:Name] or file.json")
    run.add_argument("inputs", metavar="INPUT", nargs="+",
                     help="files, directories, or - for standard input")
    endpoint_options(run)
    extraction_options(run)
    run.add_argument("--output", "-o", metavar="FILE", help="write results here, not stdout")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="show every attempt of a failed extraction on stderr, and the "
                     "endpoint profile detected for --endpoint auto")
    run.add_argument("--stream", action="store_true",
                     help="print partial values as JSON Lines while the model writes")
    run.add_argument("--concurrency", type=int, default=1, metavar="N",
                     help="extractions in flight at once over several inputs (default 1)")
    run.add_argument("--resume", action="store_true",
                     help="continue --output: skip inputs already done with the same schema, "
                     "prompt and model; redo the others (earlier records are kept)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an --output file that already holds results")
    run.add_argument("--cache", action="store_true",
                     help="answer repeated requests from a response cache on disk "
                     "(default file: ~/.cache/extractkit/responses.sqlite)")
    run.add_argument("--cache-path", metavar="PATH",
                     help="the response cache file (implies --cache)")
    run.add_argument("--batch-api", action="store_true",
                     help="send the requests through the provider's Batch API (half price, "
                     "answers within 24 h); answers needing a re-ask are re-asked online")
    run.add_argument("--poll-interval", type=float, default=30.0, metavar="SECONDS",
                     help="seconds between polls of a --batch-api job (default 30)")
    run.add_argument("--price-table", metavar="FILE",
                     help='JSON prices per million tokens, {"MODEL": {"input": $, "output": $}}, '
                     "for the cost in the summary")
    run.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run the batch on a Ray cluster (ADDRESS, or a local one); "
                     "--concurrency is then the limit across the cluster (pip install "
                     "'extractkit[ray]'; see docs/distributed.md)")
    run.add_argument("--ray-actors", type=int, default=2, metavar="N",
                     help="with --ray: actors, each with its own extractor (default 2)")
    run.add_argument("--trace", metavar="FILE", default=None,
                     help="write OpenTelemetry spans (GenAI conventions) to FILE as JSON lines, "
                          "appended ('-': stderr); needs extractkit[otel]")
    run.add_argument("--show-grounding", action="store_true",
                     help="print each value's span in the input (pointer, status, offsets, "
                     "quoted text) on stderr")
    from .review.cli import add_run_options

    add_run_options(run)  # --keep-text, --html: the review page (extractkit/review/cli.py)
    from .cost_cli import add_cost_options

    add_cost_options(run)  # --dry-run, --max-cost, --max-tokens-total (extractkit/cost_cli.py)
    add_var_option(run)  # --var KEY=VALUE (extractkit/template_vars.py)

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
    add_var_option(prompt)

    from .eval.cli import add_eval_parser
    from .review.cli import add_review_parser

    add_eval_parser(sub, endpoint_options)  # extractkit eval
    add_review_parser(sub)  # extractkit review
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
    for name in ("max_retries", "transport_retries", "timeout", "temperature", "max_tokens",
                 "coerce", "grounding", "chunking", "chunk_tokens", "overlap_tokens", "passes",
                 "context_window", "focus", "moderation", "moderation_model"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    if getattr(args, "trace_hook", None) is not None:  # --trace FILE (cmd_run)
        out["on_event"] = args.trace_hook
    out.update(_chain_settings(args))
    return {k: v for k, v in out.items() if v is not None}


def _conversation_arguments(value: dict[str, Any], parameter: str | None,
                            name: str) -> dict[str, Any]:
    """A ``messages`` line's arguments for an ``@extract`` function: the conversation goes
    to its parameter typed ``Messages``."""
    if parameter is None:
        raise ConfigurationError(f"{name} has no parameter typed extractkit.Messages, so it "
                                 "cannot take a JSON Lines line with \"messages\"")
    rest = {k: v for k, v in value.items() if k != "messages"}
    return {**rest, parameter: value["messages"]}


class Runner:
    """Runs one target over documents with the CLI's settings."""

    def __init__(self, target: SchemaTarget, settings: dict[str, Any],
                 variables: dict[str, Any] | None = None) -> None:
        self.target = target
        #: ``--var`` template variables, for every input
        self.variables: dict[str, Any] = dict(variables or {})
        self._fn: ExtractFunction[..., Any] | None
        self._extractor: Extractor | None
        if target.function is not None:
            self._fn = target.function.with_options(**settings) if settings else target.function
            self._extractor = None
        else:
            self._fn = None
            self._extractor = Extractor(**settings)

    def result(self, text: str, own: dict[str, Any] | None = None,
               document: Any = None) -> Result[Any]:
        """``document`` (the loaded file, with its pages) is read in chunks when too long;
        ``own`` are the input's template variables (over ``--var``)."""
        variables = merged(self.variables, own or {})
        if self._fn is not None:
            return self._fn.result(document or text, **variables)
        assert self._extractor is not None
        return self._extractor.extract_result(self.target.schema, document or text, **variables)

    def chunked(self, document: Any, own: dict[str, Any] | None = None) -> Any:
        """The chunked run of a document too long for one prompt, else ``None``."""
        from .documents.run import may_chunk

        variables = merged(self.variables, own or {})
        if self._fn is not None:
            fn = self._fn
            if not may_chunk(fn._engine):
                return None
            bound = fn._variables((document,), variables)
            return fn._chunked(fn._add_extras(bound, fn._fn(document, **variables)))
        assert self._extractor is not None
        return self._extractor._chunked(self.target.schema, document, variables, None)

    def _call(self, text: str | list[dict[str, Any]],
              variables: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """An ``@extract`` function's arguments for a text (its first parameter) or a
        conversation (its ``Messages`` parameter)."""
        assert self._fn is not None
        if isinstance(text, list):
            return (), _conversation_arguments({**variables, "messages": text},
                                               self._fn.conversation_parameter, self.target.name)
        return (text,), variables

    def render(self, text: str | list[dict[str, Any]],
               own: dict[str, Any] | None = None) -> dict[str, Any]:
        variables = merged(self.variables, own or {})
        if self._fn is not None:
            args, kwargs = self._call(text, variables)
            return self._fn.render(*args, **kwargs)
        assert self._extractor is not None
        return self._extractor.render(self.target.schema, text, **variables)

    def stream(self, text: str | list[dict[str, Any]],
               own: dict[str, Any] | None = None) -> Iterator[Any]:
        variables = merged(self.variables, own or {})
        if self._fn is not None:
            args, kwargs = self._call(text, variables)
            return self._fn.stream(*args, **kwargs)
        assert self._extractor is not None
        return self._extractor.stream(self.target.schema, text, **variables)

    def map(self, inputs: Iterator[tuple[str, Any]], **options: Any) -> Iterator[ItemResult[Any]]:
        """Many ``(id, text)`` or ``(id, {"text": ..., **variables})`` inputs at once
        (see :mod:`extractkit.drivers.batch`); ``--var`` variables apply to all."""
        if self._fn is not None:
            return self._fn.map(self._as_arguments(inputs), **options)
        assert self._extractor is not None
        return self._extractor.map(self.target.schema, inputs, **options, **self.variables)

    def _as_arguments(self, inputs: Iterator[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        """``@extract`` inputs: the text is the first parameter, the variables keywords."""
        first = text_parameter(self._fn)
        chat = self._fn.conversation_parameter if self._fn is not None else None
        for ident, value in inputs:
            if isinstance(value, dict) and "messages" in value and "text" not in value:
                value = _conversation_arguments(value, chat, self.target.name)
            if isinstance(value, dict) and "text" not in value:
                value = merged(self.variables, value)  # the function's arguments by name
            elif isinstance(value, dict):
                own = {k: v for k, v in value.items() if k != "text"}
                value = {**merged(self.variables, own), first or "text": value["text"]}
            elif self.variables and isinstance(value, str):
                value = {**self.variables, first or "text": value}
            yield ident, value

    @property
    def engine(self) -> Any:
        """The :class:`~extractkit.engine.Engine` behind the target."""
        if self._fn is not None:
            return self._fn._engine
        assert self._extractor is not None
        return self._extractor._engine

    @property
    def settings(self) -> Settings:
        if self._fn is not None:
            return self._fn._settings
        assert self._extractor is not None
        return self._extractor.settings

    def fingerprint(self) -> str:
        """What makes a result reusable: the request for a probe text (schema, prompt,
        model, parameters), hashed."""
        try:
            request: Any = self.render(_PROBE_TEXT)
        except Exception:
            request = {"schema": self.target.file, "name": self.target.name}
        return request_key(request, "")[:16]


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value)


def _named(name: str, text: str) -> str:
    """``name: text``, naming the input once (input errors already start with it)."""
    return text if text.startswith(f"{name}:") else f"{name}: {text}"


def _error_text(exc: BaseException) -> str:
    return user_facing(redact(str(exc) or type(exc).__name__))


def _report_attempts(exc: ExtractionError, err: IO[str]) -> None:
    for number, attempt in enumerate(exc.attempts, 1):
        print(f"  attempt {number}: finish_reason={attempt.finish_reason}", file=err)
        print(redact(f"    raw: {attempt.raw!r}"), file=err)
        for repair in attempt.repairs:
            print(redact(f"    repaired: {repair}"), file=err)
        for error in attempt.errors:
            print(redact(f"    error: {error}"), file=err)


def _report_coercions(name: str, result: Result[Any], err: IO[str]) -> None:
    """``-v``: the schema-aligned coercions that made a valid answer (extractkit.coerce)."""
    for note in result.coercions:
        print(f"extractkit: {name}: {note}", file=err)


def _cache(args: argparse.Namespace) -> ResponseCache | None:
    if not (args.cache or args.cache_path):
        return None
    return ResponseCache(args.cache_path or None)


def _one_result(runner: Runner, doc: InputDoc, cache: ResponseCache | None) -> Result[Any]:
    if cache is None and doc.messages is None:
        assert doc.text is not None
        return runner.result(doc.text, dict(doc.variables), doc.document)
    # the batch driver is what applies a cache: run it over the one input
    item = next(iter(runner.map(iter([(doc.id, _payload(doc))]), concurrency=1, cache=cache)))
    if item.error is not None:
        raise item.error
    assert item.result is not None
    return item.result


def _record(doc: InputDoc, runner: Runner, verbose: bool, err: IO[str],
            cache: ResponseCache | None = None) -> dict[str, Any]:
    if doc.error is not None:
        return {"input": doc.id, "ok": False, "error": _error_text(doc.error)}
    assert doc.text is not None
    try:
        result = _one_result(runner, doc, cache)
    except (TemplateError, ConfigurationError, SchemaError):
        raise  # configuration: stops the whole run with exit code 2
    except ExtractionError as exc:
        if verbose:
            print(f"extractkit: {doc.id}: every attempt:", file=err)
            _report_attempts(exc, err)
        return {"input": doc.id, "ok": False, "error": _error_text(exc)}
    except Exception as exc:  # endpoint errors (401, 404...) and the like
        return {"input": doc.id, "ok": False, "error": f"{type(exc).__name__}: {_error_text(exc)}"}
    if verbose:
        _report_coercions(doc.id, result, err)
    record = {
        "input": doc.id,
        "ok": True,
        "value": _jsonable(result.value),
        "usage": result.usage.as_dict(),
    }
    if result.grounding is not None:
        record["grounding"] = _paged(result.grounding, doc.document).as_dict()
    if result.dropped_turns:
        record["dropped_turns"] = list(result.dropped_turns)
    if result.dropped_turns:
        record["dropped_turns"] = list(result.dropped_turns)
    return _with_document(_with_endpoint(record, result), result, doc.id, err)


def _paged(grounding: Grounding, document: Any) -> Grounding:
    """Spans of a paged input document (PDF, DOCX) get their page numbers."""
    if document is None or not getattr(document, "pages", None):
        return grounding
    return grounding.with_pages(document.page_of)


def _show_grounding(doc_id: str, grounding: Any, text: str | None, err: IO[str]) -> None:
    """``--show-grounding``: the spans of one input's values, on ``err``."""
    if grounding is None:
        print(f"extractkit: {doc_id}: no grounding (--grounding off)", file=err)
        return
    print(f"extractkit: {doc_id}: grounding", file=err)
    for line in grounding_lines(grounding, {"text": text or ""}):
        print(f"  {line}", file=err)


def _with_document(record: dict[str, Any], result: Any, name: str, err: IO[str]) -> dict[str, Any]:
    """A chunked document's record gains ``document``, ``conflicts``, ``passes``,
    ``grounding``; what failed or disagreed is said on ``err`` too."""
    from .documents.run import DocumentResult

    if not isinstance(result, DocumentResult):
        return record
    record.update(result.record())
    failed = ", ".join(f"chunk {f.chunk}: {f.error}" for f in result.failed_chunks[:3])
    note = f"extractkit: {name}: read in {result.chunk_count} chunks"
    if result.failed_chunks:
        note += f"; {len(result.failed_chunks)} failed ({failed})"
    if result.conflicts:
        note += f"; {len(result.conflicts)} conflicting field(s): " + ", ".join(
            c.pointer for c in result.conflicts[:5])
    print(redact(note), file=err)
    return record


# -- commands -----------------------------------------------------------------


def cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if args.trace is None:
        return _cmd_run(args, out, err)
    if args.ray is not None:
        raise UsageError("--trace and --ray exclude each other (trace the workers with "
                         "their own OpenTelemetry setup)")
    from .tracing import spans_to

    with spans_to(args.trace, err) as hook:
        args.trace_hook = hook
        return _cmd_run(args, out, err)


def _cmd_run(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from . import cost_cli

    target = load_target(args.schema)
    settings = _settings(args)
    if args.dry_run:  # no key needed: see cost_cli.dry_run_settings
        settings = cost_cli.dry_run_settings(settings)
    runner = Runner(target, settings, parse_vars(args.variables))
    docs = iter_inputs(args.inputs)
    head = list(itertools.islice(docs, 2))
    if not head:
        raise UsageError("no input documents found in " + ", ".join(args.inputs))
    if args.json and not args.dry_run:
        raise UsageError("--json goes with --dry-run (records are JSON Lines already)")
    if args.dry_run:
        return cost_cli.dry_run(args, runner, itertools.chain(head, docs), out, err)
    limited = args.max_cost is not None or args.max_tokens_total is not None
    if limited and (args.batch_api or args.ray is not None or args.stream):
        raise UsageError("--max-cost/--max-tokens-total stop a run between inputs; they do "
                         "not go with --batch-api (sent whole), --ray or --stream")
    prices = PriceTable.load(args.price_table) if args.price_table else PriceTable()
    args.spend = cost_cli.spend_limit(args, runner.settings, prices)  # unknown price: exit 2
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.resume and not args.output:
        raise UsageError("--resume needs --output FILE (the records to resume from)")
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    if args.output:
        check_writable(Path(args.output))
    records_wanted = (args.resume or args.batch_api or args.keep_text or args.html
                      or args.ray is not None)
    if args.stream or (len(head) == 1 and not records_wanted):
        return _run_each([*head, *docs], runner, args, out, err)
    return _run_batch(itertools.chain(head, docs), runner, args, out, err)


def _run_each(
    docs: list[InputDoc], runner: Runner, args: argparse.Namespace, out: IO[str], err: IO[str]
) -> int:
    """One input (printed as JSON), or ``--stream``."""
    if args.output and not args.overwrite:
        refuse_to_replace(Path(args.output))
    sink = open(args.output, "w", encoding="utf-8") if args.output else out  # noqa: SIM115
    try:
        if args.stream:
            return _run_stream(docs, runner, sink, err, show_grounding=args.show_grounding)
        cache = _cache(args)
        try:
            with spinner(docs[0].id, err):  # on a terminal only
                record = _record(docs[0], runner, args.verbose, err, cache)
        finally:
            if cache is not None:
                cache.close()
        if record["ok"]:
            sink.write(json.dumps(record["value"], indent=2, ensure_ascii=False) + "\n")
            if args.show_grounding:
                grounding = record.get("grounding")
                _show_grounding(record["input"], Grounding.from_dict(grounding)
                                if grounding is not None else None, docs[0].text, err)
            return EXIT_OK
        print(f"extractkit: {_named(record['input'], record['error'])}", file=err)
        return EXIT_FAILED
    finally:
        if sink is not out:
            sink.close()


def _run_stream(
    docs: list[InputDoc], runner: Runner, sink: IO[str], err: IO[str], interval: float = 0.1,
    *, show_grounding: bool = False,
) -> int:
    """``run --stream``: JSON Lines ``{"input", "attempt", "done", "value"}`` per document.

    Partial snapshots are printed at most every ``interval`` seconds (and when
    a re-ask starts); the last line of a document is its validated value
    (``"done": true``). A failed document is reported on ``err``.
    """
    import time

    failed = 0
    for doc in docs:
        if doc.error is not None:
            failed += 1
            print(f"extractkit: {_named(doc.id, _error_text(doc.error))}", file=err)
            continue
        assert doc.text is not None
        last_at, last_attempt = float("-inf"), 0
        try:
            chat = list(doc.messages) if doc.messages is not None else None
            for snapshot in runner.stream(chat or doc.text, dict(doc.variables)):
                now = time.monotonic()
                new_attempt = snapshot.attempt != last_attempt
                if not snapshot.done and not new_attempt and now - last_at < interval:
                    continue
                last_at, last_attempt = now, snapshot.attempt
                line = {
                    "input": doc.id,
                    "attempt": snapshot.attempt,
                    "done": snapshot.done,
                    "value": _jsonable(snapshot.value),
                }
                sink.write(json.dumps(line, ensure_ascii=False) + "\n")
                sink.flush()
                if snapshot.done and show_grounding and snapshot.result is not None:
                    _show_grounding(doc.id, snapshot.result.grounding, doc.text, err)
        except (TemplateError, ConfigurationError, SchemaError):
            raise  # configuration: stops the whole run with exit code 2
        except ExtractionError as exc:
            failed += 1
            print(f"extractkit: {_named(doc.id, _error_text(exc))}", file=err)
        except Exception as exc:  # endpoint errors (401, 404...) and the like
            failed += 1
            print(f"extractkit: {doc.id}: {type(exc).__name__}: {_error_text(exc)}", file=err)
    return EXIT_FAILED if failed else EXIT_OK


def _run_batch(
    docs: Iterator[InputDoc], runner: Runner, args: argparse.Namespace, out: IO[str], err: IO[str]
) -> int:
    """Several inputs: one JSON Lines record per input, written as each completes."""
    fingerprint = runner.fingerprint()
    records: RecordsFile | StdoutRecords = (
        RecordsFile(args.output, resume=args.resume, overwrite=args.overwrite)
        if args.output else StdoutRecords(out)
    )
    done = records.done(fingerprint)
    prices = PriceTable.load(args.price_table) if args.price_table else PriceTable()
    settings = runner.settings
    spend = getattr(args, "spend", None)  # --max-cost / --max-tokens-total (cost_cli.py)
    total = count_inputs(args.inputs) if is_terminal(err) else None  # for done/total, ETA
    tally = Tally(prices, model=_model_name(settings), local=settings.uses_local(), total=total)
    tally.spend = spend
    texts: dict[str, str] | None = {} if args.show_grounding else None
    paged: dict[str, Any] = {}  # documents with pages, until their record is written
    from .review.cli import RunPage

    page = RunPage(args)
    inputs = page.inputs(_inputs_to_do(docs, done, tally, texts, paged))
    cache = _cache(args) if args.ray is None else None
    progress = _BatchProgress(tally, err)
    options: dict[str, Any] = {"concurrency": args.concurrency, "cache": cache}
    if spend is not None:
        options["spend"] = spend
    if args.batch_api:
        options["batch_api"] = BatchAPI(poll_interval=args.poll_interval,
                                        on_status=progress.batch_status)
    held: list[SpendLimitReached] = []  # a limit met between two chunked documents
    inputs = _documents_apart(inputs, runner, records, fingerprint, tally, err, paged, page,
                              spend, held)
    ungrounded = [0, 0]  # values of grounded fields not found; inputs with any
    stopped: BaseException | None = None
    interrupted = False
    try:
        items = runner.map(inputs, **options) if args.ray is None else _ray_items(args, inputs)
        for item in items:
            records.write(page.record(
                _item_record(item, fingerprint, paged.pop(item.id, None)), item))
            tally.add(item)
            if item.result is not None and item.result.grounding is not None:
                missing = len(item.result.grounding.ungrounded)
                ungrounded[0] += missing
                ungrounded[1] += 1 if missing else 0
            if texts is not None and item.result is not None:
                buffer = io.StringIO()
                _show_grounding(item.id, item.result.grounding, texts.pop(item.id, None), buffer)
                progress.note(buffer.getvalue().rstrip("\n"))
            if not item.ok:
                progress.failure(item, args.verbose)
            elif args.verbose and item.result is not None and item.result.coercions:
                buffer = io.StringIO()
                _report_coercions(item.id, item.result, buffer)
                progress.note(buffer.getvalue().rstrip("\n"))
            progress.update()
    except SpendLimitReached as exc:
        held.append(exc)  # every input started came out first
    except Exception as exc:
        if not (is_endpoint_fatal(exc) or _worker_stopped(exc)):
            raise
        stopped = exc  # every further request would fail the same way
    except KeyboardInterrupt:
        interrupted = True  # requests still in flight are abandoned (daemon workers)
    finally:
        progress.stop()
        records.close()
        if cache is not None:
            cache.close()
    if interrupted:
        resumable = " (rerun with --resume to do the rest)" if args.output else ""
        print(f"extractkit: interrupted{resumable}", file=err)
        print(f"extractkit: {tally.summary()}", file=err)
        return EXIT_INTERRUPTED
    page.finish(err)
    if held:
        resumable = " (rerun with --resume to do the rest)" if args.output else ""
        stop = spend.reached() if spend is not None else held[0]  # in-flight inputs counted
        print(f"extractkit: stopped: {stop}{resumable}", file=err)
        print(f"extractkit: {tally.summary()}", file=err)
        from .cost_cli import EXIT_LIMIT

        return EXIT_LIMIT
    if stopped is not None:
        resumable = " (rerun with --resume to do the rest)" if args.output else ""
        print(f"extractkit: stopped: {_failure_text(stopped)}{resumable}", file=err)
        print(f"extractkit: {tally.summary()}", file=err)
        return EXIT_FAILED
    print(f"extractkit: {tally.summary()}", file=err)
    if ungrounded[0]:
        print(f"extractkit: grounding: {ungrounded[0]} value(s) in {ungrounded[1]} input(s) "
              "do not appear in their input (see \"grounding\" in the records)", file=err)
    return EXIT_FAILED if tally.failed else EXIT_OK


def _ray_items(args: argparse.Namespace, inputs: Iterator[tuple[str, Any]]) -> Iterator[Any]:
    """``--ray``: the same items, run on a Ray cluster (extractkit/integrations/ray.py)."""
    from .cache import default_cache_path
    from .integrations.ray import Target, run_items

    if args.batch_api:
        raise UsageError("--ray and --batch-api exclude each other")
    if args.ray_actors < 1:
        raise UsageError("--ray-actors must be at least 1")
    cache = args.cache_path or (str(default_cache_path()) if args.cache else None)
    return run_items(args.ray or None, Target(args.schema, _settings(args)), inputs,
                     actors=args.ray_actors, concurrency=args.concurrency, cache=cache)


def _worker_stopped(exc: BaseException) -> bool:
    """``--ray``: a worker met an endpoint error that stops the batch."""
    from .integrations.ray import WorkerStopped

    return isinstance(exc, WorkerStopped) and not isinstance(exc, ConfigurationError)


def chunked_item(runner: Runner, ident: str, value: Any,
                 document: Any = None) -> ItemResult[Any] | None:
    """The item of an input too long for one prompt, read in chunks here (each chunk
    through the batch drivers); ``None`` when it fits one prompt (or is no text), so
    it goes to the batch like any other. ``value`` is a text, or a text with its own
    template variables (JSON Lines); ``document`` its loaded file, for pages."""
    text, own = value, {}
    if isinstance(value, dict):
        text, own = value.get("text"), {k: v for k, v in value.items() if k != "text"}
    if not isinstance(text, str):
        return None
    try:
        chunked = runner.chunked(document or text, own)
    except FatalError:
        raise
    except Exception:
        return None  # the item fails in the batch with its own error
    if chunked is None:
        return None
    from .documents.run import run_document

    try:
        result: Any = run_document(chunked)
        return ItemResult(ident, 0, result=result, usage=result.usage)
    except FatalError:
        raise
    except Exception as exc:
        spent = sum((a.usage for a in getattr(exc, "attempts", None) or []), Usage())
        return ItemResult(ident, 0, error=exc, usage=spent)


def _documents_apart(
    inputs: Iterator[tuple[str, Any]], runner: Runner, records: RecordsFile | StdoutRecords, fingerprint: str,
    tally: Tally, err: IO[str], paged: dict[str, Any], page: Any,
    spend: Any = None, held: list[SpendLimitReached] | None = None,
) -> Iterator[tuple[str, Any]]:
    """Inputs for the batch, but for documents too long for one prompt: those are read
    in chunks here (:func:`chunked_item`) and their records written.
    A paged input (PDF, DOCX) is read as its ``Document``, so spans get pages.
    ``spend`` (a :class:`~extractkit.spend.SpendLimit`) counts those documents too,
    and ends the inputs (its error in ``held``) before one it refuses."""
    for ident, value in inputs:
        if spend is not None and held is not None and not spend.may_start(0):
            held.append(spend.reached())  # the batch finishes what is in flight
            return
        item = chunked_item(runner, ident, value, paged.get(ident))
        if item is None:
            yield ident, value
            continue
        record = _item_record(item, fingerprint, paged.pop(ident, None))
        if item.result is not None:
            _with_document(record, item.result, ident, err)
        records.write(page.record(record, item))
        tally.add(item)
        if spend is not None:
            spend.add(item)


def _model_name(settings: Settings) -> str | None:
    try:
        return settings.resolved_model()
    except ConfigurationError:
        return None


def _inputs_to_do(
    docs: Iterator[InputDoc], done: set[str], tally: Tally,
    texts: dict[str, str] | None = None, paged: dict[str, Any] | None = None,
) -> Iterator[tuple[str, Any]]:
    for doc in docs:
        if doc.id in done:
            tally.skipped += 1
            continue
        if texts is not None and doc.text is not None:
            texts[doc.id] = doc.text  # for --show-grounding, dropped once shown
        if paged is not None and doc.document is not None and doc.document.pages:
            paged[doc.id] = doc.document
        yield doc.id, doc.error if doc.error is not None else _payload(doc)


def _payload(doc: InputDoc) -> Any:
    """What the batch driver gets for one input: its text, or its text and variables
    (a chat history: ``{"messages": [...], **variables}``)."""
    if doc.messages is not None:
        return {**doc.variables, "messages": list(doc.messages)}
    if doc.variables:
        return {**doc.variables, "text": doc.text}
    return doc.text


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, (InputError, ExtractionError)) or _worker_stopped(exc):
        return _error_text(exc)
    return f"{type(exc).__name__}: {_error_text(exc)}"


def _item_record(item: ItemResult[Any], fingerprint: str,
                 document: Any = None) -> dict[str, Any]:
    record: dict[str, Any] = {"input": item.id, "ok": item.ok}
    if item.error is not None:
        record["error"] = _failure_text(item.error)
    else:
        record["value"] = _jsonable(item.value)
        if item.result is not None and item.result.grounding is not None:
            record["grounding"] = _paged(item.result.grounding, document).as_dict()
        if item.result is not None and item.result.dropped_turns:
            record["dropped_turns"] = list(item.result.dropped_turns)
    record["usage"] = item.usage.as_dict()
    record["fingerprint"] = fingerprint
    return _with_endpoint(record, item.result if item.error is None else item.error)


def _with_endpoint(record: dict[str, Any], outcome: Any) -> dict[str, Any]:
    """``endpoint``: who answered (a fallback chain's or a named endpoint); with a
    name, ``attempts``: each answer's endpoint, model, usage and cost."""
    record["endpoint"] = getattr(outcome, "endpoint", None)
    attempts = getattr(outcome, "attempts", None)
    if record["endpoint"] is not None and attempts:
        record["attempts"] = [
            {"endpoint": a.endpoint, "model": getattr(a.response, "model", None),
             "usage": a.usage.as_dict(), "cost": a.cost}
            for a in attempts
        ]
    return record


class _BatchProgress:
    """Live totals on stderr when it is a terminal (rich); failures as lines."""

    def __init__(self, tally: Tally, err: IO[str]) -> None:
        self._tally = tally
        self._err = err
        self._status = ""
        self._progress: Any = None
        if getattr(err, "isatty", lambda: False)():
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                console=Console(file=err), transient=True,
            )
            self._task = self._progress.add_task(tally.line())
            self._progress.start()

    def update(self) -> None:
        if self._progress is not None:
            line = self._tally.line() + (f" [{self._status}]" if self._status else "")
            self._progress.update(self._task, description=line)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self._err)

    def failure(self, item: ItemResult[Any], verbose: bool) -> None:
        assert item.error is not None
        self.note(f"extractkit: {_named(item.id, _failure_text(item.error))}")
        if verbose and isinstance(item.error, ExtractionError):
            buffer = io.StringIO()
            _report_attempts(item.error, buffer)
            self.note(buffer.getvalue().rstrip("\n"))

    def batch_status(self, batch: Any) -> None:
        counts = batch.request_counts
        status = f"batch {batch.id}: {batch.status}"
        if counts is not None:
            status += f" {counts.completed + counts.failed}/{counts.total}"
        if status != self._status:
            self._status = status
            if self._progress is None:
                self.note(f"extractkit: {status}")
            self.update()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


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
    failed = schema_errors = 0
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
            # a place in the schema is wrong (a bad $ref, an invalid keyword): exit 2
            schema_errors += isinstance(exc, SchemaError) and exc.pointer is not None
            record = {"file": spec, "ok": False, "error": _error_text(exc)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if schema_errors:
        return EXIT_USAGE
    return EXIT_FAILED if failed else EXIT_OK


def cmd_prompt(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    target = load_target(args.schema)
    runner = Runner(target, _settings(args), parse_vars(args.variables))
    # A directory or a .jsonl file: its first document (as docs/cli.md says).
    doc = next(iter_inputs([args.input]), None)
    if doc is None:
        raise UsageError(f"no input documents found in {args.input}")
    if doc.error is not None:
        raise doc.error
    assert doc.text is not None
    chat = list(doc.messages) if doc.messages is not None else None
    request = runner.render(chat or doc.text, dict(doc.variables))
    if args.json:
        out.write(json.dumps(request, indent=2, ensure_ascii=False, default=str) + "\n")
        return EXIT_OK
    for message in request["messages"]:
        out.write(f"--- {message['role']} ---\n{message.get('content') or ''}\n")
    return EXIT_OK


def _safe_stream(stream: IO[str]) -> IO[str]:
    """Text that cannot be encoded is written as backslash escapes, never a crash."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(Exception):
            reconfigure(errors="backslashreplace")
    return stream


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None,
         err: IO[str] | None = None) -> int:
    out = out or _safe_stream(sys.stdout)
    err = err or _safe_stream(sys.stderr)
    parser = _parser()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    commands = {"run": cmd_run, "schema": cmd_schema, "prompt": cmd_prompt}
    try:
        handler = commands.get(args.command) or args.handler  # eval, review: their own modules
        with reporting(err, verbose=bool(getattr(args, "verbose", False))):  # --endpoint auto
            return int(handler(args, out, err))
    except InputError as exc:
        print(f"extractkit: {user_facing(str(exc))}", file=err)
        return EXIT_FAILED
    except (UsageError, OutputError, ConfigurationError, SchemaError, TemplateError) as exc:
        print(f"extractkit: error: {user_facing(str(exc))}", file=err)
        return EXIT_USAGE
    except ExtractkitError as exc:
        print(f"extractkit: {user_facing(str(exc))}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("extractkit: interrupted", file=err)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
