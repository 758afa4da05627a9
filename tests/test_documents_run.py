"""Chunked extraction through the loop: the trigger, merging, failed and retried chunks,
document context, passes, spans in document coordinates with pages, async, the CLI."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from extractkit import AsyncExtractor, Extractor
from extractkit.cli import main
from extractkit.documents import Document, Page
from extractkit.documents.run import DocumentResult
from extractkit.errors import ConfigurationError, ExtractionError
from extractkit.results import Result
from tests.document_reader import filler, reader_reply, user_text
from tests.scripted_server import completion


class Contract(BaseModel):
    parties: list[str] = []
    jurisdiction: str | None = None
    term_years: int | None = None


LONG = ("Party: Nike Inc.\nParty: Acme Corp\n\n" + filler(400) + "\n\nGoverning law: Delaware\n\n"
        + filler(400) + "\n\nGoverning law: New York\nParty: Zeta LLC\nTerm: 3 years\n")


@pytest.fixture
def reader(server):
    server.default = reader_reply
    return server


def extractor(client, **options) -> Extractor:
    return Extractor(client=client, model="m", **options)


def test_long_document_is_chunked_merged_and_reported(reader, client):
    result = extractor(client, chunk_tokens=300).extract_result(Contract, LONG)
    assert isinstance(result, DocumentResult)
    assert result.value == Contract(parties=["Nike Inc.", "Acme Corp", "Zeta LLC"],
                                    jurisdiction="Delaware", term_years=3)
    bodies = reader.bodies()
    assert result.chunk_count == len(bodies) > 3
    assert result.failed_chunks == []
    # usage summed over every chunk (the reader's usage is len(text) // 4 + 20 per answer)
    expected = sum(len(user_text(b).split("\n---\n")[-1]) // 4 + 20 for b in bodies)
    assert result.usage.total_tokens == expected
    [conflict] = result.conflicts
    assert conflict.pointer == "/jurisdiction"
    assert [c.value for c in conflict.candidates] == ["Delaware", "New York"]
    # which chunk each value came from, and spans in document coordinates
    assert result.sources["/parties/0"] == 0
    last = result.sources["/parties/2"]
    assert last == result.chunk_count - 1
    for pointer, leaf in result.grounding.items():
        for span in leaf.spans:
            assert LONG[span.start:span.end].casefold() == str(leaf.value).casefold(), pointer
            assert span.chunk == result.sources[pointer]
    record = result.record()
    assert record["document"]["chunks"] == result.chunk_count
    assert record["conflicts"][0]["candidates"][1]["value"] == "New York"


def test_auto_chunking_follows_the_context_window(reader, client):
    short = "Party: Ann\nGoverning law: Ohio\n"
    ex = extractor(client, context_window=700)
    plain = ex.extract_result(Contract, short)
    assert not isinstance(plain, DocumentResult) and isinstance(plain, Result)
    assert len(reader.bodies()) == 1
    long = ex.extract_result(Contract, LONG)
    assert isinstance(long, DocumentResult) and long.chunk_count > 1
    assert long.value.jurisdiction == "Delaware"
    # every chunk's prompt fits the window (the reader counts ~4 chars a token)
    assert all(len(json.dumps(b["messages"])) // 4 < 700 for b in reader.bodies()[1:])


def test_chunking_off_sends_the_whole_document_in_one_request(reader, client):
    result = extractor(client, context_window=700, chunking="off").extract_result(Contract, LONG)
    assert not isinstance(result, DocumentResult)
    assert len(reader.bodies()) == 1
    assert result.value.parties == ["Nike Inc.", "Acme Corp", "Zeta LLC"]


def test_unknown_window_does_not_chunk_unless_told(reader, client):
    # a generic endpoint's window is unknown: no chunking without chunk_tokens
    result = extractor(client).extract_result(Contract, LONG)
    assert not isinstance(result, DocumentResult)


def test_a_chunk_that_keeps_failing_is_retried_once_then_reported(reader, client):
    text = LONG.replace("Governing law: Delaware", "Governing law: Delaware\nFAIL HERE")
    result = extractor(client, chunk_tokens=300, max_retries=0).extract_result(Contract, text)
    [failed] = result.failed_chunks
    assert text[failed.start:failed.end].count("FAIL HERE") == 1
    assert "ExtractionError" in failed.error
    assert [o.tries for o in result.chunks if o.chunk == failed.chunk] == [1, 2]
    # two requests for the failed chunk (first round + retry), one for each other chunk
    assert len(reader.bodies()) == result.chunk_count + 1
    assert result.value.jurisdiction == "New York"  # Delaware's chunk failed
    assert result.record()["document"]["failed_chunks"][0]["chunk"] == failed.chunk


def test_a_chunk_failing_once_succeeds_on_retry(reader, client):
    text = LONG.replace("Governing law: Delaware", "Governing law: Delaware\nFAIL ONCE retrytest")
    result = extractor(client, chunk_tokens=300, max_retries=0).extract_result(Contract, text)
    assert result.failed_chunks == []
    assert result.value.jurisdiction == "Delaware"
    assert sorted(o.tries for o in result.chunks).count(2) == 1


def test_every_chunk_failing_is_an_error_naming_the_chunks(reader, client):
    text = "FAIL HERE " * 400  # every chunk holds it
    with pytest.raises(ExtractionError, match=r"every one of the \d+ chunks failed: chunk 0: "):
        extractor(client, chunk_tokens=150, max_retries=0).extract_result(Contract, text)


def test_the_merged_value_is_validated_by_the_validator_of_record(reader, client):
    class AtMostTwo(BaseModel):
        parties: list[str] = Field(default_factory=list, max_length=2)

    # each chunk has at most two parties; merged, there are three: an error, not a cut list
    with pytest.raises(ExtractionError, match=r"merged from \d+ chunks is not valid: parties"):
        extractor(client, chunk_tokens=300).extract_result(AtMostTwo, LONG)


def test_later_chunks_carry_the_documents_start(reader, client):
    extractor(client, chunk_tokens=300).extract_result(Contract, "Title: MASTER NDA\n" + LONG)
    users = [user_text(b) for b in reader.bodies()]
    first = [u for u in users if "Title: MASTER NDA" in u.split("\n---\n")[-1]]
    others = [u for u in users if u not in first]
    assert len(first) == 1 and not first[0].startswith("This is part")
    assert others and all(u.startswith("This is part ") and "begins: Title: MASTER NDA" in u
                          for u in others)
    assert all(len(u.split("\n---\n")[0]) < 1500 for u in others)  # bounded


def test_document_context_can_be_turned_off(reader, client):
    extractor(client, chunk_tokens=300, document_context=False).extract_result(Contract, LONG)
    assert not any("This is part" in user_text(b) for b in reader.bodies())


def test_second_pass_asks_only_for_what_is_missing(reader, client):
    text = LONG.replace("Term: 3 years", "Term (small print): 4 years")
    one = extractor(client, chunk_tokens=300).extract_result(Contract, text)
    assert one.value.term_years is None and len(one.passes) == 1
    first_pass = len(reader.bodies())
    two = extractor(client, chunk_tokens=300, passes=2).extract_result(Contract, text)
    assert two.value.term_years == 4
    assert two.value.jurisdiction == "Delaware"  # found in pass 1, kept
    second = [user_text(b) for b in reader.bodies()[first_pass * 2:]]
    assert second and all("still missing: term_years" in u and '"Delaware"' in u for u in second)
    p1, p2 = two.passes
    assert p2.asked == ("term_years",) and p2.filled == ("term_years",)
    assert p2.usage.total_tokens > 0
    assert two.usage == p1.usage + p2.usage


def test_passes_stop_early_when_nothing_is_missing(reader, client):
    result = extractor(client, chunk_tokens=300, passes=3).extract_result(Contract, LONG)
    assert len(result.passes) == 1


def test_spans_carry_pages_of_the_document(reader, client):
    half = LONG.index("Governing law: Delaware")
    doc = Document(LONG, "nda.pdf", "pdf", (Page(1, 0, half), Page(2, half, len(LONG))), "NDA")
    result = extractor(client, chunk_tokens=300).extract_result(Contract, doc)
    assert result.path == "nda.pdf" and result.pages == 2
    assert result.grounding["/parties/0"].spans[0].page == 1
    law = result.grounding["/jurisdiction"].spans[0]
    assert (law.start, law.page) == (half + len("Governing law: "), 2)
    assert all(o.pages for o in result.chunks)


def test_a_path_is_loaded_and_read_in_chunks(reader, client, tmp_path):
    path = tmp_path / "nda.md"
    path.write_text(LONG, encoding="utf-8")
    result = extractor(client, chunk_tokens=300).extract_result(Contract, path)
    assert isinstance(result, DocumentResult) and result.path == str(path)
    assert result.value.jurisdiction == "Delaware"


def test_overlap_must_be_smaller_than_the_chunk(reader, client):
    with pytest.raises(ConfigurationError, match=r"overlap_tokens \(300\) must be smaller"):
        extractor(client, chunk_tokens=300, overlap_tokens=300).extract_result(Contract, LONG)


def test_root_list_is_the_union_of_chunks(reader, client):
    value = extractor(client, chunk_tokens=300).extract(list[str], LONG + "\nParty: Acme Corp\n")
    assert value == ["Nike Inc.", "Acme Corp", "Zeta LLC", "Acme Corp"]


def test_async_extractor_reads_chunks_too(reader, aclient):
    async def go():
        ex = AsyncExtractor(client=aclient, model="m", chunk_tokens=300)
        return await ex.extract_result(Contract, LONG)

    result = asyncio.run(go())
    assert isinstance(result, DocumentResult)
    assert result.value.jurisdiction == "Delaware" and len(result.value.parties) == 3


def test_bad_chunk_settings_are_clear_errors():
    with pytest.raises(ConfigurationError, match="chunking must be one of auto, on, off"):
        Extractor(model="m", chunking="sometimes")
    with pytest.raises(ConfigurationError, match="chunk_tokens must be an integer >= 1"):
        Extractor(model="m", chunk_tokens=0)


def test_a_window_too_small_for_the_template_is_a_clear_error(reader, client):
    with pytest.raises(ConfigurationError, match="leaves no room for chunks"):
        extractor(client, context_window=200).extract_result(Contract, LONG)


# -- the command line ----------------------------------------------------------------


@pytest.fixture
def contract_py(tmp_path: Path) -> Path:
    path = tmp_path / "contract.py"
    path.write_text("from pydantic import BaseModel\n\nclass Contract(BaseModel):\n"
                    "    parties: list[str] = []\n    jurisdiction: str | None = None\n"
                    "    term_years: int | None = None\n")
    return path


def test_cli_records_of_chunked_documents(reader, contract_py, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", reader.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    long_txt, short_txt = tmp_path / "long.txt", tmp_path / "short.txt"
    long_txt.write_text(LONG.replace("Governing law: Delaware", "Governing law: Delaware\nFAIL HERE"))
    short_txt.write_text("Party: Ann\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(contract_py), str(long_txt), str(short_txt), "--model", "m",
                 "--chunk-tokens", "300", "--overlap", "0", "--max-retries", "0",
                 "-o", str(tmp_path / "out.jsonl")], out=out, err=err)
    assert code == 0, err.getvalue()
    records = {Path(r["input"]).name: r for r in
               map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert set(records) == {"long.txt", "short.txt"}
    long = records["long.txt"]
    assert long["ok"] and long["value"]["jurisdiction"] == "New York"
    assert long["document"]["chunks"] > 3
    [failed] = long["document"]["failed_chunks"]
    assert set(failed) >= {"chunk", "error"} and "not JSON" in failed["error"]
    assert long["conflicts"] == [] and long["fingerprint"]
    assert long["usage"]["total_tokens"] > 0
    assert records["short.txt"]["value"]["parties"] == ["Ann"]
    assert "document" not in records["short.txt"]  # fits one prompt: chunk_tokens not reached
    assert "read in" in err.getvalue() and "1 failed" in err.getvalue()


def test_cli_single_long_input_prints_the_merged_value(reader, contract_py, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", reader.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    path = tmp_path / "long.txt"
    path.write_text(LONG)
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(contract_py), str(path), "--model", "m", "--context-window", "700"],
                out=out, err=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["jurisdiction"] == "Delaware"
    assert "conflicting field(s): /jurisdiction" in err.getvalue()


def test_extract_function_reads_a_long_document_argument_in_chunks(reader, client):
    from extractkit import extract

    @extract(client=client, model="m", chunk_tokens=300)
    def contract(text: str, kind: str = "NDA") -> Contract:
        """Read this {{ kind }}.

        {{ text }}"""

    result = contract.result(LONG)
    assert isinstance(result, DocumentResult)
    assert result.value.jurisdiction == "Delaware" and len(result.value.parties) == 3
    users = [user_text(b) for b in reader.bodies()]
    assert len(users) == result.chunk_count
    assert all(u.startswith("Read this NDA.") for u in users)  # the docstring, per chunk
    short = contract.result("Party: Ann\n")
    assert not isinstance(short, DocumentResult) and short.value.parties == ["Ann"]


def test_cli_decorated_function_target_reads_in_chunks(reader, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", reader.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fn_py = tmp_path / "fn.py"
    fn_py.write_text(
        "from pydantic import BaseModel\nfrom extractkit import extract\n\n"
        "class Contract(BaseModel):\n    parties: list[str] = []\n"
        "    jurisdiction: str | None = None\n\n"
        "@extract(model='m', chunk_tokens=300)\ndef contract(text: str) -> Contract:\n"
        "    '''{{ text }}'''\n")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(LONG)
    b.write_text(LONG.replace("Delaware", "Ohio"))
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", f"{fn_py}:contract", str(a), str(b), "-o", str(tmp_path / "o.jsonl")],
                out=out, err=err)
    assert code == 0, err.getvalue()
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert sorted(r["value"]["jurisdiction"] for r in records) == ["Delaware", "Ohio"]
    assert all(r["document"]["chunks"] > 1 for r in records)


def test_cli_pdf_read_in_chunks_has_pages_in_its_record(reader, contract_py, tmp_path,
                                                        monkeypatch):
    from tests.document_files import write_pdf

    monkeypatch.setenv("OPENAI_BASE_URL", reader.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    pages = ["Party: Nike Inc.\n" + filler(150), filler(150, "term"),
             "Governing law: Oregon\n" + filler(150)]
    pdf = write_pdf(tmp_path / "nda.pdf", pages)
    other = tmp_path / "short.txt"
    other.write_text("Party: Ann\n")
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", str(contract_py), str(pdf), str(other), "--model", "m",
                 "--chunk-tokens", "200", "-o", str(tmp_path / "out.jsonl")], out=out, err=err)
    assert code == 0, err.getvalue()
    records = {Path(r["input"]).name: r for r in
               map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    rec = records["nda.pdf"]
    assert rec["value"]["jurisdiction"] == "Oregon"
    assert rec["document"]["pages"] == 3 and rec["document"]["chunks"] > 1
    assert rec["grounding"]["/parties/0"]["spans"][0]["page"] == 1
    assert rec["grounding"]["/jurisdiction"]["spans"][0]["page"] == 3


def test_grounding_require_holds_every_chunk_to_its_own_text(reader, client):
    """Under require each chunk's values are checked against that chunk (not refused
    for want of a document), and the merged spans still point into the document."""
    result = extractor(client, chunk_tokens=300, grounding="require").extract_result(
        Contract, LONG)
    assert isinstance(result, DocumentResult) and result.failed_chunks == []
    assert result.value.parties == ["Nike Inc.", "Acme Corp", "Zeta LLC"]
    for leaf in result.grounding.values():
        for span in leaf.spans:
            assert LONG[span.start:span.end].casefold() == str(leaf.value).casefold()


# -- focus: each field asked of the document's start and its most relevant chunks ---------


class Lawful(BaseModel):
    parties: list[str] = []
    jurisdiction: str | None = Field(None, description="the state whose laws govern it")
    term_years: int | None = Field(None, description="how many years the agreement lasts")


def _asked(body) -> list[str]:
    fmt = body.get("response_format") or {}
    return list(((fmt.get("json_schema") or {}).get("schema") or {}).get("properties", {}))


def schema_reader(body):
    """The reader, answering only the fields the request's schema asks for."""
    payload = reader_reply(body).json()
    answer = json.loads(payload["choices"][0]["message"]["content"])
    asked = _asked(body)
    return completion(json.dumps({k: v for k, v in answer.items() if k in asked}),
                      usage=(payload["usage"]["prompt_tokens"],
                             payload["usage"]["completion_tokens"]))


