"""Moderation: the endpoint's moderation API screens the input and/or the output.

``moderation="input"`` sends the turns of the request (every message but the
system prompt) to ``client.moderations.create`` before the first completion
is requested; ``"output"`` sends every string of the validated value (found
with the schema view's ``leaves()``) before the value is returned; ``"both"``
does both. Flagged content raises :class:`~extractkit.errors.ModerationError`
(the categories, their scores, and where: ``messages[i]`` or the value's JSON
pointer). It is one input's failure in a batch and is never re-asked.

:class:`Moderator` is the sans-IO part: it builds the ``moderations.create``
keyword arguments (:meth:`Moderator.input_check`, :meth:`Moderator.output_check`)
and reads the verdict (:meth:`Screening.verdict`). :func:`screen_input` /
:func:`ascreen_input` and :func:`screen_output` / :func:`ascreen_output` are the
thin blocking and asyncio shells the drivers call, once per extraction.

Whether the endpoint has a moderation API is data: :attr:`Profile.moderation
<extractkit.profiles.Profile.moderation>`. An endpoint without one (the embedded
model, a profile that says so) is a :class:`~extractkit.errors.ConfigurationError`
when the settings are resolved, before any input is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from pydantic_core import to_jsonable_python

from .errors import ConfigurationError, ModerationError

if TYPE_CHECKING:
    from .loop import Extraction
    from .profiles import Profile
    from .results import Result
    from .schema.source import SchemaSource

#: roles whose content is the caller's input (the system prompt is the instructions)
_SCREENED_ROLES = frozenset({"user", "assistant", "tool"})


def check_endpoint(profile: Profile, *, local: bool) -> None:
    """Raise a :class:`ConfigurationError` when the endpoint has no moderation API."""
    if local:
        raise ConfigurationError(
            "moderation= needs an endpoint with a moderation API; the embedded local model "
            "has none (use moderation='off', or an endpoint whose profile has moderation=True)"
        )
    if not profile.moderation:
        raise ConfigurationError(
            f"moderation= needs an endpoint with a moderation API, and endpoint profile "
            f"{profile.name!r} has none (moderation=False); use moderation='off', "
            "endpoint='openai', or a Profile(..., moderation=True) for a server that answers "
            "POST /moderations"
        )


@dataclass(frozen=True)
class Screening:
    """One ``moderations.create`` call to make: its arguments and what each text is."""

    stage: str
    #: keyword arguments of ``client.moderations.create``
    request: dict[str, Any]
    #: where each text came from (``messages[2]``, ``/items/0/name``), in input order
    where: tuple[str, ...]

    def verdict(self, response: Any, attempts: list[Any] | None = None) -> None:
        """Raise :class:`ModerationError` when any text was flagged; else nothing."""
        results = list(getattr(response, "results", None) or [])
        if len(results) != len(self.where):
            raise ModerationError(
                f"moderation ({self.stage}): the endpoint returned {len(results)} verdict(s) "
                f"for {len(self.where)} text(s)",
                stage=self.stage, categories=(), scores={}, attempts=attempts,
                response=response,
            )
        categories: dict[str, None] = {}
        scores: dict[str, float] = {}
        flagged: list[str] = []
        for where, result in zip(self.where, results, strict=True):
            if not getattr(result, "flagged", False):
                continue
            flagged.append(where)
            named = _as_dict(getattr(result, "categories", None))
            numbers = _as_dict(getattr(result, "category_scores", None))
            for name, on in named.items():
                if on:
                    categories[name] = None
                    score = numbers.get(name)
                    if isinstance(score, (int, float)):
                        scores[name] = max(float(score), scores.get(name, 0.0))
        if not flagged:
            return
        names = tuple(categories)
        raise ModerationError(
            f"moderation ({self.stage}): flagged {', '.join(flagged)} "
            f"for {', '.join(names) or 'unnamed categories'}",
            stage=self.stage, categories=names, scores=scores, flagged=tuple(flagged),
            attempts=attempts, response=response,
        )


@dataclass(frozen=True)
class Moderator:
    """What to screen and with which call; built once per engine (sans-IO but for ``create``)."""

    input: bool
    output: bool
    model: str
    #: ``client.moderations.create`` of the endpoint's client (sync or async)
    create: Callable[..., Any]

    def input_check(self, messages: Sequence[Mapping[str, Any]]) -> Screening | None:
        """The call screening a request's turns (``None``: not screened, or no text)."""
        if not self.input:
            return None
        texts: list[str] = []
        where: list[str] = []
        for index, message in enumerate(messages):
            if message.get("role") not in _SCREENED_ROLES:
                continue
            text = _content_text(message.get("content"))
            if text.strip():
                texts.append(text)
                where.append(f"messages[{index}]")
        return self._screening("input", texts, where)

    def output_check(self, source: SchemaSource, value: Any) -> Screening | None:
        """The call screening the strings of a validated value."""
        if not self.output:
            return None
        from .schema.source import WRAP_KEY
        from .schema.view import schema_view

        data = to_jsonable_python(value, by_alias=True)
        prefix = ""
        if source.wrapped:
            data, prefix = {WRAP_KEY: data}, "/" + WRAP_KEY
        texts: list[str] = []
        where: list[str] = []
        for leaf in schema_view(source.json_schema).leaves(data):
            if isinstance(leaf.value, str) and leaf.value.strip():
                texts.append(leaf.value)
                where.append(leaf.pointer[len(prefix):] or "/")
        return self._screening("output", texts, where)

    def _screening(self, stage: str, texts: list[str], where: list[str]) -> Screening | None:
        if not texts:
            return None
        return Screening(stage, {"model": self.model, "input": texts}, tuple(where))


