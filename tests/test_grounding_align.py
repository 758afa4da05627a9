"""Aligning values to the source text: spans, statuses, forms, scripts, occurrences."""

from __future__ import annotations

import random
import unicodedata
from typing import Annotated

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from extractkit.grounding import Grounding
from extractkit.grounding.align import ground_value
from extractkit.grounding.forms import date_forms, number_values, numbers_in
from extractkit.grounding.index import SCAN_LIMIT, DocumentIndex
from extractkit.grounding.normalize import fold, normalize_text
from extractkit.markers import Grounded
from extractkit.schema.view import schema_view


def ground(model: type[BaseModel] | dict, value: object, text: str | dict) -> Grounding:
    schema = model if isinstance(model, dict) else model.model_json_schema()
    docs = text if isinstance(text, dict) else {"text": text}
    return ground_value(value, schema_view(schema), docs)


def quoted(g: Grounding, pointer: str, text: str) -> str:
    span = g[pointer].spans[0]
    return text[span.start:span.end]


class Line(BaseModel):
    description: str
    quantity: int
    unit_price: float


class Party(BaseModel):
    name: str
    city: str | None = None


class Invoice(BaseModel):
    number: str
    seller: Party
    buyer: Party
    lines: list[Line]
    date: str = Field(json_schema_extra={"format": "date"})
    notes: Annotated[str, Grounded(False)] = ""


INVOICE_TEXT = (
    "INVOICE 2024-117\n"
    "From: Acme Tools GmbH, Berlin\n"
    "To:   Müller & Söhne KG, Zürich\n"
    "Date: 20.05.2014\n\n"
    "  2 x Hammer        12.50\n"
    "  1 x Box of nails   4.20\n"
)


def test_nested_models_and_lists_get_spans_into_the_original_text():
    value = {
        "number": "2024-117",
        "seller": {"name": "Acme Tools GmbH", "city": "Berlin"},
        "buyer": {"name": "Müller & Söhne KG", "city": "Zürich"},
        "lines": [
            {"description": "Hammer", "quantity": 2, "unit_price": 12.5},
            {"description": "box of nails", "quantity": 1, "unit_price": 4.2},
        ],
        "date": "2014-05-20",
        "notes": "a summary that appears nowhere",
    }
    g = ground(Invoice, value, INVOICE_TEXT)
    assert quoted(g, "/seller/name", INVOICE_TEXT) == "Acme Tools GmbH"
    assert g["/seller/name"].status == "exact"
    assert quoted(g, "/buyer/city", INVOICE_TEXT) == "Zürich"
    assert quoted(g, "/lines/0/description", INVOICE_TEXT) == "Hammer"
    assert g["/lines/1/description"].status == "normalized"  # case
    assert quoted(g, "/lines/1/description", INVOICE_TEXT) == "Box of nails"
    assert quoted(g, "/lines/0/unit_price", INVOICE_TEXT) == "12.50"
    assert g["/lines/0/unit_price"].status == "normalized"  # 12.5 written 12.50
    assert quoted(g, "/lines/1/unit_price", INVOICE_TEXT) == "4.20"
    assert quoted(g, "/date", INVOICE_TEXT) == "20.05.2014"
    assert "/notes" not in g  # x-grounding: false is never checked
    assert not g.ungrounded
    # numbers are looked up but not required by default; free-form strings are
    assert g["/lines/0/quantity"].required is False and g["/seller/name"].required is True


def test_fields_of_one_list_item_are_found_near_each_other():
    text = "2 x Hammer 12.50\n1 x Saw 30.00\n2 x Drill 99.00\n"
    value = {"number": "x", "seller": {"name": "Saw"}, "buyer": {"name": "Saw"},
             "lines": [{"description": "Hammer", "quantity": 2, "unit_price": 12.5},
                       {"description": "Drill", "quantity": 2, "unit_price": 99}],
             "date": "2014-05-20"}
    g = ground(Invoice, value, text)
    # the second line's quantity "2" is the one next to "Drill", not the first "2"
    drill = g["/lines/1/description"].spans[0].start
    assert g["/lines/1/quantity"].spans[0].start == text.index("2 x Drill")
    assert abs(g["/lines/1/quantity"].spans[0].start - drill) < 5
    assert g["/lines/0/quantity"].spans[0].start == 0


