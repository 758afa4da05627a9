"""Tests for extractkit.repair: locating and syntax-only repair of model JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractkit.repair import (
    FIX_BYTE_ORDER_MARK,
    FIX_CLOSED_ARRAY,
    FIX_CLOSED_OBJECT,
    FIX_CLOSED_STRING,
    FIX_CODE_FENCE,
    FIX_COMMENT,
    FIX_CONTROL_CHARACTER,
    FIX_DANGLING_COMMA,
    FIX_DANGLING_KEY,
    FIX_ESCAPED_APOSTROPHE,
    FIX_INCOMPLETE_VALUE,
    FIX_PYTHON_LITERAL,
    FIX_SINGLE_QUOTES,
    FIX_SURROUNDING_TEXT,
    FIX_TRAILING_COMMA,
    FIX_UNQUOTED_KEY,
    Repaired,
    find_json,
    parse_reply,
    repair_json,
)

# --------------------------------------------------------------------------- helpers


def _repaired(text: str) -> Repaired:
    result = repair_json(text)
    assert result is not None, f"could not repair {text!r}"
    return result


def _data(text: str) -> Any:
    return json.loads(_repaired(text).text)


# --------------------------------------------------------------------------- valid input


def test_valid_json_is_returned_unchanged() -> None:
    text = '  {"a" : [1,2 , {"b": null}],\n"c": "x\\ny"}  \n'
    assert repair_json(text) == Repaired(text, ())
    assert find_json(text) == text
    assert parse_reply(text) == ({"a": [1, 2, {"b": None}], "c": "x\ny"}, ())


# --------------------------------------------------------------------------- one repair kind each


def test_code_fence() -> None:
    result = _repaired('```json\n{"a": 1}\n```')
    assert result == Repaired('{"a": 1}', (FIX_CODE_FENCE,))


def test_code_fence_and_prose() -> None:
    text = 'Sure! Here it is:\n```json\n{"a": [1, 2]}\n```\nLet me know.'
    assert _repaired(text) == Repaired('{"a": [1, 2]}', (FIX_CODE_FENCE, FIX_SURROUNDING_TEXT))


def test_prose_around_json() -> None:
    text = 'The answer is {"a": 1} -- hope this helps!'
    assert _repaired(text) == Repaired('{"a": 1}', (FIX_SURROUNDING_TEXT,))


def test_trailing_commas() -> None:
    result = _repaired('{"a": [1, 2,], "b": {"c": 3,},}')
    assert result.fixes == (FIX_TRAILING_COMMA,)
    assert result.text == '{"a": [1, 2], "b": {"c": 3}}'


def test_comments_outside_strings_only() -> None:
    text = '{\n  // the id\n  "id": 7, /* block } ] */ "url": "http://x/*y*/ // z"\n}'
    result = _repaired(text)
    assert result.fixes == (FIX_COMMENT,)
    assert json.loads(result.text) == {"id": 7, "url": "http://x/*y*/ // z"}


def test_block_comment_does_not_join_tokens() -> None:
    assert repair_json("[1/* gap */2]") is None


def test_single_quoted_strings_and_keys() -> None:
    text = """{'name': 'O\\'Brien', 'quote': 'say "hi"', "mixed": 'a\\nb'}"""
    result = _repaired(text)
    assert result.fixes == (FIX_SINGLE_QUOTES,)
    assert json.loads(result.text) == {"name": "O'Brien", "quote": 'say "hi"', "mixed": "a\nb"}


def test_apostrophe_escape_in_double_quoted_string() -> None:
    result = _repaired('{"a": "it\\\'s"}')
    assert result.fixes == (FIX_ESCAPED_APOSTROPHE,)
    assert json.loads(result.text) == {"a": "it's"}


def test_unquoted_keys() -> None:
    result = _repaired('{name: "x", _n2: 1, $ref: null, True: 1}')
    assert result.fixes == (FIX_UNQUOTED_KEY,)
    assert json.loads(result.text) == {"name": "x", "_n2": 1, "$ref": None, "True": 1}


def test_raw_control_characters_in_strings() -> None:
    result = _repaired('{"a": "line1\nline2\tend\r", "b": "\x00\x1f"}')
    assert result.fixes == (FIX_CONTROL_CHARACTER,)
    assert json.loads(result.text) == {"a": "line1\nline2\tend\r", "b": "\x00\x1f"}


def test_python_literals_outside_strings() -> None:
    result = _repaired('{"a": True, "b": False, "c": [None], "d": "True None"}')
    assert result.fixes == (FIX_PYTHON_LITERAL,)
    assert json.loads(result.text) == {"a": True, "b": False, "c": [None], "d": "True None"}


def test_byte_order_mark() -> None:
    assert _repaired('\ufeff{"a": 1}') == Repaired('{"a": 1}', (FIX_BYTE_ORDER_MARK,))


def test_several_fixes_are_listed_in_order() -> None:
    text = "```\n{'a': True, // note\n b: [1, 2,],}\n```"
    result = _repaired(text)
    assert json.loads(result.text) == {"a": True, "b": [1, 2]}
    assert result.fixes == (
        FIX_CODE_FENCE,
        FIX_SINGLE_QUOTES,
        FIX_PYTHON_LITERAL,
        FIX_COMMENT,
        FIX_UNQUOTED_KEY,
        FIX_TRAILING_COMMA,
    )


# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize(
    ("text", "expected", "fixes"),
    [
        ('{"a": 1, "b": "hel', {"a": 1, "b": "hel"}, (FIX_CLOSED_STRING, FIX_CLOSED_OBJECT)),
        ('{"a": 1, "b"', {"a": 1}, (FIX_DANGLING_KEY, FIX_CLOSED_OBJECT)),
        ('{"a": 1, "b":', {"a": 1}, (FIX_DANGLING_KEY, FIX_CLOSED_OBJECT)),
        ('{"a": 1, "b": ', {"a": 1}, (FIX_DANGLING_KEY, FIX_CLOSED_OBJECT)),
        ('{"a": 1, b', {"a": 1}, (FIX_DANGLING_KEY, FIX_CLOSED_OBJECT)),
        ('{"a": 1,', {"a": 1}, (FIX_DANGLING_COMMA, FIX_CLOSED_OBJECT)),
        ("[1, 2,\n", [1, 2], (FIX_DANGLING_COMMA, FIX_CLOSED_ARRAY)),
        ("[1, 2, tr", [1, 2], (FIX_INCOMPLETE_VALUE, FIX_CLOSED_ARRAY)),
        ("[1, 2, 3", [1, 2], (FIX_INCOMPLETE_VALUE, FIX_CLOSED_ARRAY)),
        ('{"n": -', {}, (FIX_INCOMPLETE_VALUE, FIX_CLOSED_OBJECT)),
        ("[1, 2, 3\n", [1, 2, 3], (FIX_CLOSED_ARRAY,)),
        ('{"a": true', {"a": True}, (FIX_CLOSED_OBJECT,)),
        ('{"a": [1, {"b": "x', {"a": [1, {"b": "x"}]}, None),
        ('{"a": "x\\u00', {"a": "x"}, None),
        ('["ab\\', ["ab"], None),
        ('["\\ud83d\\ude0', [""], None),
        ('["\\ud83d', [""], None),
        ('{"a": [1, 2] // done', {"a": [1, 2]}, None),
        ("[", [], (FIX_CLOSED_ARRAY,)),
        ('{"', {}, (FIX_DANGLING_KEY, FIX_CLOSED_OBJECT)),
        ('"abc', "abc", (FIX_CLOSED_STRING,)),
    ],
)
def test_truncated_tail(text: str, expected: Any, fixes: tuple[str, ...] | None) -> None:
    result = _repaired(text)
    assert json.loads(result.text) == expected
    if fixes is not None:
        assert result.fixes == fixes


