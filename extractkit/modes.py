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


class Mode:
    """Base class; one subclass per mode, stateless."""

    name: str = ""
    #: the schema is rendered into the system prompt
    prompted: bool = False

    def target(self, profile: Profile) -> str:
        raise NotImplementedError

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, message: Any) -> str | None:
        """The raw JSON text the model wrote."""
        return getattr(message, "content", None)

    def reask(self, message: Any, raw: str | None, feedback: str) -> list[dict[str, Any]]:
        """Messages that show the model its failed answer and the errors."""
        return [
            {"role": "assistant", "content": raw or ""},
            {"role": "user", "content": feedback},
        ]


class JsonSchemaMode(Mode):
    name = "json_schema"

    def target(self, profile: Profile) -> str:
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

    def target(self, profile: Profile) -> str:
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

    def read(self, message: Any) -> str | None:
        calls = getattr(message, "tool_calls", None)
        if calls:
            return calls[0].function.arguments
        return getattr(message, "content", None)

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

    def target(self, profile: Profile) -> str:
        return "plain" if profile.json_object_schema else "prompt"

    def request_fields(self, compiled: CompiledSchema, profile: Profile) -> dict[str, Any]:
        fmt: dict[str, Any] = {"type": "json_object"}
        if profile.json_object_schema and compiled.wire is not None:
            fmt["schema"] = compiled.wire
        return {"response_format": fmt}


class MarkdownJsonMode(Mode):
    name = "md_json"
    prompted = True

    def target(self, profile: Profile) -> str:
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


#: keyed by the profile itself (a frozen value), not its name: re-registering a
#: profile under the same name with other capabilities compiles a new plan
_plans: dict[tuple[Any, str, Profile], Plan] = {}


def build_plan(spec: Any, mode: str, profile: Profile) -> Plan:
    """Resolve ``auto``, compile the schema for the mode's target, cache the result."""
    from .schema import get_source

    source = get_source(spec)
    resolved = profile.resolve_mode(mode)
    key = (source, resolved, profile)
    plan = _plans.get(key)
    if plan is None:
        mode_obj = MODE_TYPES[resolved]
        compiled = compile_schema(source, mode_obj.target(profile))
        plan = Plan(compiled, mode_obj, profile, mode_obj.request_fields(compiled, profile))
        _plans[key] = plan
    return plan