def test_the_first_value_takes_the_first_occurrence():
    text = "Ann wrote to Bob. Later Ann called."
    g = ground({"type": "object", "properties": {"who": {"type": "string"}}}, {"who": "Ann"}, text)
    assert g["/who"].spans[0].start == 0


def test_invented_values_are_ungrounded_and_near_misses_are_not_exact():
    text = "Write to ann@example.org or call Maria Lopez at the New York office."
    schema = {"type": "object", "properties": {k: {"type": "string"} for k in "abcd"}}
    g = ground(schema, {"a": "ann@example.com", "b": "Maria Lopes", "c": "Springfield",
                        "d": "new  york"}, text)
    assert g["/a"].status == "ungrounded" and g["/a"].spans == ()
    assert g["/b"].status == "fuzzy" and 0.9 <= g["/b"].score < 1.0
    assert quoted(g, "/b", text) == "Maria Lopez"
    assert g["/c"].status == "ungrounded"
    assert g["/d"].status == "normalized" and quoted(g, "/d", text) == "New York"
    assert [x.pointer for x in g.ungrounded] == ["/a", "/c"]


def test_surrounding_punctuation_and_whitespace_runs():
    text = "Name:\n  Jane\t\tDoe ;  role: «Senior Engineer»."
    schema = {"type": "object", "properties": {"n": {"type": "string"}, "r": {"type": "string"}}}
    g = ground(schema, {"n": "Jane Doe", "r": "senior engineer."}, text)
    assert g["/n"].status == "normalized" and quoted(g, "/n", text) == "Jane\t\tDoe"
    assert g["/r"].status == "normalized" and quoted(g, "/r", text) == "Senior Engineer"


def test_unspaced_scripts_rtl_and_combining_characters():
    text = ("東京都渋谷区神南1-2-3 株式会社テスト 山田太郎様。"
            "שלום עולם, כתובת: רחוב הרצל 5. "
            "مرحبا بالعالم "
            "Cafe\u0301 de Flore, Ｔｏｋｙｏ ﬁnance, STRASSE")
    strings = {"type": "array", "items": {"type": "string"}}
    values = ["渋谷区", "山田太郎", "רחוב הרצל", "بالعالم", "Café de Flore", "Tokyo", "finance",
              "straße"]
    g = ground(strings, values, text)
    assert quoted(g, "/0", text) == "渋谷区" and g["/0"].status == "exact"
    assert quoted(g, "/1", text) == "山田太郎"
    assert quoted(g, "/2", text) == "רחוב הרצל"
    assert quoted(g, "/3", text) == "بالعالم"
    # precomposed é in the value, e + combining acute in the text: whole characters
    assert quoted(g, "/4", text) == "Cafe\u0301 de Flore" and g["/4"].status == "normalized"
    assert quoted(g, "/5", text) == "Ｔｏｋｙｏ"
    assert quoted(g, "/6", text) == "ﬁnance"
    assert quoted(g, "/7", text) == "STRASSE"


def test_a_match_never_splits_a_character_from_its_combining_marks():
    text = "Jose\u0301 and Jose"
    g = ground({"type": "array", "items": {"type": "string"}}, ["Jose"], text)
    assert g["/0"].spans[0].start == text.rindex("Jose") and g["/0"].status == "exact"


