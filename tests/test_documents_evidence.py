"""Evidence ranking: stems, field queries from the schema, BM25 over chunks, which
chunks each field is asked of under ``focus``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from extractkit.documents.evidence import (
    Ranker,
    field_asks,
    field_queries,
    rank_chunks,
    stem,
    terms,
    top_chunks,
)
from extractkit.schema.view import schema_view


class NDA(BaseModel):
    effective_date: str | None = Field(None, description="the date the agreement takes effect")
    jurisdiction: str | None = Field(
        None, description="the state whose laws govern the agreement")
    term: str | None = Field(None, description="how long the agreement lasts")


ROOT = schema_view(NDA.model_json_schema()).root

CHUNKS = [
    "MUTUAL NON-DISCLOSURE AGREEMENT. This Agreement is made between Acme Inc. and Beta LLC, "
    "effective as of the date first written above.",
    "The Recipient shall hold the Information in confidence. The Agreement binds both parties.",
    "Severability. If any provision of this Agreement is invalid, the rest stays in force.",
    "Governing Law. This Agreement shall be governed by the laws of the State of Oregon.",
    "Term. This Agreement lasts for three years from the Effective Date.",
]


def test_stem_folds_the_usual_english_suffixes():
    assert {stem(w) for w in ("governed", "governs", "governing", "Govern")} == {"govern"}
    assert {stem(w) for w in ("date", "dated", "dates")} == {"dat"}
    assert {stem(w) for w in ("party", "parties")} == {"part"}
    assert stem("law") == "law" and stem("laws") == "law"
    assert stem("use") == "use"  # a stem keeps three letters


def test_terms_split_identifiers_and_drop_function_words():
    assert terms("effective_date of the governingLaw") == ["effectiv", "dat", "govern", "law"]
    assert terms("12 3rd") == ["rd"]  # digits are not words


def test_field_queries_read_names_titles_descriptions_and_nested_fields():
    class Party(BaseModel):
        legal_name: str = Field(description="registered company name")

    class Deal(BaseModel):
        parties: list[Party] = []

    queries = field_queries(ROOT)
    assert queries["jurisdiction"][:1] == ["jurisdiction"]
    assert {"law", "govern", "stat"} <= set(queries["jurisdiction"])
    nested = field_queries(schema_view(Deal.model_json_schema()).root)["parties"]
    assert {"part", "legal", "nam", "register", "compan"} <= set(nested)


def test_bm25_ranks_the_clause_that_speaks_of_the_field_first():
    scores = rank_chunks(CHUNKS, field_queries(ROOT))
    assert top_chunks(scores["jurisdiction"], 1) == [3]
    assert top_chunks(scores["term"], 1) == [4]
    # "agreement" is in every chunk: it weighs almost nothing
    assert scores["jurisdiction"][1] < scores["jurisdiction"][3] / 5


def test_top_chunks_never_picks_a_chunk_without_a_query_word():
    assert top_chunks([0.0, 2.0, 0.0, 2.0, 1.0], 2) == [1, 3]  # ties: the earlier
    assert top_chunks([0.0, 0.0], 3) == []


def test_every_field_is_asked_of_the_start_and_of_its_best_chunks():
    asks = field_asks(Ranker(CHUNKS), field_queries(ROOT), 1)
    assert asks[0] == ["effective_date", "jurisdiction", "term"]
    assert asks[3] == ["jurisdiction"]
    assert "term" in asks[4]
    assert 2 not in asks  # the severability clause is asked nothing


def test_passage_score_weighs_the_query_words_around_a_value():
    ranker = Ranker(CHUNKS)
    query = field_queries(ROOT)["jurisdiction"]
    assert ranker.passage_score("governed by the laws of the State of Oregon", query) > \
        ranker.passage_score("Severability. If any provision", query) == 0.0

