"""Extraction over a Ray Data dataset: one :class:`Extractor` per actor, one limit.

:func:`extract_dataset` turns a dataset of inputs (a text column, a path
column, or template-variable columns for an ``@extract`` function) into a
dataset with one row per input: ``id``, ``ok``, ``value`` (JSON text; flat
object schemas also get one ``value.<field>`` column per field), ``error``,
the token counts, ``cost``, ``cached``, ``model``, ``grounding`` (JSON, when
the result carries one) and the run's ``fingerprint``. It is lazy, like every
Ray transform: write it with Ray's own writers (``write_parquet``,
``write_json``) or iterate it.

How it runs: ``map_batches`` over a pool of actors. Each actor builds its
extractor once (so the embedded model is loaded once per actor) and runs every
batch through the ordinary batch driver (:func:`extractkit.drivers.batch.map_jobs`),
``concurrency`` extractions at a time. The semantics are those of
``extractkit run``: an item's failure is a row with ``ok=False``; a fatal
error (bad settings, schema or template; a refused key, an unknown model, an
unreachable endpoint) stops the dataset and is raised on the driver as
itself, once (:func:`raise_cause`).

The global limit (``max_in_flight``): one small Ray actor, :class:`Slots`,
holds a semaphore; every request of every actor takes a slot from it (after
its actor's own gate) and gives it back when its answer arrives. The other
design, a fixed share of the limit per actor, costs no round trip but wastes
the shares of idle or finished actors and must be recomputed when the pool
grows; the slot actor costs one local round trip per request (well under a
millisecond beside a model call of hundreds) and is exact however many actors
run. See ``docs/distributed.md``.

Everything a worker needs travels as a :class:`Target` (a picklable recipe:
the schema, the settings, a client *factory*): clients and keys are never
pickled into the job; workers read keys from their own environment.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import re
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..drivers.gate import DEFAULT_CONCURRENCY, ThreadGate
from ..drivers.jobs import ItemResult
from ..errors import ConfigurationError, ExtractionError, ExtractkitError
from ..pricing import PriceTable
from ..results import Usage

if TYPE_CHECKING:
    from ..cli import Runner

__all__ = [
    "COLUMNS",
    "RemoteItem",
    "Slots",
    "Target",
    "WorkerConfigurationError",
    "WorkerStopped",
    "done_ids",
    "extract_dataset",
    "raise_cause",
]

#: The result columns of :func:`extract_dataset` (before any ``value.<field>`` columns).
COLUMNS = (
    "id", "ok", "value", "error", "prompt_tokens", "completion_tokens", "total_tokens",
    "cost", "cached", "model", "grounding", "fingerprint",
)


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - the extra is installed in dev
        raise ConfigurationError(
            "extractkit.integrations.ray needs Ray Data: pip install 'extractkit[ray]'"
        ) from exc
    return ray


# -- what a worker builds -----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What each actor builds its extractor from (picklable; nothing secret in it).

    ``schema`` is a Pydantic model, a JSON Schema, an ``@extract`` function, or a
    ``"file.py:Name"`` / ``"schema.json"`` spec as on the command line (loaded on
    the worker). ``settings`` are :class:`~extractkit.Extractor` settings
    (``model``, ``base_url``, ``temperature``...). ``client`` is a function
    called once on each actor to make the client (keys come from the worker's
    environment); without it the settings and the worker's environment decide,
    as for ``Extractor()``.
    """

    schema: Any
    settings: Mapping[str, Any] = field(default_factory=dict)
    client: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        if "api_key" in self.settings or "client" in self.settings:
            raise ConfigurationError(
                "Target settings travel with the job: pass the key through the workers' "
                "environment (OPENAI_API_KEY) or a client= factory, not api_key=/client="
            )

    def __reduce__(self) -> Any:
        # an @extract function holds its engine (clients, locks): send where it lives instead
        return (_target_of, (_reference(self.schema), dict(self.settings), self.client))

    def runner(self) -> Runner:
        from ..cli import Runner
        from ..decorator import ExtractFunction
        from ..loading import SchemaTarget, load_target

        if isinstance(self.schema, str):
            target = load_target(self.schema)
        elif isinstance(self.schema, ExtractFunction):
            target = SchemaTarget("", getattr(self.schema, "__name__", "function"),
                                  function=self.schema)
        else:
            target = SchemaTarget("", getattr(self.schema, "__name__", "schema"),
                                  schema=self.schema)
        settings = dict(self.settings)
        if self.client is not None:
            settings["client"] = self.client()
        return Runner(target, settings)