def test_numbers_in_their_textual_forms_but_not_inside_longer_numbers():
    text = "Total 1.250,00 EUR (net 1,050.50), 34 items, order 123456, rate 0.5%"
    schema = {"type": "object", "properties": {k: {"type": "number"} for k in "abcdef"}}
    g = ground(schema, {"a": 1250, "b": 1050.5, "c": 34, "d": 3456, "e": 0.5, "f": 12}, text)
    assert quoted(g, "/a", text) == "1.250,00"
    assert quoted(g, "/b", text) == "1,050.50"
    assert quoted(g, "/c", text) == "34" and g["/c"].status == "exact"
    assert g["/d"].status == "ungrounded"  # only inside 123456
    assert quoted(g, "/e", text) == "0.5"
    assert g["/f"].status == "ungrounded"


def test_written_numbers_are_read_as_documented():
    for written in ("1250", "1,250", "1.250", "1 250", "1'250", "1,250.00", "1.250,00"):
        assert 1250 in number_values(written), written
    assert number_values("12.50") == [12.5] and number_values("1.250") == [1.25, 1250]
    assert number_values("12,5") == [12.5]
    assert number_values("-3") == [-3]
    assert number_values("1,25,000") == [] and number_values("20.05.2014") == []
    table = numbers_in("call 555 0100 on 20.05.2014, pay -3")
    assert table[555.0] == ([5], [8]) and table[2014.0] == ([23], [27])
    assert table[-3.0] == ([33], [35]) and table[3.0] == ([34], [35])


def test_dates_in_their_textual_forms():
    schema = {"type": "array", "items": {"type": "string", "format": "date"}}
    for text, expected in [("signed on May 20, 2014 in Rome", "May 20, 2014"),
                           ("signed on 20 May 2014", "20 May 2014"),
                           ("signed 20.05.2014.", "20.05.2014"),
                           ("am 2014-05-20 unterschrieben", "2014-05-20"),
                           ("2014年5月20日に署名", "2014年5月20日"),
                           ("Sept. 3, 2021", "Sept. 3, 2021")]:
        iso = "2021-09-03" if "2021" in text else "2014-05-20"
        g = ground(schema, [iso], text)
        assert quoted(g, "/0", text) == expected, text
        assert g["/0"].status == ("exact" if expected == iso else "normalized")
    assert ground(schema, ["2014-05-21"], "May 20, 2014")["/0"].status == "ungrounded"
    assert date_forms("not a date") == [] and date_forms("2014-02-30") == []


def test_booleans_only_when_marked():
    schema = {"type": "object", "properties": {
        "plain": {"type": "boolean"},
        "marked": {"type": "boolean", "x-grounding": True}}}
    g = ground(schema, {"plain": True, "marked": True}, "Signed: yes")
    assert "/plain" not in g
    assert g["/marked"].status == "normalized" and g["/marked"].required


def test_several_documents_and_pages():
    class Doc:
        def __init__(self, text: str) -> None:
            self.text = text

        def page_of(self, offset: int) -> int:
            return 1 + offset // 10

    main = Doc("page one. page two: the Contractor is Zeta Corp.")
    g = ground({"type": "array", "items": {"type": "string"}}, ["Zeta Corp", "Annex B"],
               {"contract": main, "annex": "Annex B: prices"})
    assert g["/0"].spans[0].source == "contract" and g["/0"].spans[0].page == 4
    assert g["/1"].spans[0].source == "annex" and g["/1"].spans[0].start == 0


def test_json_form_round_trips():
    g = ground(Invoice, {"number": "2024-117", "seller": {"name": "Acme"},
                         "buyer": {"name": "Nobody Inc"}, "lines": [], "date": "2014-05-20"},
               INVOICE_TEXT)
    data = g.as_dict()
    assert data["/buyer/name"]["status"] == "ungrounded"
    assert data["/number"]["spans"][0]["start"] == INVOICE_TEXT.index("2024-117")
    assert Grounding.from_dict(data) == g


