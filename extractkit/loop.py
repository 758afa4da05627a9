"""The extraction loop as a sans-IO state machine.

:class:`Extraction` never sends anything. A driver asks it for the next
request, sends it however it likes (sync, async, streamed, batched, through
the embedded model), and hands back the response::

    ex = Extraction(plan, messages, model="gpt-4o-mini")
    while True:
        response = send(ex.request())
        result = ex.receive(response)
        if result is not None:
            break

Per response: read the raw text (content or tool-call arguments), parse it
(with local syntax repair), decode the wire shape back to the original
shape, validate against the validator of record; an answer that fails gets
the schema-aligned coercions of :mod:`extractkit.coerce` (unless
``coerce=False``), kept only when the coerced answer validates. Then one of:

* a valid choice → :class:`~extractkit.results.Result`;
* every choice refused → :class:`~extractkit.errors.RefusalError`;
* cut off at the token limit → :class:`~extractkit.errors.IncompleteOutputError`
  (or a re-ask, for profiles whose ``length_policy`` is ``"reask"``);
* re-asks left → ``None``; the next :meth:`Extraction.request` carries the
  last failed answer and its errors (only the last one: the prompt does not
  grow with every retry);
* none left → :class:`~extractkit.errors.ExtractionError` with every attempt.

Transport failures are not the loop's business, but their budget travels
with the extraction: :attr:`Extraction.transport` is its
:class:`~extractkit.retry.TransportRetry` (``transport_retries``), which
every driver asks how long to wait after a failure, and whose count ends up
in :attr:`Result.transport_retries <extractkit.results.Result.transport_retries>`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .coerce import coerce_reply
from .errors import ContentFilterError, ExtractionError, IncompleteOutputError, RefusalError
from .modes import Plan, UnreadableAnswer
from .redact import install_log_filter
from .repair import FIX_SURROUNDING_TEXT, parse_reply
from .results import Attempt, Result, Usage
from .retry import TransportRetry
from .schema import Invalid

if TYPE_CHECKING:
    from .grounding.check import GroundingCheck
    from .moderation import Moderator

T = TypeVar("T")
log = logging.getLogger("extractkit")
install_log_filter(log)

Feedback = Callable[[list[str], Attempt], str]


def _template_feedback(plan: Plan) -> Feedback:
    """The default re-ask message: ``prompts/reask.j2``, the one source of its wording."""
    from .prompts import get_prompts

    prompts = get_prompts()

    def feedback(errors: list[str], attempt: Attempt) -> str:
        return prompts.feedback(plan, errors, attempt)

    return feedback


class Extraction(Generic[T]):
    """One extraction in progress. See the module docstring for the protocol."""

    __slots__ = (
        "_base",
        "_coerce",
        "_context",
        "_feedback",
        "_grounding",
        "_messages",
        "_reasks_left",
        "_tail",
        "attempts",
        "dropped_turns",
        "endpoint",
        "moderator",
        "plan",
        "transport",
        "usage",
    )

    def __init__(
        self,
        plan: Plan,
        messages: Sequence[dict[str, Any]],
        *,
        model: str | None,
        params: dict[str, Any] | None = None,
        max_retries: int = 2,
        context: Any = None,
        feedback: Feedback | None = None,
        grounding: GroundingCheck | None = None,
        transport: TransportRetry | None = None,
        coerce: bool = True,
        moderator: Moderator | None = None,
        dropped_turns: tuple[int, ...] = (),
        endpoint: str | None = None,
    ) -> None:
        self.plan = plan
        #: the moderation step the drivers run around this extraction (``None``: off)
        self.moderator = moderator
        #: indexes of the conversation turns left out to fit the context window
        self.dropped_turns = dropped_turns
        #: the name of the endpoint this extraction talks to (``None``: unnamed)
        self.endpoint = endpoint
        self._coerce = coerce
        base: dict[str, Any] = {"model": model}
        if params:
            base.update(params)
        base.update(plan.fields)
        self._grounding = grounding
        if grounding is not None and grounding.mode == "require" \
                and plan.profile.extractive_decoding:
            # the backend constrains grounded strings to substrings of these texts
            extra = dict(base.get("extra_body") or {})
            extra["extractkit_documents"] = list(grounding.documents.values())
            base["extra_body"] = extra
        self._base = base
        self._messages = list(messages)
        self._tail: list[dict[str, Any]] = []
        self._reasks_left = max_retries
        self._context = context
        self._feedback = feedback or _template_feedback(plan)
        self.attempts: list[Attempt] = []
        self.usage = Usage()
        #: the transport retry budget of this extraction (drivers ask it after a failure)
        self.transport = transport if transport is not None else TransportRetry()

    # -- requests -------------------------------------------------------------

    def request(self) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create``."""
        messages = self._messages + self._tail if self._tail else self._messages
        return {**self._base, "messages": messages}

    def carry(self, messages: Sequence[dict[str, Any]]) -> None:
        """Messages sent after the prompt until the first re-ask replaces them (a fallback
        chain's escalation: the previous endpoint's invalid answer and its errors)."""
        self._tail = list(messages)

    @property
    def reasks_left(self) -> int:
        return self._reasks_left

    @property
    def transport_retries(self) -> int:
        """Requests retried so far after a transport failure."""
        return self.transport.failures

    @property
    def context(self) -> Any:
        """The validation context passed to validators (template variables by default)."""
        return self._context

    # -- responses ------------------------------------------------------------

    def receive(self, response: Any) -> Result[T] | None:
        """Consume a ``ChatCompletion``; a result, ``None`` (send again) or an error."""
        usage = Usage.from_response(getattr(response, "usage", None))
        self.usage = self.usage + usage
        choices = list(getattr(response, "choices", None) or [])
        if not choices:
            attempt = Attempt(None, errors=["(response): the endpoint returned no choices"],
                              usage=usage, response=response)
            attempt.endpoint = self.endpoint
            self.attempts.append(attempt)
            return self._after_failure(attempt, choices=[], response=response)
        failures: list[tuple[Any, Attempt]] = []
        refusals: list[str] = []
        for index, choice in enumerate(choices):
            attempt = self.check_message(
                choice.message, choice.finish_reason, usage if index == 0 else Usage(), response
            )
            attempt.endpoint = self.endpoint
            self.attempts.append(attempt)
            if attempt.ok:
                return Result(
                    value=attempt.value,
                    attempts=self.attempts,
                    usage=self.usage,
                    model=getattr(response, "model", None),
                    finish_reason=choice.finish_reason,
                    transport_retries=self.transport_retries,
                    grounding=attempt.grounding,
                    dropped_turns=self.dropped_turns,
                    endpoint=self.endpoint,
                )
            if attempt.refusal is not None:
                refusals.append(attempt.refusal)
            failures.append((choice, attempt))
        if len(refusals) == len(choices):
            filtered = all(c.finish_reason == "content_filter" for c in choices)
            raise (ContentFilterError if filtered else RefusalError)(
                f"the model refused: {refusals[0]}",
                refusal=refusals[0],
                attempts=self.attempts,
                response=response,
            )
        # Re-ask from an answer the model actually gave, not from a refusal.
        choice, attempt = next(
            ((c, a) for c, a in failures if a.refusal is None), failures[0]
        )
        return self._after_failure(attempt, choices=[choice], response=response)

    def check_message(
        self, message: Any, finish_reason: str | None, usage: Usage, response: Any
    ) -> Attempt:
        """Parse, repair, decode and validate one message into an :class:`Attempt`."""
        refusal = getattr(message, "refusal", None)
        try:
            raw = self.plan.read(message)
        except UnreadableAnswer as exc:
            attempt = Attempt(None, errors=[f"(response): {exc}"], usage=usage,
                              finish_reason=finish_reason, response=response)
            attempt.message = message
            return attempt
        if refusal and not raw:
            attempt = Attempt(None, errors=[f"(refusal): {refusal}"], usage=usage,
                              finish_reason=finish_reason, response=response)
            attempt.refusal = refusal
            return attempt
        attempt = self.check_text(raw, finish_reason, usage, response)
        attempt.message = message
        return attempt

    def check_text(
        self, raw: str | None, finish_reason: str | None, usage: Usage, response: Any = None
    ) -> Attempt:
        """Validate raw text against the plan (then ground it); never raises for bad output."""
        attempt = self._validate_text(raw, finish_reason, usage, response)
        if self._grounding is not None and not attempt.errors:
            self._grounding.apply(attempt)
        return attempt

    def _validate_text(
        self, raw: str | None, finish_reason: str | None, usage: Usage, response: Any
    ) -> Attempt:
        attempt = Attempt(raw, usage=usage, finish_reason=finish_reason, response=response)
        if finish_reason == "content_filter":
            # whatever text there is was cut by the filter: never a success
            attempt.errors = ["(response): the endpoint's content filter stopped the answer"]
            attempt.refusal = "the endpoint's content filter stopped the answer " \
                "(finish_reason=content_filter)"
            return attempt
        if not raw or not raw.strip():
            attempt.errors = ["(root): the model returned no JSON"]
        else:
            source = self.plan.compiled.source
            decode = self.plan.compiled.decode
            fast = source.validate_json
            if fast is not None and decode is None:
                try:
                    attempt.value = fast(raw, self._context)
                except Exception:
                    pass  # slow path below finds out why, with repair
                else:
                    return _finish_rules(attempt, finish_reason)
            try:
                data, fixes = parse_reply(raw)
            except ValueError as exc:
                attempt.errors = [f"(root): not JSON: {exc}"]
            else:
                attempt.data = data
                attempt.repairs = fixes
                try:
                    decoded = decode(data) if decode is not None else data
                    attempt.value = source.validate(decoded, self._context)
                except Invalid as exc:
                    attempt.errors = exc.errors
                except Exception as exc:  # a validator raising something odd
                    attempt.errors = [f"(root): {type(exc).__name__}: {exc}"]
                if self._coerce and attempt.errors:
                    self._coerce_answer(attempt, raw, data)
                elif self._coerce and FIX_SURROUNDING_TEXT in fixes:
                    self._check_other_documents(attempt, raw, data)
        return _finish_rules(attempt, finish_reason)

    def _coerce_answer(self, attempt: Attempt, raw: str, data: Any) -> None:
        """Schema-aligned coercions (see :mod:`extractkit.coerce`); kept only if valid."""
        source = self.plan.compiled.source
        context = self._context
        coerced = coerce_reply(raw, data, source, lambda d: source.validate(d, context),
                               decode=self.plan.compiled.decode)
        if coerced.ok:
            attempt.value = coerced.value
            attempt.errors = []
            attempt.repairs = (*attempt.repairs, *coerced.notes)
        elif coerced.rejected:
            attempt.errors = [*attempt.errors, f"(root): not coerced: {coerced.rejected}"]

    def _check_other_documents(self, attempt: Attempt, raw: str, data: Any) -> None:
        """A reply with prose around its JSON may hold other documents: two that
        validate to different values make the answer ambiguous (re-ask)."""
        coerced = coerce_reply(raw, data, self.plan.compiled.source,
                               lambda d: self.plan.compiled.source.validate(d, self._context),
                               decode=self.plan.compiled.decode)
        if not coerced.ok and coerced.rejected:
            attempt.value = None
            attempt.errors = [f"(root): not accepted: {coerced.rejected}"]

    def _after_failure(
        self, attempt: Attempt, *, choices: list[Any], response: Any
    ) -> Result[T] | None:
        if attempt.finish_reason == "length" and self.plan.profile.length_policy == "raise":
            raise IncompleteOutputError(
                "the model's answer was cut off at the token limit (finish_reason=length); "
                "raise max_tokens or shorten the input",
                attempts=self.attempts,
                response=response,
            )
        if self._reasks_left <= 0:
            errors = "; ".join(attempt.errors[:5])
            raise ExtractionError(
                f"no valid answer after {len(self.attempts)} attempt(s); last errors: {errors}",
                attempts=self.attempts,
            )
        self._reasks_left -= 1
        log.info("attempt %d invalid, re-asking: %s", len(self.attempts), "; ".join(attempt.errors[:3]))
        message = choices[0].message if choices else None
        feedback = self._feedback(attempt.errors, attempt)
        self._tail = self.plan.mode.reask(message, attempt.raw, feedback)
        return None


