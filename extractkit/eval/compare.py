"""One document: the expected value against the extracted one, leaf by leaf.

Both values are walked together by the schema (the nodes of
:mod:`extractkit.schema.view`: properties, items, union branches). Every
scalar gets one :class:`LeafOutcome`:

* ``correct`` -- both sides have it and the field's matcher accepts it (a true positive);
* ``wrong`` -- both have it, the matcher rejects it (a false positive *and* a false negative);
* ``missing`` -- only the expected value has it (a false negative);
* ``extra`` -- only the extracted value has it (a false positive).

``null`` counts as absent. List items are paired by the best assignment
on item similarity (:func:`extractkit.eval.assign.best_pairs`), not by
position; unpaired expected items are missing, unpaired extracted ones
extra. Tuples (``prefixItems``) compare by position.

A field is the JSON pointer with list indexes replaced by ``*``
(``/items/*/name``): the unit precision and recall are reported for.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..markers import MATCH_KEY
from ..schema.jsonutil import join_pointer
from ..schema.view import Node, json_type, schema_view
from .assign import best_pairs
from .matchers import Matcher, default_matcher, make_matcher, normalize_text

STATUSES = ("correct", "wrong", "missing", "extra")
_BY_VALUE_TYPE = {"string": "normalized", "number": "numeric", "integer": "numeric"}


@dataclass(frozen=True)
class LeafOutcome:
    """How one scalar came out. ``pointer`` is where it is in the extracted value
    (for ``missing``: in the expected one); ``expected_pointer`` in the expected value."""

    field: str
    pointer: str
    expected_pointer: str | None
    status: str
    expected: Any
    actual: Any
    matcher: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "pointer": self.pointer,
                "expected_pointer": self.expected_pointer, "status": self.status,
                "expected": self.expected, "actual": self.actual, "matcher": self.matcher}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LeafOutcome:
        return cls(str(data["field"]), str(data["pointer"]), data.get("expected_pointer"),
                   str(data["status"]), data.get("expected"), data.get("actual"),
                   str(data.get("matcher", "")))


class Comparer:
    """Compares values of one schema; matchers are built once per field.

    ``match_config`` maps field patterns (``/items/*/name``; ``*`` and ``?``
    as in shell globs, tried in order) to matcher specs; it wins over the
    schema's ``x-match`` markers, which win over the defaults by type.
    """

    def __init__(self, schema: Any, match_config: Mapping[str, Any] | None = None) -> None:
        self.view = schema_view(schema if schema is not None else {})
        self._config = [(pattern, make_matcher(spec, f"match config {pattern!r}"))
                        for pattern, spec in (match_config or {}).items()]
        self._matchers: dict[tuple[str, str, str], Matcher] = {}

    def matcher(self, field: str, node: Node | None, value: Any = None) -> Matcher:
        """The matcher of a field (where the schema says nothing, by ``value``'s type)."""
        untyped = node is None or node.kind == "any"
        key = (field, node.pointer if node is not None else "",
               json_type(value) if untyped else "")
        found = self._matchers.get(key)
        if found is None:
            found = self._choose(field, node, key[2])
            self._matchers[key] = found
        return found

    def _choose(self, field: str, node: Node | None, value_type: str) -> Matcher:
        for pattern, matcher in self._config:
            if fnmatch.fnmatchcase(field, pattern):
                return matcher
        spec = node.marker(MATCH_KEY[2:]) if node is not None else None
        if spec is not None:
            return make_matcher(spec, f"x-match of {field or '/'}")
        if value_type:  # no schema here: plain JSON
            return make_matcher(_BY_VALUE_TYPE.get(value_type, "exact"))
        assert node is not None
        return default_matcher(node)

    # -- whole values -----------------------------------------------------------

    def compare(self, expected: Any, actual: Any) -> list[LeafOutcome]:
        """Every leaf outcome of ``actual`` against ``expected`` (the root schema)."""
        out: list[LeafOutcome] = []
        self._walk(expected, actual, self.view.root, "", "", "", out)
        return out

    def missing(self, expected: Any) -> list[LeafOutcome]:
        """A failed document: every expected leaf is missing."""
        return self.compare(expected, None)

    def similarity(self, expected: Any, actual: Any, node: Node | None, field: str) -> float:
        """How alike two values are (what list alignment maximizes): the share of
        their leaves that match, at the same place, by the field's matcher (for two
        scalars: the matcher's score)."""
        return _flat_similarity(self._flat(expected, node, field), self._flat(actual, node, field))

    def _flat(self, value: Any, node: Node | None, field: str) -> list[_FlatLeaf]:
        """The leaves of a value with their place in it and their field's matcher."""
        out: list[_FlatLeaf] = []
        stack: list[tuple[Any, Node | None, str, str]] = [(value, node, field, "")]
        while stack:
            item, at, name, rel = stack.pop()
            if item is None:
                continue
            at = _fit(at, item)
            if isinstance(item, Mapping):
                for key, sub in item.items():
                    child = (at.properties.get(key) or at.additional) if at is not None else None
                    stack.append((sub, child, join_pointer(name, key), join_pointer(rel, key)))
            elif _is_list(item):
                inner = at.items if at is not None else None
                for i, sub in enumerate(item):
                    stack.append((sub, inner, join_pointer(name, "*"), join_pointer(rel, i)))
            else:
                out.append((rel, item, self.matcher(name, at, item)))
        return out

    # -- walking ----------------------------------------------------------------

    def _walk(self, expected: Any, actual: Any, node: Node | None, e_ptr: str, a_ptr: str,
              field: str, out: list[LeafOutcome]) -> None:
        if expected is None and actual is None:
            return
        node = _fit(node, expected if expected is not None else actual)
        if actual is None:
            actual = _empty_like(expected)
        elif expected is None:
            expected = _empty_like(actual)
        if isinstance(expected, Mapping) and isinstance(actual, Mapping):
            keys = list(expected) + [k for k in actual if k not in expected]
            for key in keys:
                child = (node.properties.get(key) or node.additional) if node is not None else None
                self._walk(expected.get(key), actual.get(key), child,
                           join_pointer(e_ptr, key), join_pointer(a_ptr, key),
                           join_pointer(field, key), out)
            return
        if _is_list(expected) and _is_list(actual):
            self._walk_lists(expected, actual, node, e_ptr, a_ptr, field, out)
            return
        if not _is_scalar(expected) or not _is_scalar(actual):
            # a container on one side (or different containers): nothing pairs up
            self._one_side(expected, node, e_ptr, field, "missing", out)
            self._one_side(actual, node, a_ptr, field, "extra", out)
            return
        matcher = self.matcher(field, node, expected if expected is not None else actual)
        if expected is None:
            out.append(LeafOutcome(field, a_ptr, None, "extra", None, actual, matcher.name))
        elif actual is None:
            out.append(LeafOutcome(field, e_ptr, e_ptr, "missing", expected, None, matcher.name))
        else:
            status = "correct" if matcher.matches(expected, actual) else "wrong"
            out.append(LeafOutcome(field, a_ptr, e_ptr, status, expected, actual, matcher.name))

    def _walk_lists(self, expected: Sequence[Any], actual: Sequence[Any], node: Node | None,
                    e_ptr: str, a_ptr: str, field: str, out: list[LeafOutcome]) -> None:
        item_field = join_pointer(field, "*")
        prefix = node.prefix_items if node is not None else []
        if prefix:  # a tuple: positions mean something
            for i in range(max(len(expected), len(actual))):
                child = prefix[i] if i < len(prefix) else (node.items if node else None)
                self._walk(expected[i] if i < len(expected) else None,
                           actual[i] if i < len(actual) else None, child,
                           join_pointer(e_ptr, i), join_pointer(a_ptr, i), item_field, out)
            return
        items = node.items if node is not None else None
        sides = (expected, actual)
        flats: tuple[dict[int, list[_FlatLeaf]], dict[int, list[_FlatLeaf]]] = ({}, {})

        def flat(side: int, index: int) -> list[_FlatLeaf]:  # only items without an equal
            found = flats[side].get(index)
            if found is None:
                found = flats[side][index] = self._flat(sides[side][index], items, item_field)
            return found

        pairs = best_pairs(expected, actual,
                           lambda i, j: _flat_similarity(flat(0, i), flat(1, j)),
                           lambda side, index: _keys(flat(side, index)))
        paired_e = {i for i, _ in pairs}
        paired_a = {j for _, j in pairs}
        for i, j in pairs:
            self._walk(expected[i], actual[j], items, join_pointer(e_ptr, i),
                       join_pointer(a_ptr, j), item_field, out)
        for i, item in enumerate(expected):
            if i not in paired_e:
                self._one_side(item, items, join_pointer(e_ptr, i), item_field, "missing", out)
        for j, item in enumerate(actual):
            if j not in paired_a:
                self._one_side(item, items, join_pointer(a_ptr, j), item_field, "extra", out)

    def _one_side(self, value: Any, node: Node | None, ptr: str, field: str, status: str,
                  out: list[LeafOutcome]) -> None:
        if status == "missing":
            self._walk(value, None, node, ptr, ptr, field, out)
        else:
            self._walk(None, value, node, ptr, ptr, field, out)


_FlatLeaf = tuple[str, Any, Matcher]


def _flat_similarity(a: list[_FlatLeaf], b: list[_FlatLeaf]) -> float:
    if not a and not b:
        return 1.0
    if len(a) == len(b) == 1 and a[0][0] == b[0][0] == "":  # two scalars
        return a[0][2].score(a[0][1], b[0][1])
    other = {rel: value for rel, value, _ in b}
    right = sum(1 for rel, value, matcher in a
                if rel in other and matcher.matches(value, other[rel]))
    return 2 * right / (len(a) + len(b))


def _keys(leaves: list[_FlatLeaf]) -> set[Any]:
    """Hashable keys of an item's leaves, for pairing long lists by shared values."""
    return {(rel, normalize_text(value) if isinstance(value, str) else repr(value))
            for rel, value, _ in leaves}


def _fit(node: Node | None, value: Any) -> Node | None:
    if node is None:
        return None
    return node.branch_for(value) if value is not None else node.unwrap()


def _empty_like(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {}
    return [] if _is_list(value) else None


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (Mapping, list, tuple))


__all__ = ["STATUSES", "Comparer", "LeafOutcome"]
