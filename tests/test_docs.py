"""Every code example in README.md and docs/*.md runs, so the documentation cannot rot.

Conventions for writing examples (README.md included)
=====================================================

Python
    * Every fenced block whose info string is ``python`` runs. The blocks of one
      file run in order in **one namespace**, so a later block may use what an
      earlier one defined (imports, models, clients). Each file starts afresh.
    * ``python skip`` (the exact info string) shows a block without running it.
      Use it sparingly: for code that needs a real OpenAI key, the local model,
      or a network. Other languages (``pycon``, ``text``, ``json`` ...) never run.
    * Tracebacks name the Markdown file and its line numbers.
    * A block may print. Its output is compared only when a block with the info
      string ``text output`` follows it (before the next ``python`` block): the
      printed lines must equal that block's lines (trailing spaces and blank
      lines at either end ignored). Use it for deterministic output (dry runs,
      error messages), not for what the model answers. Use ``assert`` for other
      facts that must stay true.
    * No top-level ``await``: wrap async code in ``asyncio.run(main())``.

Environment while a file runs: a reader's fresh machine
    * No endpoint is configured: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
      ``EXTRACTKIT_MODEL``, ``EXTRACTKIT_ENDPOINT`` and the other variables of
      ``ENDPOINT_VARIABLES`` are unset (the fixture asserts it), and nothing
      else is patched: an example runs exactly as a user who copies it would
      run it, with no key and no network. The working directory is the
      repository root (``schemas/...`` paths work); ``tempfile`` creates its
      files under pytest's ``tmp_path``.
    * So an example that calls a model passes an explicit test double from
      :mod:`extractkit.testing` (``client=TestModel([...])`` or
      ``FunctionModel(fn)``; see docs/testing.md), or runs on the embedded
      model (a bare ``@extract``, ``Extractor(local=True)``: keep those few and
      short, they are the slow ones). ``OpenAI()`` raises without a key: show
      OpenAI-specific code as a ``python skip`` block next to a runnable twin.
    * ``TestModel()`` with no values answers a *minimal valid instance* of the
      requested schema (required fields only, strings ``"example"``, numbers at
      their lower bound, the first ``enum`` value, lists at ``minItems``); it
      does not satisfy ``pattern`` or pydantic validators, so give it values
      when they matter. Assert types and shapes, or the values you scripted.
    * Dry runs (``render(...)``) need no model; ``Extractor(TestModel(),
      endpoint="openai")`` shows OpenAI's strict encoding.

Shell
    * In ``console`` blocks, lines starting with ``$ extractkit schema`` or
      ``$ extractkit prompt`` (and ``$ extractkit run`` lines with
      ``--dry-run``, which send nothing) run through :func:`extractkit.cli.main` in the
      environment above and must exit with 0, or with ``N`` when the line
      ends with the comment ``# exits N``. The lines shown after such a
      command (up to the next ``$`` line) must appear, in order, among the
      lines it really prints (stdout, then stderr; surrounding whitespace
      ignored). A line that is just ``...`` stands for any lines, and ``...``
      inside a line for any text (so long JSON lines can be shortened). Other
      commands (``pip``, ``extractkit run`` ...) are shown only here: the
      README's commands also run, as written, in a fresh virtualenv in
      ``tests/test_walkthrough.py``.

Links
    * Relative links between pages must point to existing files, and
      ``#anchors`` to existing headings (GitHub's slug rules).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from extractkit.cli import main
from tests.fake_model import fake_reply, instance_for, request_schema, string_for_pattern

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")], key=lambda p: str(p))
DOC_FILES = [p for p in DOC_FILES if p.is_file()]
RUNNABLE_COMMANDS = ("schema", "prompt")
#: ``run`` lines with this flag run too: they send nothing (docs/cost.md)
RUNNABLE_FLAG = "--dry-run"

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its info string, text and first line number in the file."""

    info: str
    text: str
    line: int

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.split() else ""


