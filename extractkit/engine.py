"""The engine: resolved settings + backend + prompts, turning calls into
:class:`~extractkit.loop.Extraction` objects for a driver to run.

Both front doors -- :class:`~extractkit.extractor.Extractor` and
``@extract`` -- sit on this; so do the CLI, streaming and batch drivers.
Everything that can be computed once (backend, profile, plan, system
message) is computed on first use and reused.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends import resolve_backend
from .errors import ConfigurationError
from .grounding.check import grounding_check
from .loop import Extraction
from .moderation import Moderator, moderator_for
from .modes import Plan, build_plan
from .profiles import Profile
from .prompts import Prompts, PromptTemplate, get_prompts
from .results import Attempt
from .retry import TransportRetry
from .settings import NO_MODEL, Resolved, Settings

_UNSET: Any = object()
if TYPE_CHECKING:
    from .endpoints.chain import Chain

_UNBUILT: Any = object()


class Engine:
    """One configuration, sync or async. Cheap to keep; lazy to start."""

    def __init__(self, settings: Settings, *, is_async: bool) -> None:
        self.settings = settings
        self.is_async = is_async
        self._backend: Any = None
        self._resolved: Resolved | None = None
        self._prompts: Prompts | None = None
        self._params: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._plans: dict[Any, Plan] = {}
        self._feedback: dict[Plan, Callable[[list[str], Attempt], str]] = {}
        self._moderator: Any = _UNSET
        self._chain: Any = _UNBUILT

    # -- lazily resolved pieces -------------------------------------------

    @property
    def resolved(self) -> Resolved:
        """Settings + environment + profile, resolved once (:meth:`Settings.resolve`)."""
        if self._resolved is None:
            self._resolved = self.settings.resolve()
        return self._resolved

    @property
    def backend(self) -> Any:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = resolve_backend(self.resolved, is_async=self.is_async)
        return self._backend

    @property
    def moderator(self) -> Moderator | None:
        """The moderation step of every extraction (``None``: ``moderation="off"``)."""
        if self._moderator is _UNSET:
            resolved = self.resolved
            self._moderator = None if resolved.moderation == "off" else moderator_for(
                self.backend, mode=resolved.moderation, model=resolved.moderation_model,
                retries=resolved.transport_retries)
        return self._moderator  # type: ignore[no-any-return]

    @property
    def chain(self) -> Chain | None:
        """The fallback chain (:mod:`extractkit.endpoints.chain`), built once; ``None``
        for a single endpoint, which takes the plain path."""
        if self._chain is _UNBUILT:
            with self._lock:
                if self._chain is _UNBUILT:
                    from .endpoints.chain import build_chain

                    self._chain = build_chain(self)
        return self._chain  # type: ignore[no-any-return]

    @property
    def profile(self) -> Profile:
        """The endpoint profile, known without loading a model (``endpoint="auto"`` asks
        the server once per base URL: :mod:`extractkit.detect`)."""
        return self.resolved.profile

    @property
    def model(self) -> str:
        model = self.resolved.model
        if model is None:
            raise ConfigurationError(NO_MODEL)
        return model

    @property
    def prompts(self) -> Prompts:
        if self._prompts is None:
            self._prompts = get_prompts(self.settings.prompt_dirs())
        return self._prompts

    @property
    def params(self) -> dict[str, Any]:
        if self._params is None:
            self._params = self._wire_params(self.settings.params)
        return self._params

    def _wire_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(params)
        wanted = self.profile.max_tokens_param
        other = "max_tokens" if wanted == "max_completion_tokens" else "max_completion_tokens"
        if other in out and wanted not in out:
            out[wanted] = out.pop(other)
        if not self.profile.supports_n and out.get("n", 1) != 1:
            raise ConfigurationError(f"endpoint profile {self.profile.name!r} does not support n > 1")
        return out

    def plan(self, spec: Any) -> Plan:
        """The cached plan for a declaration (a dict lookup after the first call)."""
        if isinstance(spec, (str, Path, dict)):
            # files may change on disk and dicts are unhashable: the compiler's own cache
            # (keyed by content / modification time) applies
            return build_plan(spec, self.resolved.mode, self.profile)
        found = self._plans.get(spec)
        if found is None:
            found = build_plan(spec, self.resolved.mode, self.profile)
            self._plans[spec] = found
        return found

    # -- building extractions ---------------------------------------------

    def messages(
        self, plan: Plan, template: PromptTemplate, variables: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        return self.prompts.messages(plan, template, variables)

    def start(
        self,
        plan: Plan,
        messages: Sequence[dict[str, Any]],
        *,
        context: Any = None,
        documents: Mapping[str, Any] | None = None,
        dropped_turns: tuple[int, ...] = (),
    ) -> Extraction[Any]:
        """An extraction of ``plan``; ``documents`` (name → text) are what its values
        are grounded in (see :mod:`extractkit.grounding`)."""
        feedback = self._feedback.get(plan)
        if feedback is None:
            feedback = self._feedback[plan] = functools.partial(self.prompts.feedback, plan)
        return Extraction(
            plan,
            messages,
            model=self.model,
            params=self.params,
            max_retries=self.resolved.max_retries,
            context=context,
            feedback=feedback,
            grounding=grounding_check(self.settings.resolved_grounding, plan.source, documents),
            coerce=self.resolved.coerce,
            transport=TransportRetry.with_retries(self.resolved.transport_retries,
                                                timeout=self.resolved.timeout,
                                                hard=self.resolved.hard_deadline),
            moderator=self.moderator,
            dropped_turns=dropped_turns,
            endpoint=self.resolved.endpoint_name,
        )

