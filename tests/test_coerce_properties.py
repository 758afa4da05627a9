"""Property tests: random valid instances of random small schemas, broken by random
applications of the failure classes, come back equal to the instance or are rejected --
never a different valid value. Run through the loop's check_text (the real path)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from extractkit.loop import Extraction
from extractkit.modes import build_plan
from extractkit.profiles import get_profile
from extractkit.results import Usage

# Names with distinct normalized forms, plus two that collide ("user_id"/"userid").
NAMES = ["name", "unit_price", "age", "city", "isActive", "tags", "label", "user_id", "userid",
         "Total Amount"]
WORDS = st.text(alphabet="abcXYZ 19-", min_size=0, max_size=6)

PROPS = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FEWER = settings(PROPS, max_examples=150)


def _scalar_schemas() -> st.SearchStrategy[dict[str, Any]]:
    enums = st.lists(st.sampled_from(["red", "Red", "blue", "GREEN", "x y"]), min_size=1,
                     max_size=3, unique=True).map(lambda e: {"enum": e})
    plain = st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "number"},
                             {"type": "boolean"}])
    base = st.one_of(plain, enums)
    return st.one_of(base, base.map(_nullable))


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _objects(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
        props = {n: draw(children) for n in names}
        required = [n for n in names if draw(st.booleans())]
        schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    return build()


SCHEMAS = st.recursive(
    _scalar_schemas(),
    lambda inner: st.one_of(
        _objects(inner),
        inner.map(lambda items: {"type": "array", "items": items}),
    ),
    max_leaves=6,
)
ROOTS = st.one_of(_objects(SCHEMAS), SCHEMAS)


def instances(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of(st.none(), instances(schema["anyOf"][0]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        return WORDS
    if kind == "integer":
        return st.integers(-10**6, 10**6)
    if kind == "number":
        return st.one_of(st.integers(-1000, 1000),
                         st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(instances(schema["items"]), max_size=3)

    @st.composite
    def obj(draw: st.DrawFn) -> dict[str, Any]:
        out = {}
        for name, sub in schema["properties"].items():
            if name in schema["required"] or draw(st.booleans()):
                out[name] = draw(instances(sub))
        return out

    return obj()


# -- failure classes ------------------------------------------------------------------------

def _key_variant(draw: st.DrawFn, key: str) -> str:
    how = draw(st.sampled_from(["upper", "title", "space", "hyphen", "camel", "trail"]))
    if how == "upper":
        return key.upper()
    if how == "title":
        return key.title()
    if how == "space":
        return key.replace("_", " ")
    if how == "hyphen":
        return key.replace("_", "-").replace(" ", "-")
    if how == "camel":
        head, *rest = key.replace(" ", "_").split("_")
        return head + "".join(p.title() for p in rest)
    return key + " "


def _stringified(draw: st.DrawFn, value: Any, schema: dict[str, Any]) -> Any:
    """A scalar written as a string (or an enum value in another case), where the schema
    does not admit that string as written (else it would be a different valid value)."""
    inner = schema["anyOf"][0] if "anyOf" in schema else schema
    if isinstance(value, bool):
        return draw(st.sampled_from([str(value).lower(), str(value)]))
    if isinstance(value, int):
        return draw(st.sampled_from([str(value), f"{value}.0"]))
    if isinstance(value, float):
        return repr(value)
    if value is None and inner.get("type") != "string" and "enum" not in inner:
        return "null"
    if isinstance(value, str) and "enum" in inner:
        recased = [v for v in (value.upper(), value.lower(), value.title()) if v not in inner["enum"]]
        return draw(st.sampled_from(recased)) if recased else value
    return value


def _unwrap(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["anyOf"][0] if "anyOf" in schema else schema


@st.composite
def broken(draw: st.DrawFn, value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with failure classes applied at random places."""
    inner = _unwrap(schema)
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            sub = draw(broken(sub, inner["properties"][key]))
            if draw(st.integers(0, 3)) == 0:
                key = _key_variant(draw, key)
            out[key] = sub
        return out
    if isinstance(value, list):
        items = [draw(broken(v, inner["items"])) for v in value]
        if len(items) == 1 and isinstance(items[0], dict) and draw(st.booleans()):
            return items[0]  # a single object where a one-item list belongs
        return items
    if draw(st.integers(0, 2)) == 0:
        return _stringified(draw, value, schema)
    return value