# a decoy "Governing law" heading early (a table of contents), the real clause late
FOCUSED = ("Party: Nike Inc.\nParty: Acme Corp\n\nContents\nGoverning law: Ohio\n\n"
           + filler(600) + "\n\nThis agreement is governed by the laws of the state named "
           "here.\nGoverning law: Oregon\n\n" + filler(600)
           + "\n\nThe agreement lasts for the years below.\nTerm: 3 years\n\n" + filler(300))


def test_focus_asks_each_field_of_the_start_and_its_best_chunks(server, client):
    server.default = schema_reader
    ex = extractor(client, chunk_tokens=120, focus=1)
    result = ex.extract_result(Lawful, FOCUSED)
    assert isinstance(result, DocumentResult)
    bodies = server.bodies()
    asked = [_asked(b) for b in bodies]
    assert result.total_chunks > result.chunk_count == len(bodies) >= 3  # most never sent
    # requests run concurrently: compare what was asked as a multiset
    assert sorted(asked) == sorted(result.asked.values())
    assert result.record()["document"]["total_chunks"] == result.total_chunks
    assert result.asked[0] == ["parties", "jurisdiction", "term_years"]  # the start: all
    later = [f for i, f in result.asked.items() if i > 0]
    assert ["jurisdiction"] in later and any("term_years" in f for f in later)
    assert result.value == Lawful(parties=["Nike Inc.", "Acme Corp"], jurisdiction="Oregon",
                                  term_years=3)
    # the start's decoy lost to the clause that speaks of governing law, and the
    # conflict says why
    [conflict] = result.conflicts
    assert conflict.pointer == "/jurisdiction" and conflict.policy == "best"
    scores = {c.value: c.score for c in conflict.candidates}
    assert scores["Oregon"] > scores["Ohio"]
    assert result.record()["conflicts"][0]["candidates"][0]["score"] is not None