def _reference(schema: Any) -> Any:
    from ..decorator import ExtractFunction

    if not isinstance(schema, ExtractFunction):
        return schema
    module, name = getattr(schema, "__module__", None), getattr(schema, "__qualname__", "")
    found: Any = sys.modules.get(module or "")
    for part in name.split("."):
        found = getattr(found, part, None)
    if found is not schema:
        raise ConfigurationError(
            f"the @extract function {name or schema!r} must be defined at the top level of an "
            "importable module to run on Ray workers"
        )
    return _FunctionRef(str(module), name)


@dataclass(frozen=True)
class _FunctionRef:
    module: str
    name: str

    def load(self) -> Any:
        found: Any = importlib.import_module(self.module)
        for part in self.name.split("."):
            found = getattr(found, part)
        return found


def _target_of(schema: Any, settings: dict[str, Any], client: Any) -> Target:
    if isinstance(schema, _FunctionRef):
        schema = schema.load()
    return Target(schema, settings, client)


# -- the global limit ---------------------------------------------------------------


class Slots:
    """A semaphore shared by every actor of a run (a Ray async actor; see the module docstring).

    ``peak`` is the most slots ever taken at once.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ConfigurationError("max_in_flight must be at least 1")
        self.limit = limit
        self.taken = 0
        self.peak = 0
        self._free: asyncio.Semaphore | None = None

    async def acquire(self) -> None:
        if self._free is None:
            self._free = asyncio.Semaphore(self.limit)
        await self._free.acquire()
        self.taken += 1
        self.peak = max(self.peak, self.taken)

    async def release(self) -> None:
        assert self._free is not None
        self.taken -= 1
        self._free.release()

    async def stats(self) -> dict[str, int]:
        return {"limit": self.limit, "taken": self.taken, "peak": self.peak}


class _ClusterGate(ThreadGate):
    """An actor's own gate (429 back-off, its concurrency) that also holds a global slot."""

    def __init__(self, concurrency: int, slots: Any) -> None:
        super().__init__(concurrency)
        self._slots = slots

    def acquire(self) -> int:
        token = super().acquire()
        try:
            _ray().get(self._slots.acquire.remote())
        except BaseException:
            super().release(token)
            raise
        return token

    def release(
        self, token: int, exc: BaseException | None = None, delay: float | None = None
    ) -> None:
        super().release(token, exc, delay)
        self._slots.release.remote()


# -- one actor ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    column: str | tuple[str, ...] = "text"
    path_column: str | None = None
    id_column: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    cache: str | None = None
    prices: PriceTable | None = None