def moderator_for(backend: Any, *, mode: str, model: str, retries: int) -> Moderator | None:
    """The moderator of an engine's backend (``None`` with ``mode="off"``).

    The backend must carry an ``openai`` client (``backend.client``); its
    ``moderations.create`` is called with the SDK's own retries set to ``retries``.
    """
    if mode == "off":
        return None
    client = getattr(backend, "client", None)
    if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
        raise ConfigurationError(
            f"moderation={mode!r} needs an openai client to call moderations.create; the "
            f"backend {type(backend).__name__} has none"
        )
    create = client.with_options(max_retries=retries).moderations.create
    return Moderator(input=mode in ("input", "both"), output=mode in ("output", "both"),
                     model=model, create=create)


# -- the shells the drivers call ---------------------------------------------


def _first_messages(extraction: Extraction[Any]) -> list[dict[str, Any]]:
    return list(extraction.request()["messages"])


def _arguments(extraction: Extraction[Any], check: Screening) -> dict[str, Any]:
    """The call's keyword arguments, bounded by what is left of the extraction's deadline
    (:class:`~extractkit.errors.DeadlineError` when nothing is)."""
    left = extraction.transport.check_deadline(f"screening the {check.stage} for moderation")
    return check.request if left is None else {**check.request, "timeout": left}


def screen_input(extraction: Extraction[Any]) -> None:
    """Screen the extraction's input (blocking); raises :class:`ModerationError`."""
    moderator = extraction.moderator
    check = moderator.input_check(_first_messages(extraction)) if moderator else None
    if moderator is not None and check is not None:
        check.verdict(moderator.create(**_arguments(extraction, check)))


async def ascreen_input(extraction: Extraction[Any]) -> None:
    """The asyncio twin of :func:`screen_input`."""
    moderator = extraction.moderator
    check = moderator.input_check(_first_messages(extraction)) if moderator else None
    if moderator is not None and check is not None:
        check.verdict(await moderator.create(**_arguments(extraction, check)))


def screen_output(extraction: Extraction[Any], result: Result[Any]) -> None:
    """Screen a result's value (blocking) before it is returned."""
    moderator = extraction.moderator
    check = moderator.output_check(extraction.plan.source, result.value) if moderator else None
    if moderator is not None and check is not None:
        check.verdict(moderator.create(**_arguments(extraction, check)), result.attempts)


async def ascreen_output(extraction: Extraction[Any], result: Result[Any]) -> None:
    """The asyncio twin of :func:`screen_output`."""
    moderator = extraction.moderator
    check = moderator.output_check(extraction.plan.source, result.value) if moderator else None
    if moderator is not None and check is not None:
        response = await moderator.create(**_arguments(extraction, check))
        check.verdict(response, result.attempts)


def _content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(str(part.get("text") or "") for part in content
                         if isinstance(part, Mapping) and part.get("type") == "text")
    return ""


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dict(dump(by_alias=True))
    return dict(vars(value))


__all__ = [
    "Moderator",
    "Screening",
    "ascreen_input",
    "ascreen_output",
    "check_endpoint",
    "moderator_for",
    "screen_input",
    "screen_output",
]