def fenced_blocks(markdown: str) -> Iterator[Block]:
    """Fenced code blocks in order (CommonMark fences, backticks or tildes)."""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, info = match.group("fence"), match.group("info").strip()
        indent = len(match.group("indent"))
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            # CommonMark: content loses up to the opening fence's indentation.
            line = lines[j]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            j += 1
        yield Block(info, "\n".join(body) + "\n", i + 2)
        i = j + 1


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def python_blocks(markdown: str) -> list[Block]:
    """The blocks that run: info string ``python`` exactly (``python skip`` does not)."""
    return [block for block, _ in python_examples(markdown)]


def python_examples(markdown: str) -> list[tuple[Block, Block | None]]:
    """Each runnable block with the ``text output`` block that follows it, if any."""
    examples: list[tuple[Block, Block | None]] = []
    for block in fenced_blocks(markdown):
        if block.info == "python":
            examples.append((block, None))
        elif block.info == "text output" and examples and examples[-1][1] is None:
            examples[-1] = (examples[-1][0], block)
    return examples


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- environment ------------------------------------------------------------------


#: Variables that would point an example at a model the reader may not have.
ENDPOINT_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "EXTRACTKIT_MODEL",
    "EXTRACTKIT_ENDPOINT",
    "EXTRACTKIT_BASE_URL",
)