def _input_id(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read(path: str) -> Any:
    from ..documents.load import load_document

    try:
        return load_document(Path(path)).text
    except ExtractkitError as exc:  # an unreadable input is that item's failure
        return exc


def _flat_fields(runner: Runner) -> tuple[str, ...]:
    """The fields of a flat object schema (every property a scalar), else ()."""
    from ..schema.view import schema_view

    schema = runner.target.function.schema if runner.target.function else runner.target.schema
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        schema = schema.model_json_schema()
    if not isinstance(schema, dict):
        return ()
    root = schema_view(schema).root.unwrap()
    if root.kind != "object" or not root.properties:
        return ()
    if not all(node.is_scalar for node in root.properties.values()):
        return ()
    return tuple(root.properties)


class _Actor:
    """One actor of the pool: its extractor, gate and cache, built once."""

    def __init__(self, target: Target, options: _Options, slots: Any = None) -> None:
        from ..cache import ResponseCache

        self._options = options
        self._runner = target.runner()
        self._fingerprint = self._runner.fingerprint()
        self._fields = _flat_fields(self._runner)
        self._local = self._runner.settings.uses_local()
        self._gate = (ThreadGate(options.concurrency) if slots is None
                      else _ClusterGate(options.concurrency, slots))
        self._cache = ResponseCache(options.cache) if options.cache else None

    def _inputs(self, batch: Mapping[str, Any], size: int) -> Iterator[tuple[str, Any]]:
        options = self._options
        for i in range(size):
            value: Any
            if options.path_column is not None:
                value = _read(str(batch[options.path_column][i]))
            elif isinstance(options.column, tuple):
                value = {name: _plain(batch[name][i]) for name in options.column}
            else:
                value = _plain(batch[options.column][i])
            ident = (str(batch[options.id_column][i]) if options.id_column
                     else _input_id(value if options.path_column is None
                                    else str(batch[options.path_column][i])))
            yield ident, value

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        size = len(next(iter(batch.values()))) if batch else 0
        items: dict[int, ItemResult[Any]] = {}
        try:
            for item in self._runner.map(self._inputs(batch, size),
                                         concurrency=self._options.concurrency,
                                         cache=self._cache, gate=self._gate):
                items[item.index] = item
        except Exception as exc:  # fatal: stops the dataset, as one picklable message
            raise _stopped(exc) from None
        rows = [self._row(items[i]) for i in range(size)]
        names = [*COLUMNS, *(f"value.{name}" for name in self._fields)]
        return {name: [row.get(name) for row in rows] for name in names}

    def _row(self, item: ItemResult[Any]) -> dict[str, Any]:
        from ..cli import _failure_text, _jsonable

        usage = item.usage
        prices = self._options.prices or PriceTable()
        row: dict[str, Any] = {
            "id": item.id, "ok": item.ok, "value": None, "error": None,
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "cost": 0.0 if item.cached else prices.cost(item.model, usage, local=self._local),
            "cached": item.cached, "model": item.model, "grounding": None,
            "fingerprint": self._fingerprint,
        }
        if item.error is not None:
            row["error"] = _failure_text(item.error)
            return row
        value = _jsonable(item.value)
        row["value"] = json.dumps(value, ensure_ascii=False)
        grounding = getattr(item.result, "grounding", None)
        if grounding is not None:
            row["grounding"] = json.dumps(grounding.as_dict(), ensure_ascii=False)
        if self._fields and isinstance(value, dict):
            for name in self._fields:
                row[f"value.{name}"] = value.get(name)
        return row


def _plain(value: Any) -> Any:
    """A numpy scalar (how Ray hands over a batch) as the Python value."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value


# -- the entry points ---------------------------------------------------------------


def extract_dataset(
    dataset: Any,
    target: Target | Any,
    *,
    column: str | Sequence[str] = "text",
    path_column: str | None = None,
    id_column: str | None = None,
    actors: int = 2,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_in_flight: int | None = None,
    cache: str | Path | None = None,
    prices: PriceTable | None = None,
    skip: Collection[str] = (),
    batch_size: int = 64,
    num_cpus: float = 1,
    num_gpus: float = 0,
) -> Any:
    """The extraction of every row of ``dataset`` (a Ray ``Dataset``), as a new dataset.

    ``target`` is a :class:`Target` (or just a schema / ``@extract`` function,
    with default settings). The input of a row is its ``column`` (a text), its
    ``path_column`` (a document file every worker can read), or -- for an
    ``@extract`` function -- several columns (``column=["name", "text"]``) passed
    as keyword arguments. ``id_column`` names inputs (default: a hash of the
    input, stable across runs); ids in ``skip`` are left out (see :func:`done_ids`).

    ``actors`` actors each run ``concurrency`` extractions at a time;
    ``max_in_flight`` caps the requests in flight across all of them (a
    :class:`Slots` actor). ``cache`` is a response-cache file each actor opens
    (a path on a disk every node shares, or a node-local one).
    """
    ray = _ray()
    if not isinstance(target, Target):
        target = Target(target)
    if actors < 1 or concurrency < 1:
        raise ConfigurationError("actors and concurrency must be at least 1")
    names = (column,) if isinstance(column, str) else tuple(column)
    needed = [path_column] if path_column else list(names)
    missing = [n for n in [*needed, *([id_column] if id_column else [])]
               if n not in dataset.columns()]
    if missing:
        raise ConfigurationError(
            f"the dataset has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(map(repr, dataset.columns()))})"
        )
    options = _Options(
        column=column if isinstance(column, str) else names, path_column=path_column,
        id_column=id_column, concurrency=concurrency,
        cache=str(cache) if cache is not None else None, prices=prices,
    )
    if skip:
        dataset = _without(dataset, set(skip), options)
    slots = None
    if max_in_flight is not None:
        slots = ray.remote(num_cpus=0)(Slots).remote(max_in_flight)
    return dataset.map_batches(
        _Actor,
        fn_constructor_kwargs={"target": target, "options": options, "slots": slots},
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )


def _without(dataset: Any, done: set[str], options: _Options) -> Any:
    def keep(row: dict[str, Any]) -> bool:
        if options.id_column:
            ident = str(row[options.id_column])
        elif options.path_column:
            ident = _input_id(str(row[options.path_column]))
        elif isinstance(options.column, tuple):
            ident = _input_id({name: _plain(row[name]) for name in options.column})
        else:
            ident = _input_id(_plain(row[options.column]))
        return ident not in done

    return dataset.filter(keep)


def done_ids(results: Any, fingerprint: str | None = None) -> set[str]:
    """The ids of a previous run's successes (a result dataset, or the path Ray wrote).

    A path is read with ``ray.data.read_parquet`` (or ``read_json`` for
    ``.json``/``.jsonl``); a missing path is an empty set. With ``fingerprint``
    only rows made with the same schema, prompt and model count.
    """
    ray = _ray()
    if isinstance(results, (str, Path)):
        path = Path(results)
        if not path.exists():
            return set()
        text_format = path.suffix in (".json", ".jsonl") or any(path.glob("*.json*"))
        results = (ray.data.read_json if text_format else ray.data.read_parquet)(str(path))
    done: set[str] = set()
    for batch in results.select_columns(["id", "ok", "fingerprint"]).iter_batches(
        batch_format="numpy"
    ):
        for ident, ok, made in zip(batch["id"], batch["ok"], batch["fingerprint"], strict=True):
            if ok and (fingerprint is None or made == fingerprint):
                done.add(str(ident))
    return done


def fingerprint_of(target: Target | Any) -> str:
    """The fingerprint :func:`extract_dataset` writes for ``target`` (to filter :func:`done_ids`)."""
    return (target if isinstance(target, Target) else Target(target)).runner().fingerprint()


class WorkerStopped(ExtractkitError):
    """A worker met an error every further input would meet too (a refused key, an
    unknown model, an unreachable endpoint); its text is that error's."""


class WorkerConfigurationError(WorkerStopped, ConfigurationError):
    """A worker's settings, schema or template cannot work (exit code 2 in the CLI)."""


def _stopped(exc: BaseException) -> BaseException:
    from ..cli import _failure_text
    from ..errors import FatalError, is_endpoint_fatal

    if isinstance(exc, FatalError):
        return WorkerConfigurationError(_failure_text(exc))
    if is_endpoint_fatal(exc):
        return WorkerStopped(_failure_text(exc))
    return exc  # a bug: Ray shows its traceback


def raise_cause(exc: BaseException) -> None:
    """Raise the extractkit (or endpoint) error inside a Ray error, if there is one.

    Ray wraps an error raised on a worker in its own exceptions; the CLI and
    callers want the one message of the error itself.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _is_ours(current) and current is not exc:
            raise current
        todo.extend(e for e in (getattr(current, "cause", None), current.__cause__,
                                current.__context__) if isinstance(e, BaseException))
    # Ray Data keeps only the text of a worker's error (its traceback): find ours in it
    found = _STOPPED_LINE.findall(str(exc))
    if found:
        kind, text = found[-1]
        stop = WorkerConfigurationError if kind == "WorkerConfigurationError" else WorkerStopped
        raise stop(text) from exc
    raise exc


_STOPPED_LINE = re.compile(
    r"^extractkit\.integrations\.ray\.(WorkerStopped|WorkerConfigurationError): (.*)$",
    re.MULTILINE,
)


def _is_ours(exc: BaseException) -> bool:
    import openai

    module = type(exc).__module__
    if module.startswith("ray."):
        return False
    return isinstance(exc, (WorkerStopped, ExtractkitError, openai.APIError))


# -- the CLI's --ray --------------------------------------------------------------------


class RemoteItemError(ExtractionError):
    """An item's failure as a worker reported it (its text is the worker's record text)."""


@dataclass(frozen=True)
class RemoteResult:
    """What the CLI reads of a worker's :class:`~extractkit.results.Result`."""

    grounding: Any = None
    coercions: tuple[str, ...] = ()
    #: conversations' dropped turns are not carried through the rows (yet): always empty
    dropped_turns: tuple[int, ...] = ()