def test_without_focus_every_chunk_is_asked_everything_and_the_first_wins(server, client):
    server.default = schema_reader
    result = extractor(client, chunk_tokens=120).extract_result(Lawful, FOCUSED)
    assert result.chunk_count == result.total_chunks == len(server.bodies())
    assert result.asked == {} and "asked" not in result.record()["document"]
    assert {tuple(_asked(b)) for b in server.bodies()} == {("parties", "jurisdiction",
                                                             "term_years")}
    assert result.value.jurisdiction == "Ohio"


def test_focus_validates_with_the_full_schema_and_later_passes_ask_every_chunk(server, client):
    server.default = schema_reader
    text = ("Party: Nike Inc.\n\n" + filler(600) + "\n\nGoverned by the laws below.\n"
            "Governing law: Oregon\n\n" + filler(600) + "\n\nTerm (small print): 4 years\n")
    result = extractor(client, chunk_tokens=120, focus=1, passes=2).extract_result(Lawful, text)
    assert result.value == Lawful(parties=["Nike Inc."], jurisdiction="Oregon", term_years=4)
    [_, second] = result.passes
    assert second.asked == ("term_years",) and second.filled == ("term_years",)
    later = [b for b in server.bodies() if "still missing" in user_text(b)]
    assert len(later) == result.chunk_count