def test_truncated_reply_inside_unclosed_fence() -> None:
    data, fixes = parse_reply('Sure:\n```json\n{"items": [{"n": 1}, {"n": 2, "note": "ab')
    assert data == {"items": [{"n": 1}, {"n": 2, "note": "ab"}]}
    assert fixes[:2] == (FIX_CODE_FENCE, FIX_SURROUNDING_TEXT)
    assert FIX_CLOSED_STRING in fixes


# --------------------------------------------------------------------------- refusing to guess


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "no json here",
        '{"a" 1}',
        '{"a": }',
        "[1,,2]",
        '{"a": 1 "b": 2}',
        '{"a": undefined}',
        "[1, 2}",
        '{"a": 01}',
        '{"a": "\\x41"}',
        "tr",
        "-",
    ],
)
def test_unrepairable_returns_none(text: str) -> None:
    assert repair_json(text) is None


def test_parse_reply_error_names_reason_and_position() -> None:
    text = 'Result: {"a" 1}'
    with pytest.raises(ValueError, match="expected ':'") as info:
        parse_reply(text)
    assert isinstance(info.value, json.JSONDecodeError)
    assert info.value.pos == text.index("1")
    assert (info.value.lineno, info.value.colno) == (1, text.index("1") + 1)


def test_parse_reply_error_position_inside_fence() -> None:
    text = 'Here:\n```json\n{"a": [1,\n  undefined]}\n```'
    with pytest.raises(ValueError, match="unknown literal 'undefined'") as info:
        parse_reply(text)
    assert isinstance(info.value, json.JSONDecodeError)
    assert info.value.pos == text.index("undefined")
    assert info.value.lineno == 4


def test_parse_reply_without_json() -> None:
    with pytest.raises(ValueError, match="no JSON object or array found"):
        parse_reply("I can't help with that.")