@st.composite
def replies(draw: st.DrawFn, data: Any, other: Any) -> tuple[str, bool]:
    """The reply text, and whether it also holds a second (valid) answer."""
    text = json.dumps(data)
    how = draw(st.sampled_from(["plain", "prose", "fenced", "twice", "two"]))
    if how == "prose":
        return f"Here is the result:\n{text}\nHope this helps.", False
    if how == "fenced":
        return f"Sure.\n```json\n{text}\n```", False
    if how == "twice":
        return f"{text}\n\nAgain: {text}", False
    if how == "two":
        return f"{text}\nor perhaps\n{json.dumps(other)}", True
    return text, False


def _check(schema: dict[str, Any], raw: str, *, coerce: bool = True) -> Any:
    plan = build_plan(schema, "md_json", get_profile("generic"))
    return Extraction(plan, [], model="m", coerce=coerce).check_text(raw, None, Usage())


def _wire(schema: dict[str, Any], value: Any) -> Any:
    """The instance as the model would write it: wrapped for non-object roots."""
    return value if schema.get("type") == "object" else {"value": value}


def _wire_schema(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "object":
        return schema
    return {"type": "object", "properties": {"value": schema}, "required": ["value"]}


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[Any], str]:
    schema = draw(ROOTS)
    value = draw(instances(schema))
    other = draw(instances(schema))
    data = draw(broken(_wire(schema, value), _wire_schema(schema)))
    if schema.get("type") != "object" and draw(st.booleans()):
        data = data["value"] if isinstance(data, dict) and "value" in data else data
    lists = [k for k, sub in schema.get("properties", {}).items()
             if _unwrap(sub).get("type") == "array"]
    if (schema.get("type") == "object" and isinstance(data, dict) and len(data) == 1
            and len(lists) == 1 and isinstance(next(iter(data.values())), list)
            and draw(st.booleans())):
        data = next(iter(data.values()))  # a bare list for the object's one list field
    raw, has_other = draw(replies(data, _wire(schema, other)))
    # of two documents the one that validates is taken, so either may come back
    return schema, [value, other] if has_other else [value], raw


@PROPS
@given(cases())
def test_broken_answers_come_back_equal_or_are_rejected(case):
    schema, allowed, raw = case
    assume(not _check(schema, raw, coerce=False).ok)  # only what fails plain validation
    attempt = _check(schema, raw)
    if attempt.ok:
        assert any(attempt.value == v and _same_types(attempt.value, v) for v in allowed), \
            (raw, attempt.repairs)


@FEWER
@given(ROOTS.flatmap(lambda s: st.tuples(st.just(s), instances(s))))
def test_valid_answers_are_never_changed(case):
    schema, value = case
    attempt = _check(schema, json.dumps(_wire(schema, value)))
    assert attempt.ok and attempt.value == value
    assert attempt.repairs == ()


KEYED = _objects(st.sampled_from([{"type": "integer"}, {"type": "boolean"}, {"type": "number"}])
                 ).map(lambda s: {**s, "required": list(s["properties"]),
                                  "additionalProperties": False})


@FEWER
@given(KEYED.flatmap(lambda s: st.tuples(st.just(s), instances(s))))
def test_key_case_and_literal_strings_are_recovered(case):
    schema, value = case
    names = [_norm(n) for n in schema["properties"]]
    assume(len(set(names)) == len(names))  # no two properties with the same normalized name
    bad = {k.upper(): json.dumps(v) for k, v in value.items()}
    attempt = _check(schema, json.dumps(bad))
    assert attempt.ok, (bad, attempt.errors)
    assert attempt.value == value and _same_types(attempt.value, value)


def _same_types(a: Any, b: Any) -> bool:
    """Equal values of the same JSON types (``1 == 1.0 == True`` in Python)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_same_types(a[k], b[k]) for k in a if k in b)
    if isinstance(a, list) and isinstance(b, list):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    return True


def _norm(name: str) -> str:
    return "".join(c for c in name if c not in " _-").casefold()
