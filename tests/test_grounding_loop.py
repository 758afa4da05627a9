"""grounding="off" | "check" | "require" through the real openai SDK, the loop and the CLI."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import pytest
from pydantic import BaseModel

from extractkit import ConfigurationError, ExtractionError, Extractor, extract
from extractkit.loop import Extraction
from extractkit.markers import Grounded, SourceText
from extractkit.modes import build_plan
from extractkit.profiles import get_profile
from tests.cli_runner import run_cli as run
from tests.scripted_server import completion, stream

TEXT = "Contact: Ann Smith <ann@example.org>, Springfield office."


class Contact(BaseModel):
    name: str
    email: str
    city: str | None = None
    note: Annotated[str, Grounded(False)] = ""


def test_check_is_the_default_and_never_fails(server, client, caplog):
    server.push(completion('{"name": "Ann Smith", "email": "ann@example.com", "note": "x"}'))
    with caplog.at_level(logging.INFO, logger="extractkit"):
        result = Extractor(client, model="m").extract_result(Contact, TEXT)
    assert result.value.email == "ann@example.com"  # invented, but check does not fail
    g = result.grounding
    assert g is not None
    span = g["/name"].spans[0]
    assert TEXT[span.start:span.end] == "Ann Smith" and g["/name"].status == "exact"
    assert [x.pointer for x in g.ungrounded] == ["/email"]
    assert "/note" not in g
    assert len(server.bodies()) == 1
    assert any("/email: 'ann@example.com' does not appear in the document" in r.getMessage()
               for r in caplog.records)


def test_require_reasks_with_the_ungrounded_value_and_its_path(server, client):
    server.push(
        completion('{"name": "Ann Smith", "email": "ann@example.com"}'),
        completion('{"name": "Ann Smith", "email": "ann@example.org", "city": "Springfield"}'),
    )
    result = Extractor(client, model="m", grounding="require").extract_result(Contact, TEXT)
    assert result.value.email == "ann@example.org"
    assert len(result.attempts) == 2
    assert result.attempts[0].errors == [
        "/email: 'ann@example.com' does not appear in the document"]
    feedback = server.bodies()[1]["messages"][-1]["content"]
    assert "/email: 'ann@example.com' does not appear in the document" in feedback
    assert not result.grounding.ungrounded
    assert result.grounding["/city"].status == "exact"


def test_require_gives_up_like_any_validation_error(server, client):
    for _ in range(2):
        server.push(completion('{"name": "Bob", "email": "ann@example.org"}'))
    with pytest.raises(ExtractionError) as info:
        Extractor(client, model="m", grounding="require", max_retries=1).extract(Contact, TEXT)
    assert "/name: 'Bob' does not appear in the document" in str(info.value)
    assert len(info.value.attempts) == 2


def test_require_in_tools_mode_reasks_as_a_tool_result(server, client):
    server.push(
        completion(tool_args='{"name": "Zed", "email": "ann@example.org"}', tool_name="Contact"),
        completion(tool_args='{"name": "Ann Smith", "email": "ann@example.org"}',
                   tool_name="Contact"),
    )
    ex = Extractor(client, model="m", mode="tools", grounding="require")
    assert ex.extract(Contact, TEXT).name == "Ann Smith"
    last = server.bodies()[1]["messages"][-1]
    assert last["role"] == "tool" and "'Zed' does not appear" in last["content"]


def test_off_computes_nothing(server, client):
    server.push(completion('{"name": "Nobody", "email": "x@y.z"}'))
    result = Extractor(client, model="m", grounding="off").extract_result(Contact, TEXT)
    assert result.grounding is None and result.attempts[0].grounding is None


def test_async_and_stream_carry_grounding(server, aclient, client):
    import asyncio

    from extractkit import AsyncExtractor

    server.push(completion('{"name": "Ann Smith", "email": "ann@example.org"}'))
    result = asyncio.run(AsyncExtractor(aclient, model="m").extract_result(Contact, TEXT))
    assert result.grounding["/email"].status == "exact"
    server.push(stream('{"name": "Ann Smith", "email": "ann@example.org"}', chunk_size=5))
    last = list(Extractor(client, model="m").stream(Contact, TEXT))[-1]
    assert last.done and last.result.grounding["/name"].status == "exact"


def test_batch_items_carry_grounding(server, client):
    server.default = lambda body: completion('{"name": "Ann Smith", "email": "ann@example.org"}')
    items = list(Extractor(client, model="m").map(Contact, [TEXT, "Nothing here."],
                                                  ordered=True))
    assert items[0].result.grounding["/name"].status == "exact"
    assert items[1].result.grounding["/name"].status == "ungrounded"


def test_extract_parameters_marked_as_documents(server, client):
    server.default = lambda body: completion('{"name": "Ann Smith", "email": "ann@example.org"}')

    @extract(client=client, model="m", grounding="require")
    def contact(question: str, letter: Annotated[str, SourceText()]) -> Contact:
        """{{ question }}

        {{ letter }}"""

    assert contact("Who wrote?", TEXT).name == "Ann Smith"
    assert contact.document_names == ("letter",)
    with pytest.raises(ExtractionError):  # the question is not a document: nothing found
        contact(TEXT, "a letter that names nobody")

    @extract(client=client, model="m", documents=("body",))
    def named(subject: str, body: str) -> Contact:
        """{{ subject }}: {{ body }}"""

    result = named.result("Re: meeting", TEXT)
    assert result.grounding["/name"].spans[0].source == "body"

    @extract(client=client, model="m")
    def default(letter: str, hint: str = "") -> Contact:
        """{{ letter }} {{ hint }}"""

    assert default.result(TEXT).grounding["/email"].spans[0].source == "letter"


def test_bad_grounding_settings_are_clear_errors(client):
    with pytest.raises(ConfigurationError, match="grounding mode 'strict'"):
        Extractor(client, model="m", grounding="strict")
    with pytest.raises(ConfigurationError, match="'appendix' is missing"):
        Extractor(client, model="m", documents=("appendix",)).render(Contact, TEXT)
    # a conversation is its own document (its turns' text), so this one is grounded...
    Extractor(client, model="m", grounding="require").render(
        Contact, [{"role": "user", "content": TEXT}])

    # ...but a function with no text argument has nothing to ground in
    @extract(client=client, model="m", grounding="require")
    def contact(number: int) -> Contact:
        """Make up contact number {{ number }}."""

    with pytest.raises(ConfigurationError, match="needs a document"):
        contact.render(3)


def test_extractive_decoding_requests_carry_the_documents():
    local = get_profile("local")
    assert local.extractive_decoding and not get_profile("openai").extractive_decoding
    from extractkit.grounding.check import grounding_check

    plan = build_plan(Contact, "auto", local)
    check = grounding_check("require", plan.source, {"text": TEXT})
    ex = Extraction(plan, [{"role": "user", "content": TEXT}], model="m",
                    params={"extra_body": {"cache_prompt": True}}, grounding=check)
    assert ex.request()["extra_body"] == {"cache_prompt": True, "extractkit_documents": [TEXT]}
    checking = grounding_check("check", plan.source, {"text": TEXT})
    plain = Extraction(plan, [], model="m", grounding=checking)
    assert "extra_body" not in plain.request()
    remote = build_plan(Contact, "auto", get_profile("openai"))
    ex = Extraction(remote, [], model="m",
                    grounding=grounding_check("require", remote.source, {"text": TEXT}))
    assert "extra_body" not in ex.request()


def test_wrapped_schemas_use_pointers_of_the_value(server, client):
    server.push(completion('{"value": ["Ann Smith", "Springfield"]}'))
    result = Extractor(client, model="m").extract_result(list[str], TEXT)
    assert result.grounding["/1"].spans[0].start == TEXT.index("Springfield")


# -- CLI ---------------------------------------------------------------------------------




@pytest.fixture
def remote(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cli")
    monkeypatch.setenv("EXTRACTKIT_MODEL", "m")
    return server


@pytest.fixture
def files(tmp_path):
    schema = tmp_path / "contact.py"
    schema.write_text("from pydantic import BaseModel\n\n"
                      "class Contact(BaseModel):\n    name: str\n    email: str\n")
    doc = tmp_path / "letter.txt"
    doc.write_text(TEXT)
    return schema, doc


def test_cli_require_reasks_and_show_grounding_keeps_stdout_plain(remote, files):
    schema, doc = files
    remote.push(completion('{"name": "Ann Smith", "email": "ann@example.com"}'),
                completion('{"name": "Ann Smith", "email": "ann@example.org"}'))
    code, out, err = run("run", str(schema), str(doc), "--grounding", "require",
                         "--show-grounding")
    assert code == 0, err
    assert json.loads(out) == {"name": "Ann Smith", "email": "ann@example.org"}
    assert len(remote.bodies()) == 2
    assert '/email  exact        text[20:35]      "ann@example.org"' in err
    assert '/name   exact        text[9:18]       "Ann Smith"' in err


def test_cli_records_carry_grounding(remote, files, tmp_path):
    schema, doc = files
    other = tmp_path / "other.txt"
    other.write_text("Nobody here.")
    remote.default = lambda body: completion('{"name": "Ann Smith", "email": "ann@example.org"}')
    out_file = tmp_path / "out.jsonl"
    code, _, err = run("run", str(schema), str(doc), str(other), "-o", str(out_file),
                       "--show-grounding")
    assert code == 0, err
    records = {r["input"]: r for r in map(json.loads, out_file.read_text().splitlines())}
    grounding = records[str(doc)]["grounding"]
    assert grounding["/name"]["status"] == "exact"
    assert grounding["/name"]["spans"][0]["start"] == TEXT.index("Ann Smith")
    assert records[str(other)]["grounding"]["/name"]["status"] == "ungrounded"
    assert "'Ann Smith' (not in the document)" in err
    assert "grounding: 2 value(s) in 1 input(s) do not appear in their input" in err


def test_cli_require_fails_the_input_when_the_value_never_appears(remote, files):
    schema, doc = files
    remote.default = lambda body: completion('{"name": "Bob", "email": "ann@example.org"}')
    code, out, err = run("run", str(schema), str(doc), "--grounding", "require",
                         "--max-retries", "1")
    assert code == 1 and out == ""
    assert "/name: 'Bob' does not appear in the document" in err


def test_cli_off_writes_no_grounding(remote, files, tmp_path):
    schema, doc = files
    remote.default = lambda body: completion('{"name": "Ann Smith", "email": "ann@example.org"}')
    out_file = tmp_path / "out.jsonl"
    code, _, _ = run("run", str(schema), str(doc), str(doc), "-o", str(out_file),
                     "--grounding", "off")
    assert code == 0
    assert all("grounding" not in json.loads(line) for line in out_file.read_text().splitlines())


def test_cli_spans_of_a_pdf_carry_their_page(remote, files, tmp_path):
    from tests.document_files import write_pdf

    schema, _ = files
    pdf = write_pdf(tmp_path / "letter.pdf",
                    ["Cover page of the letter.", "Contact: Ann Smith <ann@example.org>."])
    remote.default = lambda body: completion('{"name": "Ann Smith", "email": "ann@example.org"}')
    out_file = tmp_path / "out.jsonl"
    code, _, err = run("run", str(schema), str(pdf), str(pdf), "-o", str(out_file))
    assert code == 0, err
    record = json.loads(out_file.read_text().splitlines()[0])
    assert record["grounding"]["/name"]["spans"][0]["page"] == 2
    code, _, err = run("run", str(schema), str(pdf), "--show-grounding")
    assert code == 0 and "p.2" in err


def test_lazy_grounding_pickles_as_its_leaves(server, client):
    import pickle

    server.push(completion('{"name": "Ann Smith", "email": "ann@example.org"}'))
    result = Extractor(client, model="m").extract_result(Contact, TEXT)
    copy = pickle.loads(pickle.dumps(result.grounding))
    assert copy == result.grounding and copy["/name"].status == "exact"


def test_check_aligns_nothing_until_the_grounding_is_read(server, client, monkeypatch):
    from extractkit.grounding.check import GroundingCheck

    calls = []
    real = GroundingCheck.ground
    monkeypatch.setattr(GroundingCheck, "ground",
                        lambda self, value: calls.append(value) or real(self, value))
    server.push(completion('{"name": "Ann Smith", "email": "ann@example.org"}'))
    result = Extractor(client, model="m").extract_result(Contact, TEXT)
    assert calls == []  # the hot path did no alignment
    assert result.grounding["/name"].status == "exact"
    assert len(calls) == 1
    assert result.grounding["/email"].status == "exact" and len(calls) == 1  # computed once


def test_with_options_switches_an_extract_function_to_require(server, client):
    @extract(client=client, model="m")
    def contact(text: str) -> Contact:
        """{{ text }}"""

    server.push(completion('{"name": "Zed", "email": "ann@example.org"}'),
                completion('{"name": "Ann Smith", "email": "ann@example.org"}'))
    strict = contact.with_options(grounding="require")
    assert strict(TEXT).name == "Ann Smith" and len(server.bodies()) == 2