def test_parse_reply_returns_data_and_fixes() -> None:
    assert parse_reply("Result: {'ok': True}") == (
        {"ok": True},
        (FIX_SURROUNDING_TEXT, FIX_SINGLE_QUOTES, FIX_PYTHON_LITERAL),
    )


# --------------------------------------------------------------------------- find_json


def test_find_json_json_fence() -> None:
    assert find_json('Here you go:\n```json\n{"a": 1}\n```\nBye') == '{"a": 1}'


def test_find_json_bare_fence() -> None:
    assert find_json("```\n[1, 2]\n```") == "[1, 2]"


def test_find_json_skips_fences_without_json() -> None:
    text = (
        "Run this:\n```bash\necho '{\"x\": 1}'\n```\n"
        "Output:\n```\nno json here\n```\n"
        'Result:\n```json\n{"a": [1]}\n```\n'
        'Other:\n```json\n{"b": 2}\n```'
    )
    assert find_json(text) == '{"a": [1]}'


def test_find_json_fence_with_backticks_inside_string() -> None:
    text = '```json\n{"code": "```py\\nx = 1\\n```"}\n```'
    assert find_json(text) == '{"code": "```py\\nx = 1\\n```"}'


def test_find_json_fence_closed_on_the_last_line() -> None:
    assert find_json('```json\n{"a": 1}```\nThanks') == '{"a": 1}'


def test_find_json_ignores_backticks_inside_json_strings() -> None:
    text = 'Result: ["```", [1]] done'
    assert find_json(text) == '["```", [1]]'


def test_find_json_single_line_fence() -> None:
    assert find_json('```json {"a": 1} ```') == '{"a": 1}'


def test_find_json_braces_inside_strings() -> None:
    text = 'Answer: {"a": "} {", "b": {"c": "]"}, "d": [1]} done.'
    assert find_json(text) == '{"a": "} {", "b": {"c": "]"}, "d": [1]}'


def test_find_json_single_quoted_braces_and_apostrophes() -> None:
    text = """Here's what I found: {'a': '}', "b": "it's"} That's all."""
    assert find_json(text) == """{'a': '}', "b": "it's"}"""


def test_find_json_single_quoted_key_after_comment() -> None:
    text = "Here's the result: { /* start */ '{': null} (that's all)"
    assert find_json(text) == "{ /* start */ '{': null}"


def test_find_json_skips_unparsable_spans() -> None:
    assert find_json('Use the {name} field: {"name": "x"}') == '{"name": "x"}'


def test_find_json_array_in_prose() -> None:
    assert find_json('The list: [1, {"a": [2]}, 3].') == '[1, {"a": [2]}, 3]'


def test_find_json_truncated_span_runs_to_the_end() -> None:
    assert find_json('Here: {"a": [1, 2') == '{"a": [1, 2'


def test_find_json_returns_first_candidate_when_none_repairs() -> None:
    assert find_json('See {"a" 1} and {"b" 2}') == '{"a" 1}'


def test_find_json_none_without_candidate() -> None:
    assert find_json("No JSON in this reply.") is None
    assert find_json("") is None


# --------------------------------------------------------------------------- properties

#: a few hundred examples per property, in every CI run (kept fast: small values)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_TRICKY = "ab\"'\\\n\t\r\x00 {}[],:/*#`é\u2028😀"

_texts = st.text(max_size=12) | st.text(st.sampled_from(_TRICKY), max_size=12)
_keys = _texts | st.from_regex(r"[A-Za-z_$][A-Za-z0-9_$]{0,6}", fullmatch=True)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _texts
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_containers = st.lists(_values, max_size=4) | st.dictionaries(_keys, _values, max_size=4)


@st.composite
def _dumps(draw: st.DrawFn, values: st.SearchStrategy[Any] = _values) -> tuple[Any, str]:
    value = draw(values)
    text = json.dumps(
        value,
        indent=draw(st.sampled_from([None, 0, 2, "\t"])),
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
        sort_keys=draw(st.booleans()),
    )
    return value, text


@_SETTINGS
@given(_dumps())
def test_property_valid_json_untouched(case: tuple[Any, str]) -> None:
    value, text = case
    assert repair_json(text) == Repaired(text, ())
    assert find_json(text) == text
    assert parse_reply(text) == (value, ())


def _is_prefix(repaired: Any, original: Any) -> bool:
    """Whether ``repaired`` is what is left of ``original`` after cutting its text."""
    if isinstance(original, str):
        return isinstance(repaired, str) and original.startswith(repaired)
    if isinstance(original, list):
        items = list(zip(repaired, original, strict=False))
        return isinstance(repaired, list) and _prefix_items(items, len(repaired) <= len(original))
    if isinstance(original, dict):
        if not isinstance(repaired, dict) or list(repaired) != list(original)[: len(repaired)]:
            return False
        return _prefix_items([(repaired[k], original[k]) for k in repaired], True)
    return type(repaired) is type(original) and repaired == original