@dataclass(frozen=True)
class RemoteItem:
    """An :class:`~extractkit.drivers.jobs.ItemResult` as it comes back from a worker:
    what the CLI's records, tally and progress read."""

    id: str
    index: int
    ok: bool
    json_value: Any = None
    error: BaseException | None = None
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    model: str | None = None
    result: Any = None

    @property
    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.json_value

    @classmethod
    def of_row(cls, row: Mapping[str, Any], index: int) -> RemoteItem:
        result = None
        if row["ok"]:
            grounding = None
            if row.get("grounding"):
                from ..grounding.spans import Grounding

                grounding = Grounding.from_dict(json.loads(row["grounding"]))
            result = RemoteResult(grounding)
        return cls(
            result=result,
            id=str(row["id"]), index=index, ok=bool(row["ok"]),
            json_value=json.loads(row["value"]) if row["value"] is not None else None,
            error=RemoteItemError(row["error"]) if not row["ok"] else None,
            usage=Usage(int(row["prompt_tokens"]), int(row["completion_tokens"]),
                        int(row["total_tokens"])),
            cached=bool(row["cached"]), model=row["model"],
        )


def run_items(
    address: str | None,
    target: Target,
    inputs: Iterator[tuple[str, Any]],
    *,
    actors: int,
    concurrency: int,
    cache: str | None,
) -> Iterator[Any]:
    """``extractkit run --ray``: the items of ``(id, text)`` inputs, run on a Ray cluster.

    ``address`` is a cluster address, or ``None`` for a local cluster started
    here (and shut down at the end). ``concurrency`` is the limit across the
    cluster. Inputs that could not be read come back as failed items without
    going to the cluster.
    """
    import os

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        from ..cli import _failure_text

        rows: list[dict[str, str]] = []
        index = 0
        for ident, value in inputs:
            if isinstance(value, BaseException):
                yield RemoteItem(ident, index, False, error=RemoteItemError(_failure_text(value)))
            else:
                rows.append({"id": ident, "text": value})
            index += 1
        if not rows:
            return
        import logging

        # the CLI reports on its own (records, summary, one "stopped:" line)
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        dataset = extract_dataset(
            ray.data.from_items(rows), target, id_column="id", actors=actors,
            concurrency=concurrency, max_in_flight=concurrency, cache=cache,
            batch_size=max(1, min(64, len(rows) // (actors * 2) or 1)),
        )
        try:
            for row in dataset.iter_rows():
                yield RemoteItem.of_row(row, index)
                index += 1
        except Exception as exc:
            raise_cause(exc)
    finally:
        if started:
            ray.shutdown()