def test_focus_must_be_a_non_negative_integer():
    with pytest.raises(ConfigurationError, match="focus"):
        Extractor(client=object(), model="m", focus=-1)


def test_cli_focus_records_what_each_chunk_was_asked(server, tmp_path, monkeypatch):
    server.default = schema_reader
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    schema = tmp_path / "lawful.py"
    schema.write_text(
        "from pydantic import BaseModel, Field\n\nclass Lawful(BaseModel):\n"
        "    parties: list[str] = []\n"
        "    jurisdiction: str | None = Field(None, description='the state whose laws govern it')\n"
        "    term_years: int | None = None\n")
    doc = tmp_path / "nda.txt"
    doc.write_text(FOCUSED)
    short = tmp_path / "short.txt"
    short.write_text("Party: Ann\n")
    out = tmp_path / "out.jsonl"
    code = main(["run", str(schema), str(doc), str(short), "--model", "m", "--chunk-tokens",
                 "120", "--focus", "1", "-o", str(out)], out=io.StringIO(), err=io.StringIO())
    assert code == 0
    record = next(r for r in map(json.loads, out.read_text().splitlines())
                  if r["input"].endswith("nda.txt"))
    assert record["value"]["jurisdiction"] == "Oregon"
    document = record["document"]
    assert document["total_chunks"] > document["chunks"] == len(document["asked"])
    assert document["asked"]["0"] == ["parties", "jurisdiction", "term_years"]