def _prefix_items(items: list[tuple[Any, Any]], length_ok: bool) -> bool:
    whole = all(_equal(r, o) for r, o in items[:-1])
    return length_ok and whole and (not items or _is_prefix(*items[-1]))


def _equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@_SETTINGS
@given(_dumps(), st.data())
def test_property_truncation_gives_none_or_parsable_prefix(
    case: tuple[Any, str], data: st.DataObject
) -> None:
    _, text = case
    value = json.loads(text)  # key order as written (sort_keys may reorder)
    cut = text[: data.draw(st.integers(0, len(text)), label="cut")]
    result = repair_json(cut)
    if result is None:
        assert not isinstance(value, (dict, list)) or not cut.strip()
        return
    repaired = json.loads(result.text)
    if isinstance(value, (dict, list, str)):
        assert _is_prefix(repaired, value), (cut, result.text)


@dataclass(frozen=True)
class _Style:
    """How to write a value in the non-JSON ways models do."""

    trailing_commas: bool
    single_quotes: bool
    unquoted_keys: bool
    python_literals: bool
    comments: bool
    raw_controls: bool


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _write(value: Any, style: _Style) -> str:
    if value is None or isinstance(value, bool):
        return str(value) if style.python_literals else json.dumps(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return _write_string(value, style)
    if isinstance(value, list):
        return _write_items("[", [_write(v, style) for v in value], "]", style)
    members = [f"{_write_key(k, style)}: {_write(v, style)}" for k, v in value.items()]
    return _write_items("{", members, "}", style)


def _write_items(opener: str, items: list[str], closer: str, style: _Style) -> str:
    separator = ", // next\n" if style.comments else ", "
    body = separator.join(items)
    if style.trailing_commas and items:
        body += ","
    head = f"{opener} /* start */ " if style.comments else opener
    return head + body + closer


def _write_key(key: str, style: _Style) -> str:
    if style.unquoted_keys and _IDENT.fullmatch(key):
        return key
    return _write_string(key, style)


def _write_string(text: str, style: _Style) -> str:
    quote = "'" if style.single_quotes else '"'
    out = []
    for ch in text:
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif ch < " ":
            out.append(ch if style.raw_controls else json.dumps(ch)[1:-1])
        else:
            out.append(ch)
    return quote + "".join(out) + quote


_styles = st.builds(
    _Style,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


@_SETTINGS
@given(_values, _styles, st.sampled_from(["", "prose", "fence"]))
def test_property_broken_syntax_repairs_to_original(value: Any, style: _Style, wrap: str) -> None:
    text = _write(value, style)
    if isinstance(value, (dict, list)) and not style.raw_controls:
        # (a raw newline in a string could start a line with ``` and end the fence)
        text = {
            "": text,
            "prose": f"Here's the result: {text} (that's all)",
            "fence": f"Sure!\n```json\n{text}\n```\nDone.",
        }[wrap]
    data, _ = parse_reply(text)
    assert _equal(data, value), text


@_SETTINGS
@given(
    _values,
    st.sampled_from(["trailing_commas", "single_quotes", "python_literals", "raw_controls"]),
)
def test_property_each_fix_is_named(value: Any, kind: str) -> None:
    plain = _Style(False, False, False, False, False, False)
    text = _write(value, _Style(**{**plain.__dict__, kind: True}))
    result = _repaired(text)
    assert _equal(json.loads(result.text), value)
    expected = {
        "trailing_commas": FIX_TRAILING_COMMA,
        "single_quotes": FIX_SINGLE_QUOTES,
        "python_literals": FIX_PYTHON_LITERAL,
        "raw_controls": FIX_CONTROL_CHARACTER,
    }[kind]
    assert result.fixes in ((), (expected,))
    assert (result.fixes == ()) == (text == _write(value, plain))


@_SETTINGS
@given(_dumps(_containers), st.sampled_from(["json", "JSON", ""]), st.booleans())
def test_property_fence_and_prose_are_removed(
    case: tuple[Any, str], language: str, fenced: bool
) -> None:
    value, text = case
    if fenced:
        reply = f"Sure! Here is the result:\n```{language}\n{text}\n```\nAnything else?"
        expected_fixes: tuple[str, ...] = (FIX_CODE_FENCE, FIX_SURROUNDING_TEXT)
    else:
        reply = f"Sure! Here is the result: {text} -- anything else?"
        expected_fixes = (FIX_SURROUNDING_TEXT,)
    result = _repaired(reply)
    assert result == Repaired(text, expected_fixes)
    assert find_json(reply) == text
    assert _equal(parse_reply(reply)[0], value)