def _finish_rules(attempt: Attempt, finish_reason: str | None) -> Attempt:
    """The same rules whichever path validated: an answer cut at the token limit is
    never a success, even when what arrived happens to validate; a value must be
    strict JSON (finite numbers, well-formed Unicode) to be one."""
    if attempt.ok and attempt.raw and _MAYBE_UNSAFE.search(attempt.raw):
        problems = _unsafe_values(attempt.value)
        if problems:
            attempt.errors = problems
            attempt.value = None
    if finish_reason == "length":
        attempt.errors = ["(root): the answer was cut off at the token limit", *attempt.errors]
    return attempt


#: Cheap test of the raw text: only answers that match it are walked for
#: non-finite numbers (``NaN``, ``Infinity``, ``1e999``) and lone surrogates
#: (``"\ud800"``, or one decoded into the text).
_MAYBE_UNSAFE = re.compile(r"NaN|Infinity|[eE]\+?\d{3}|\\[uU][dD][89a-fA-F]|[\ud800-\udfff]")


def _unsafe_values(value: Any) -> list[str]:
    from pydantic_core import to_jsonable_python

    problems: list[str] = []
    stack: list[tuple[Any, str]] = [(to_jsonable_python(value), "")]
    while stack and len(problems) < 5:
        item, path = stack.pop()
        where = path.lstrip(".") or "(root)"
        if isinstance(item, float) and not math.isfinite(item):
            problems.append(f"{where}: {item!r} is not a JSON number (NaN and infinities "
                            "are not allowed)")
        elif isinstance(item, str) and _LONE_SURROGATE.search(item):
            problems.append(f"{where}: the text contains a lone surrogate (an invalid "
                            "\\u escape such as \\ud800); write the character itself")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and _LONE_SURROGATE.search(key):
                    problems.append(f"{where}: a key contains a lone surrogate")
                stack.append((sub, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}.{i}") for i, sub in enumerate(item))
    return problems


_LONE_SURROGATE = re.compile(r"[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")