def test_chunks_fail_over_along_a_fallback_chain(server, monkeypatch):
    """A chunked document with a fallback chain: every chunk is one input of the chain,
    so a primary that refuses the key hands each chunk to the next endpoint, whose
    request is compiled for its own profile; the merged result says who answered."""
    from extractkit import Endpoint
    from tests.scripted_server import ScriptedServer, error

    monkeypatch.setenv("PRIMARY_KEY", "sk-primary")
    monkeypatch.setenv("BACKUP_KEY", "sk-backup")
    server.default = lambda body: error(401, "bad key")
    with ScriptedServer(default=reader_reply) as backup:
        ex = Extractor(
            endpoint=Endpoint("primary", base_url=server.base_url, model="m",
                              api_key_env="PRIMARY_KEY", profile="openai"),
            fallback=[Endpoint("backup", base_url=backup.base_url, model="m",
                               api_key_env="BACKUP_KEY", profile="llamacpp")],
            chunk_tokens=300, transport_retries=0)
        result = ex.extract_result(Contract, LONG)
        assert isinstance(result, DocumentResult)
        assert result.value == Contract(parties=["Nike Inc.", "Acme Corp", "Zeta LLC"],
                                        jurisdiction="Delaware", term_years=3)
        assert result.failed_chunks == []
        bodies = backup.bodies()
        assert result.chunk_count == len(bodies) > 3
        assert all(b["response_format"]["type"] == "json_object" for b in bodies)  # llamacpp
        assert {o.result.endpoint for o in result.chunks if o.result} == {"backup"}
        assert result.endpoint == "backup"
