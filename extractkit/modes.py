"""Output modes: how a request asks for structure, where the answer is read from,
and what a re-ask looks like.

========== ================================================ ===========================
mode       request                                          answer read from
========== ================================================ ===========================
json_schema ``response_format={"type": "json_schema", ...}`` message content
tools      one function + forced ``tool_choice``            tool-call arguments
json_object ``response_format={"type": "json_object"}``     message content
           (+ ``"schema"`` where the profile allows); the
           schema is also rendered into the prompt
md_json    nothing; schema in the prompt, JSON in a         a fenced block in the content
           fenced block
========== ================================================ ===========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .profiles import Profile
from .schema import CompiledSchema, compile_schema


class UnreadableAnswer(ValueError):
    """The model's message has no single answer to read (e.g. a call to another tool)."""


class Mode:
    """Base class; one subclass per mode, stateless."""

    name: str = ""
    #: the schema is rendered into the system prompt
    prompted: bool = False

    def wire_format(self, profile: Profile) -> str:
        raise NotImplementedError

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, message: Any, expected: str | None = None) -> str | None:
        """The raw JSON text the model wrote (``expected``: the forced tool's name)."""
        return getattr(message, "content", None)

    def reask(self, message: Any, raw: str | None, feedback: str) -> list[dict[str, Any]]:
        """Messages that show the model its failed answer and the errors."""
        return [
            {"role": "assistant", "content": raw or ""},
            {"role": "user", "content": feedback},
        ]


class JsonSchemaMode(Mode):
    name = "json_schema"

    def wire_format(self, profile: Profile) -> str:
        return "strict" if profile.strict_schema else "plain"

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": compiled.source.name, "schema": compiled.wire}
        if compiled.source.description:
            spec["description"] = compiled.source.description
        if profile.strict_schema:
            spec["strict"] = True
        return {"response_format": {"type": "json_schema", "json_schema": spec}}


class ToolsMode(Mode):
    name = "tools"

    def wire_format(self, profile: Profile) -> str:
        return "strict" if profile.strict_schema else "plain"

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        name = compiled.source.name
        function: dict[str, Any] = {"name": name, "parameters": compiled.wire}
        if compiled.source.description:
            function["description"] = compiled.source.description
        if profile.strict_schema:
            function["strict"] = True
        return {
            "tools": [{"type": "function", "function": function}],
            "tool_choice": {"type": "function", "function": {"name": name}},
        }

    def read(self, message: Any, expected: str | None = None) -> str | None:
        """The arguments of the one call to ``expected`` (the forced tool).

        Raises :class:`UnreadableAnswer` for a call to another function,
        several calls, or arguments that are not a JSON string: each is an
        invalid answer (re-asked), never silently reinterpreted.
        """
        calls = getattr(message, "tool_calls", None)
        if not calls:
            return getattr(message, "content", None)
        names = [getattr(getattr(c, "function", None), "name", None) for c in calls]
        if len(calls) > 1:
            listed = ", ".join(repr(n) for n in names)
            raise UnreadableAnswer(
                f"the model made {len(calls)} tool calls ({listed}); exactly one call "
                f"to {expected or names[0]!r} is expected"
            )
        function = getattr(calls[0], "function", None)
        if expected is not None and names[0] != expected:
            raise UnreadableAnswer(f"the model called {names[0]!r}; the tool to call is {expected!r}")
        arguments = getattr(function, "arguments", None)
        if not isinstance(arguments, str):
            raise UnreadableAnswer(
                f"the tool call's arguments are {type(arguments).__name__}, not a JSON string"
            )
        return arguments

    def reask(self, message: Any, raw: str | None, feedback: str) -> list[dict[str, Any]]:
        calls = getattr(message, "tool_calls", None)
        if not calls:
            return super().reask(message, raw, feedback)
        call = calls[0]
        return [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": raw or ""},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": feedback},
        ]


class JsonObjectMode(Mode):
    name = "json_object"
    prompted = True

    def wire_format(self, profile: Profile) -> str:
        return "plain" if profile.json_object_schema else "prompt"

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        fmt: dict[str, Any] = {"type": "json_object"}
        if profile.json_object_schema and compiled.wire is not None:
            fmt["schema"] = compiled.wire
        return {"response_format": fmt}


class MarkdownJsonMode(Mode):
    name = "md_json"
    prompted = True

    def wire_format(self, profile: Profile) -> str:
        return "prompt"

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        return {}


MODE_TYPES: dict[str, Mode] = {
    m.name: m for m in (JsonSchemaMode(), ToolsMode(), JsonObjectMode(), MarkdownJsonMode())
}


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything per (schema, mode, profile) that does not change between calls."""

    compiled: CompiledSchema
    mode: Mode
    profile: Profile
    #: merged into every request (never mutated)
    fields: dict[str, Any]

    @property
    def source(self) -> Any:
        return self.compiled.source

    @property
    def tool_name(self) -> str | None:
        """The forced tool's name in tools mode."""
        choice = self.fields.get("tool_choice")
        return choice["function"]["name"] if isinstance(choice, dict) else None

    def read(self, message: Any) -> str | None:
        """The raw answer text of ``message``; :class:`UnreadableAnswer` if there is none."""
        return self.mode.read(message, self.tool_name)


#: keyed by the profile itself (a frozen value), not its name: re-registering a
#: profile under the same name with other capabilities compiles a new plan
_plans: dict[tuple[Any, str, Profile], Plan] = {}


def build_plan(spec: Any, mode: str, profile: Profile) -> Plan:
    """Resolve ``auto``, compile the schema to the mode's wire format, cache the result."""
    from .schema import get_source

    source = get_source(spec)
    resolved = profile.resolve_mode(mode)
    key = (source, resolved, profile)
    plan = _plans.get(key)
    if plan is None:
        mode_obj = MODE_TYPES[resolved]
        compiled = compile_schema(source, mode_obj.wire_format(profile))
        plan = Plan(compiled, mode_obj, profile, mode_obj.request_fields(compiled, profile))
        _plans[key] = plan
    return plan
