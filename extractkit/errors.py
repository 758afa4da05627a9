"""Every error extractkit raises derives from :class:`ExtractkitError`.

Errors that end an extraction carry what happened: the attempts made so far
(raw text, parsed data, validation errors, usage) and, where there is one, the
raw response from the endpoint. Nothing is returned as a silent ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import Attempt


class ExtractkitError(Exception):
    """Base class of every extractkit error. Its text never carries an API key."""

    def __str__(self) -> str:
        from .redact import redact

        return redact(super().__str__())


class FatalError(ExtractkitError):
    """An error that would fail every input alike (settings, schema, template).

    A batch (``map``, ``extractkit run``) ends at the first one, raised from
    its iterator, instead of reporting it once per item. Other extractkit
    errors and the endpoint's own errors (``openai.APIError``) are one
    item's failure; any other exception is a bug and ends the batch with
    its traceback (see :func:`is_item_failure`).
    """


class ConfigurationError(FatalError):
    """Settings that cannot work: no model, a mode the endpoint lacks, a missing extra."""


class SchemaError(FatalError):
    """A schema that is invalid, or that cannot be expressed for a target.

    ``pointer`` is the JSON pointer of the offending place in the schema (``""``
    for the root) and ``keyword`` the JSON Schema keyword at fault, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        pointer: str | None = None,
        keyword: str | None = None,
        source: str | None = None,
    ) -> None:
        self.pointer = pointer
        self.keyword = keyword
        self.source = source
        where = []
        if source:
            where.append(source)
        if pointer is not None:
            where.append(f"at {pointer or '/'}")
        if keyword:
            where.append(f"keyword {keyword!r}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class TemplateError(FatalError):
    """A prompt template that cannot be loaded or rendered.

    ``template`` names the template (file path or name), ``line`` the line of a
    syntax error and ``variable`` the undefined variable, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        line: int | None = None,
        variable: str | None = None,
    ) -> None:
        self.template = template
        self.line = line
        self.variable = variable
        super().__init__(message)


class InputError(ExtractkitError):
    """An input document that cannot be read (missing, empty, undecodable)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class ArgumentsError(InputError, TypeError):
    """Arguments that do not fit an ``@extract`` function's signature.

    A ``TypeError`` like any bad call, and an :class:`InputError`, so one bad
    input of ``fn.map(...)`` is that item's failure, not the batch's.
    """


class ExtractionError(ExtractkitError):
    """The model never produced a valid value; ``attempts`` holds every try."""

    def __init__(self, message: str, *, attempts: list[Attempt] | None = None) -> None:
        self.attempts: list[Attempt] = list(attempts or [])
        super().__init__(message)

    @property
    def last_errors(self) -> list[str]:
        """Validation errors of the last attempt (field path and message)."""
        return list(self.attempts[-1].errors) if self.attempts else []


class IncompleteOutputError(ExtractionError):
    """The model stopped early (``finish_reason == "length"`` or a cut stream).

    Re-asking with the same token limit would fail the same way, so this is
    raised at once; raise ``max_tokens`` or shorten the input.
    """

    def __init__(
        self, message: str, *, attempts: list[Attempt] | None = None, response: Any = None
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.response = response


class DeadlineError(ExtractionError):
    """The extraction ran out of time (``timeout=``, ``--timeout``), retries and
    re-asks included: a request that hung or trickled past it, or a wait
    (``Retry-After``, backoff) longer than what was left. ``attempts`` holds the
    answers received before; ``timeout`` the limit in seconds. In a batch it is
    that item's failure."""

    def __init__(
        self, message: str, *, attempts: list[Attempt] | None = None, timeout: float | None = None
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.timeout = timeout


class RefusalError(ExtractionError):
    """The model refused to answer; ``refusal`` holds its words."""

    def __init__(
        self,
        message: str,
        *,
        refusal: str,
        attempts: list[Attempt] | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.refusal = refusal
        self.response = response


class ContentFilterError(RefusalError):
    """The endpoint's content filter stopped the answer (``finish_reason="content_filter"``).

    Whatever text arrived is in ``attempts`` and ``response``; it is never
    repaired into a success.
    """


class ModerationError(ExtractionError):
    """The endpoint's moderation API flagged the content (``moderation=``).

    ``stage`` is ``"input"`` (raised before any completion was requested) or
    ``"output"`` (the extracted value was not returned). ``categories`` names
    the flagged categories, ``scores`` holds their scores (the highest over
    the flagged texts), and ``flagged`` says where: ``messages[i]`` of the
    request for the input, the JSON pointer of each flagged string of the value
    for the output. Re-asking would meet the same verdict, so it is never
    retried; in a batch it is that item's failure. The flagged text itself is
    not in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        categories: tuple[str, ...],
        scores: dict[str, float],
        flagged: tuple[str, ...] = (),
        attempts: list[Attempt] | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.stage = stage
        self.categories = categories
        self.scores = scores
        self.flagged = flagged
        self.response = response


class EndpointsUnavailableError(ExtractkitError):
    """Every endpoint of a fallback chain is cooling down (its circuit breaker is
    open after repeated failures): the input failed without a request. In a batch
    it is that item's failure; rerun (``--resume``) once the endpoints are back."""


class SpendLimitReached(ExtractkitError):
    """A batch stopped before an input that would have passed ``max_cost`` or
    ``max_tokens_total`` (see :mod:`extractkit.spend`).

    Raised from the batch's iterator after every input already started has
    come out, so nothing already paid for is lost; the inputs not started
    have no item. ``spent_cost`` (dollars) and
    ``spent_tokens`` are what the batch spent, in-flight inputs included
    (``spent_cost`` counts priced models only: 0 on the embedded model).
    """

    def __init__(self, message: str, *, spent_cost: float, spent_tokens: int,
                 max_cost: float | None, max_tokens_total: int | None) -> None:
        super().__init__(message)
        self.spent_cost = spent_cost
        self.spent_tokens = spent_tokens
        self.max_cost = max_cost
        self.max_tokens_total = max_tokens_total


def is_item_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is one input's failure (reported on its item) rather than
    a fatal error or a bug (which end a batch).

    One input's failures are extractkit's non-fatal errors (no valid answer,
    a refusal, a cut answer, an unreadable input) and the endpoint's errors
    about this request (``openai.APIError``: a 400, retries exhausted on a 5xx...).
    The endpoint's errors that would fail every request alike end the batch:
    see :func:`is_endpoint_fatal`.
    """
    if isinstance(exc, FatalError):
        return False
    if isinstance(exc, ExtractkitError):
        return True
    import openai

    return isinstance(exc, openai.APIError) and not is_endpoint_fatal(exc)


def is_endpoint_fatal(exc: BaseException) -> bool:
    """An endpoint error that every further request would meet too: the key is
    refused (401), not allowed (403), the model or URL does not exist (404), or
    the endpoint cannot be reached at all (connection refused after every
    transport retry). A batch stops at the first one instead of trying each input."""
    import openai

    return isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError,
                            openai.NotFoundError, openai.APIConnectionError)) and not isinstance(
        exc, openai.APITimeoutError)


__all__ = [
    "ArgumentsError",
    "ConfigurationError",
    "ContentFilterError",
    "DeadlineError",
    "EndpointsUnavailableError",
    "ExtractionError",
    "ExtractkitError",
    "FatalError",
    "IncompleteOutputError",
    "InputError",
    "ModerationError",
    "RefusalError",
    "SchemaError",
    "SpendLimitReached",
    "TemplateError",
    "is_endpoint_fatal",
    "is_item_failure",
]