@pytest.fixture
def docs_env(_clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A fresh machine: no key, no endpoint, no model configured (see the module docstring)."""
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(ROOT)
    assert not [name for name in ENDPOINT_VARIABLES if name in os.environ]
    yield


# -- python examples ----------------------------------------------------------------


_WITH_PYTHON = [p for p in DOC_FILES if python_examples(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("path", _WITH_PYTHON, ids=_id)
def test_python_examples_run(path: Path, docs_env: None) -> None:
    examples = python_examples(path.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": f"docs_{path.stem.replace('-', '_')}"}
    for block, expected in examples:
        # Pad with newlines so tracebacks carry the Markdown file's own line numbers;
        # dont_inherit: the examples must not inherit this module's __future__ imports.
        source = "\n" * (block.line - 1) + block.text
        code = compile(source, str(path), "exec", dont_inherit=True)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)
        if expected is not None:
            where = f"{_id(path)}:{expected.line}: output shown for the block at line {block.line}"
            assert _lines(printed.getvalue()) == _lines(expected.text), where


# -- shell examples -------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    argv: list[str]
    shown: list[str]
    line: int
    exit_code: int = 0


_EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


def shell_commands(markdown: str) -> list[Command]:
    """``$ extractkit schema|prompt ...`` (and ``run ... --dry-run``) lines of ``console``
    blocks, with the output shown."""
    found: list[Command] = []
    for block in fenced_blocks(markdown):
        if block.language != "console":
            continue
        current: Command | None = None
        for offset, line in enumerate(block.text.splitlines()):
            if line.startswith("$ "):
                current = None
                argv = shlex.split(line[2:], comments=True)
                if argv[:1] == ["extractkit"] and argv[1:2] and (
                        argv[1] in RUNNABLE_COMMANDS
                        or (argv[1] == "run" and RUNNABLE_FLAG in argv)):
                    exits = _EXITS.search(line)
                    code = int(exits.group(1)) if exits else 0
                    current = Command(argv[1:], [], block.line + offset, code)
                    found.append(current)
            elif current is not None:
                current.shown.append(line)
    return found


def _appears_in_order(shown: list[str], actual: list[str]) -> str | None:
    """``None`` when every shown line matches a line of ``actual``, in order; else the first miss.

    A shown line that is just ``...`` is skipped; elsewhere in a line ``...`` matches any text.
    """
    remaining = iter(line.strip() for line in actual)
    for line in shown:
        wanted = line.strip()
        if not wanted or wanted == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("...")))
        if not any(pattern.fullmatch(candidate) for candidate in remaining):
            return line
    return None


_COMMANDS = [(path, cmd) for path in DOC_FILES for cmd in shell_commands(path.read_text("utf-8"))]


@pytest.mark.parametrize(
    ("path", "command"), _COMMANDS, ids=[f"{_id(p)}:{c.line}" for p, c in _COMMANDS]
)
def test_shell_examples_run(path: Path, command: Command, docs_env: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(command.argv, out=out, err=err)
    where = f"{_id(path)}:{command.line}: extractkit {shlex.join(command.argv)}"
    assert code == command.exit_code, f"{where} exited {code}: {err.getvalue()}"
    printed = out.getvalue() + err.getvalue()
    missing = _appears_in_order(command.shown, printed.splitlines())
    assert missing is None, f"{where}: shown output line not produced: {missing!r}\n{printed}"


# -- links --------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(markdown: str) -> str:
    """The Markdown without fenced blocks and inline code (links there are not links)."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        match = _FENCE.match(line)
        if fence is None and match is not None:
            fence = match.group("fence")
            continue
        if fence is not None:
            if _closes(line, fence):
                fence = None
            continue
        out.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(out)


def heading_slugs(markdown: str) -> set[str]:
    """Anchors GitHub gives the headings of a page."""
    slugs: set[str] = set()
    counts: dict[str, int] = {}
    for line in _prose_with_code(markdown).splitlines():
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match is None:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = counts.get(slug, 0)
        counts[slug] = n + 1
        slugs.add(slug if n == 0 else f"{slug}-{n}")
    return slugs


def _prose_with_code(markdown: str) -> str:
    """The Markdown without fenced blocks (inline code kept: it is part of heading text)."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        match = _FENCE.match(line)
        if fence is None and match is not None:
            fence = match.group("fence")
            continue
        if fence is not None:
            if _closes(line, fence):
                fence = None
            continue
        out.append(line)
    return "\n".join(out).replace("`", "")


def _slugs_of(path: Path) -> set[str]:
    return heading_slugs(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", DOC_FILES, ids=_id)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    broken: list[str] = []
    for target in _LINK.findall(_prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in _slugs_of(linked):
            broken.append(f"{target} (no such heading)")
    assert broken == [], f"{_id(path)}: broken links: {broken}"


# -- the harness itself -------------------------------------------------------------


def test_block_extraction_keeps_order_skip_and_line_numbers() -> None:
    text = (
        "# T\n\n```python\na = 1\n```\n\n```python skip\nraise SystemExit\n```\n"
        "~~~python\nb = a + 1\n~~~\n\n````python\n```\nc = 3\n````\n"
    )
    blocks = python_blocks(text)
    assert [b.text for b in blocks] == ["a = 1\n", "b = a + 1\n", "```\nc = 3\n"]
    assert [b.line for b in blocks] == [4, 11, 15]
    nested = "- item\n\n  ```python\n  if True:\n      x = 1\n  ```\n"
    assert python_blocks(nested)[0].text == "if True:\n    x = 1\n"
    assert text.splitlines()[blocks[1].line - 1] == "b = a + 1"
    shown = "```python\nprint(1)\n```\nprints:\n```text output\n1\n```\n```text output\n2\n```\n"
    ((block, output),) = python_examples(shown)
    assert block.text == "print(1)\n" and output is not None and output.text == "1\n"


def test_shell_command_parsing_and_output_matching() -> None:
    text = (
        "```console\n$ pip install extractkit\nignored\n"
        "$ extractkit schema schemas/person.py --endpoint vllm  # exits 1\n"
        '{"a": 1}\n...\n  last\n```\n'
    )
    (command,) = shell_commands(text)
    assert command.argv == ["schema", "schemas/person.py", "--endpoint", "vllm"]
    assert command.exit_code == 1
    assert command.shown == ['{"a": 1}', "...", "  last"]
    assert _appears_in_order(command.shown, ["x", '{"a": 1}', "y", "last"]) is None
    assert _appears_in_order(command.shown, ["last", '{"a": 1}']) == "  last"
    assert _appears_in_order(['{"a": ..., "c": 3}'], ['{"a": 1, "b": 2, "c": 3}']) is None
    assert _appears_in_order(['{"a": ..., "c": 3}'], ['{"a": 1, "c": 4}']) == '{"a": ..., "c": 3}'


def test_run_lines_run_only_as_dry_runs() -> None:
    text = ("```console\n$ extractkit run s.py in.txt\n"
            "$ extractkit run s.py in.txt --dry-run\nshown\n```\n")
    (command,) = shell_commands(text)
    assert command.argv == ["run", "s.py", "in.txt", "--dry-run"] and command.shown == ["shown"]


def test_heading_slugs_follow_github_rules() -> None:
    text = "# Modes & profiles\n## `n > 1`\n## Errors\n## Errors\n```\n# not a heading\n```\n"
    assert heading_slugs(text) == {"modes--profiles", "n--1", "errors", "errors-1"}


class _Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d{4}$")
    quantity: int = Field(gt=0, le=10)
    price: float = Field(ge=0.5, multiple_of=0.25)


class _Tree(BaseModel):
    label: str
    children: list[_Tree] = Field(min_length=0)
    parent: _Tree | None
    lines: list[_Line] = Field(min_length=2)
    tags: tuple[str, int]
    kind: str = Field(json_schema_extra={"enum": ["leaf", "node"]})


def _schemas() -> list[Any]:
    from extractkit.schema.strict import encode_strict

    contact = json.loads((ROOT / "schemas" / "contact.json").read_text(encoding="utf-8"))
    tree = _Tree.model_json_schema()
    date_time = {
        "type": "object",
        "properties": {"when": {"type": "string", "format": "date-time"}},
        "required": ["when"],
    }
    bounded = {
        "type": "object",
        "properties": {"v": {"type": ["null", "integer"], "minimum": 3}},
        "required": ["v"],
    }
    merged = {
        "allOf": [{"$ref": "#/$defs/A"}, {"required": ["b"]}],
        "properties": {"b": {"type": "boolean"}},
        "$defs": {"A": {"type": "object", "properties": {"a": {"const": 7}}, "required": ["a"]}},
    }
    return [
        pytest.param(tree, id="pydantic-recursive"),
        pytest.param(encode_strict(tree).wire, id="strict-wire"),
        pytest.param(contact, id="contact.json"),
        pytest.param(date_time, id="date-time"),
        pytest.param(bounded, id="nullable-bounded"),
        pytest.param(merged, id="allOf-ref"),
    ]  # fmt: skip


@pytest.mark.parametrize("schema", _schemas())
def test_fake_instances_are_valid(schema: dict[str, Any]) -> None:
    instance = instance_for(schema)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(instance)


def test_fake_recursion_stops_at_nullable_and_lists() -> None:
    value = instance_for(_Tree.model_json_schema())
    assert value["children"] == [] and value["parent"] is None
    assert value["lines"][0] == {"sku": "AAA-0000", "quantity": 1, "price": 0.5}


def test_pattern_literals() -> None:
    assert string_for_pattern(r"^INV-\d{3}$") == "INV-000"
    assert string_for_pattern(r"^(?:ab|cd)+\.x$") == "ab.x"
    assert string_for_pattern(r"^[^a]$") is None  # negated class: unsupported


def test_fake_answers_in_the_place_the_request_asks_for() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    tool = {"type": "function", "function": {"name": "Pick", "parameters": schema}}
    forced = {"type": "function", "function": {"name": "Pick"}}
    requests: list[dict[str, Any]] = [
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "X", "schema": schema},
            }
        },
        {"response_format": {"type": "json_object", "schema": schema}},
        {"tools": [tool], "tool_choice": forced, "n": 2},
        {"response_format": {"type": "json_object"}},
        {},
    ]
    places = [request_schema(r)[0] for r in requests]
    assert places == ["content", "content", "tool", "content", "fenced"]
    replies = [fake_reply({"model": "m", "messages": [], **r}).json() for r in requests]  # type: ignore[union-attr]
    assert json.loads(replies[0]["choices"][0]["message"]["content"]) == {"a": 0}
    calls = [c["message"]["tool_calls"][0]["function"] for c in replies[2]["choices"]]
    assert len(calls) == 2 and calls[0] == {"name": "Pick", "arguments": '{"a": 0}'}
    assert replies[3]["choices"][0]["message"]["content"] == "{}"
    assert replies[4]["choices"][0]["message"]["content"] == "```json\n{}\n```"