def test_normalized_offsets_map_back_to_whole_original_characters():
    text = "A\u00a0\u00a0ﬁne  Straße\n\nÉcole"
    norm = normalize_text(text)
    assert norm.text == "a fine strasse e\u0301cole"
    start = norm.text.index("fine")
    assert norm.to_original(start, start + 4) == (3, 6)  # "ﬁ" + "ne"
    assert norm.to_original(start, start + 1) == (3, 4)  # half the ligature: all of it
    start = norm.text.index("strasse")
    assert text.__getitem__(slice(*norm.to_original(start, start + 7))) == "Straße"


# -- the index ---------------------------------------------------------------------------

_ALPHABET = "ab cÉé\u0301\n\t東京-.,ßשא"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_ALPHABET, min_size=1, max_size=300), st.data())
def test_any_substring_of_a_document_is_found_where_it_occurs(doc, data):
    start = data.draw(st.integers(0, len(doc) - 1))
    end = data.draw(st.integers(start + 1, len(doc)))
    value = doc[start:end]
    if not value.strip() or not any(c.isalnum() for c in value):
        return
    g = ground({"type": "string"}, value, doc)
    leaf = g[""]
    assert leaf.status in ("exact", "normalized")
    span = leaf.spans[0]
    found = doc[span.start:span.end]
    if leaf.status == "exact":
        assert found == value
    else:  # the same text after normalization, at a real position of the document
        assert fold(found).strip(" -.,") == fold(value).strip(" -.,")


def test_the_index_finds_what_a_scan_finds_on_a_large_document():
    rng = random.Random(7)
    words = ["alpha", "Beta", "γάμμα", "東京", "naïve", "שלום", "x", "Straße", "e\u0301"]
    text = " ".join(rng.choice(words) + ("\n" if rng.random() < 0.1 else "")
                    for _ in range(SCAN_LIMIT // 3))
    index = DocumentIndex(text)
    assert index._grams is not None  # the trigram index, not the scan
    for _ in range(300):
        a = rng.randrange(len(index.text))
        needle = index.text[a:a + rng.randrange(1, 12)]
        expected, at = [], index.text.find(needle)
        while at >= 0:
            expected.append(at)
            at = index.text.find(needle, at + 1)
        near = rng.randrange(len(index.text))
        found = [int(p) for p in index.find_all(needle, near)]
        if len(expected) <= 4096:
            assert found == expected
        else:  # very frequent: the neighbourhood of `near`, with the nearest on each side
            assert set(found) <= set(expected)
            before = [p for p in expected if p < near]
            after = [p for p in expected if p >= near]
            assert (not before or before[-1] in found) and (not after or after[0] in found)


def test_fuzzy_matches_on_a_large_document():
    rng = random.Random(3)
    filler = " ".join("".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(8000))
    text = filler[:20000] + " Schwarzenegger Holdings AG " + filler[20000:]
    g = ground({"type": "string"}, "Schwarzeneger Holdings AG", text)
    assert g[""].status == "fuzzy"
    assert text[g[""].spans[0].start:g[""].spans[0].end] == "Schwarzenegger Holdings AG"


def test_nfkc_equivalents_are_normalized_not_exact():
    text = unicodedata.normalize("NFD", "Ångström")
    g = ground({"type": "string"}, "Ångström", text)
    assert g[""].status == "normalized" and g[""].spans[0].end == len(text)


def test_large_and_small_normalization_agree():
    from extractkit.grounding.normalize import LARGE, _normalize_large, _normalize_small

    rng = random.Random(11)
    pieces = ["Straße", " ", "\n\n", "\t", "ﬁ", "É", "e\u0301", "東京", "Ｔｏｋｙｏ", "abc", "  ",
              "שלום", "ß", "\u00a0", "x"]
    text = "".join(rng.choice(pieces) for _ in range(LARGE // 2))
    assert len(text) > LARGE
    large, small = _normalize_large(text), _normalize_small(text)
    assert large.text == small.text
    for _ in range(2000):
        start = rng.randrange(len(small.text) - 1)
        end = start + rng.randrange(1, 20)
        assert large.to_original(start, min(end, len(small.text))) == \
            small.to_original(start, min(end, len(small.text)))
