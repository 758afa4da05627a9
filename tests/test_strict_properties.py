"""Property tests: random Pydantic models compile to strict wire schemas and round-trip."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, create_model

from extractkit.schema.strict import encode_strict
from tests.test_strict import strict_problems

_names = itertools.count()
_NO_DEFAULT = object()


@dataclass(frozen=True)
class Spec:
    """A field type, a strategy for its JSON values, and a valid default."""

    annotation: Any
    values: st.SearchStrategy[Any]
    default: Any = _NO_DEFAULT


_PRIMITIVES = [
    Spec(int, st.integers(-(2**40), 2**40), 0),
    Spec(float, st.floats(allow_nan=False, allow_infinity=False, width=32), 0.5),
    Spec(str, st.text(max_size=6), "d"),
    Spec(bool, st.booleans(), False),
    Spec(Literal["a", "b"], st.sampled_from(["a", "b"]), "b"),
    Spec(Literal[1, 2, "x"], st.sampled_from([1, 2, "x"]), 1),
]


def _optional(s: Spec) -> Spec:
    return Spec(Optional[s.annotation], st.none() | s.values, None)  # noqa: UP045


def _list(s: Spec) -> Spec:
    return Spec(list[s.annotation], st.lists(s.values, max_size=3), [])  # type: ignore[name-defined]


def _dict(s: Spec) -> Spec:
    values = st.dictionaries(st.text(max_size=4), s.values, max_size=3)
    return Spec(dict[str, s.annotation], values, {})  # type: ignore[name-defined]


def _list_or_dict(s: Spec) -> Spec:
    annotation = Union[list[s.annotation], dict[str, s.annotation]]  # type: ignore[name-defined]  # noqa: UP007
    values = st.lists(s.values, max_size=2) | st.dictionaries(
        st.text(max_size=3), s.values, max_size=2
    )
    return Spec(annotation, values)


@st.composite
def _model(draw: st.DrawFn, children: st.SearchStrategy[Spec]) -> Spec:
    specs = draw(st.lists(children, min_size=1, max_size=4))
    fields: dict[str, Any] = {}
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for i, spec in enumerate(specs):
        name = f"f{i}"
        if spec.default is not _NO_DEFAULT and draw(st.booleans()):
            fields[name] = (spec.annotation, spec.default)
            optional[name] = spec.values
        else:
            fields[name] = (spec.annotation, ...)
            required[name] = spec.values
    model = create_model(f"M{next(_names)}", **fields)
    return Spec(model, st.fixed_dictionaries(required, optional=optional))


def _extend(children: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
    return st.one_of(
        children.map(_optional),
        children.map(_list),
        children.map(_dict),
        children.map(_list_or_dict),
        _model(children),
    )


_SPECS = st.recursive(st.sampled_from(_PRIMITIVES), _extend, max_leaves=8)
_ROOTS = _model(_SPECS)
_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(root=_ROOTS, data=st.data())
def test_random_models_compile_and_round_trip(root: Spec, data: st.DataObject) -> None:
    model: type[BaseModel] = root.annotation
    enc = encode_strict(model.model_json_schema())
    assert strict_problems(enc.wire) == []
    wire_validator = Draft202012Validator(enc.wire)
    instance = model.model_validate(data.draw(root.values))
    original = instance.model_dump(mode="json")

    wire = enc.encode_instance(original)
    wire_validator.validate(wire)
    back = enc.decode(wire)
    assert back == original
    assert model.model_validate(back) == instance

    # a model that answers null for every field with a default gets the defaults
    defaults = {n: f.default for n, f in model.model_fields.items() if not f.is_required()}
    for name in defaults:
        wire[name] = None
    wire_validator.validate(wire)
    filled = model.model_validate(enc.decode(wire))
    for name, default in defaults.items():
        assert getattr(filled, name) == default
