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
shape, validate against the validator of record. Then one of:

* a valid choice → :class:`~extractkit.results.Result`;
* every choice refused → :class:`~extractkit.errors.RefusalError`;
* cut off at the token limit → :class:`~extractkit.errors.IncompleteOutputError`
  (or a re-ask, for profiles whose ``length_policy`` is ``"reask"``);
* re-asks left → ``None``; the next :meth:`Extraction.request` carries the
  last failed answer and its errors (only the last one: the prompt does not
  grow with every retry);
* none left → :class:`~extractkit.errors.ExtractionError` with every attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import ExtractionError, IncompleteOutputError, RefusalError
from .modes import Plan
from .repair import parse_reply
from .results import Attempt, Result, Usage
from .schema import Invalid

if TYPE_CHECKING:
    from .grounding.check import GroundingCheck

T = TypeVar("T")
log = logging.getLogger("extractkit")

Feedback = Callable[[list[str], Attempt], str]


def default_feedback(errors: list[str], attempt: Attempt) -> str:
    lines = "\n".join(f"- {e}" for e in errors)
    return (
        "Your previous answer was not valid:\n"
        f"{lines}\n"
        "Answer again with the corrected JSON only, keeping the values that were right."
    )


class Extraction(Generic[T]):
    """One extraction in progress. See the module docstring for the protocol."""

    __slots__ = (
        "_base",
        "_context",
        "_feedback",
        "_grounding",
        "_messages",
        "_reasks_left",
        "_tail",
        "attempts",
        "plan",
        "transport_retries",
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
    ) -> None:
        self.plan = plan
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
        self._feedback = feedback or default_feedback
        self.attempts: list[Attempt] = []
        self.usage = Usage()
        self.transport_retries = 0

    # -- requests -------------------------------------------------------------

    def request(self) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create``."""
        messages = self._messages + self._tail if self._tail else self._messages
        return {**self._base, "messages": messages}

    @property
    def reasks_left(self) -> int:
        return self._reasks_left

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
            self.attempts.append(attempt)
            return self._after_failure(attempt, choices=[], response=response)
        failures: list[tuple[Any, Attempt]] = []
        refusals: list[str] = []
        for index, choice in enumerate(choices):
            attempt = self.check_message(
                choice.message, choice.finish_reason, usage if index == 0 else Usage(), response
            )
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
                )
            if attempt.refusal is not None:
                refusals.append(attempt.refusal)
            failures.append((choice, attempt))
        if len(refusals) == len(choices):
            raise RefusalError(
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
        raw = self.plan.mode.read(message)
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
        if not raw or not raw.strip():
            attempt.errors = ["(root): the model returned no JSON"]
        else:
            source = self.plan.compiled.source
            decode = self.plan.compiled.decode
            fast = source.validate_json
            if fast is not None and decode is None:
                try:
                    attempt.value = fast(raw, self._context)
                    return attempt
                except Exception:
                    pass  # slow path below finds out why, with repair
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
        if finish_reason == "length":
            attempt.errors = [
                "(root): the answer was cut off at the token limit",
                *attempt.errors,
            ]
        return attempt

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
