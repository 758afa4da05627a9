"""Document page maps and token counters."""

from __future__ import annotations

import pytest

from extractkit.documents import Document, Page
from extractkit.documents.tokens import estimate_tokens, token_counter


def test_page_of_maps_offsets_to_pages_and_gaps_to_none():
    text = "page one\n\npage two\n\npage three"
    pages = (Page(1, 0, 8), Page(2, 10, 18), Page(3, 20, 30))
    doc = Document(text, path="x.pdf", kind="pdf", pages=pages)
    assert [doc.page_of(i) for i in (0, 7, 8, 9, 10, 17, 20, 29)] == [1, 1, None, None, 2, 2, 3, 3]
    assert doc.page_of(30) is None
    assert doc.page_of(-1) is None
    assert Document.from_text(text).page_of(3) is None


def test_from_text_and_equality():
    doc = Document.from_text("hello", path="a.txt")
    assert doc == Document("hello", path="a.txt", kind="text", pages=(), title=None)
    with pytest.raises(AttributeError):
        doc.text = "changed"  # type: ignore[misc]


def test_page_of_scales_to_many_pages():
    pages = tuple(Page(n + 1, n * 10, n * 10 + 9) for n in range(100_000))
    doc = Document("x" * 1_000_000, pages=pages)
    assert doc.page_of(123_456) == 12_346
    assert doc.page_of(123_459) is None


def test_estimate_is_chars_over_four_rounded_up():
    assert [estimate_tokens(s) for s in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]
    assert token_counter("some-unknown-model", None) is estimate_tokens
    assert token_counter(None, None) is estimate_tokens


def test_openai_models_use_tiktoken_offline(tmp_path, monkeypatch):
    from extractkit.documents import tokens

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens._tiktoken_counter.cache_clear()
    count = token_counter("gpt-4o-mini", "openai")
    # o200k_base: 'Hello' ',' ' world' '!' -- a chars/4 estimate would say 4 for 13 chars too,
    # so use a text where they differ
    assert count("Hello, world!") == 4
    assert count("antidisestablishmentarianism " * 4) != estimate_tokens(
        "antidisestablishmentarianism " * 4
    )
    assert len(list(tmp_path.iterdir())) == 1  # the bundled file, placed in tiktoken's cache
    assert token_counter("gpt-4o-mini", "openai") is count
    tokens._tiktoken_counter.cache_clear()


@pytest.mark.local_model
def test_local_profile_uses_the_embedded_models_tokenizer():
    count = token_counter(None, "local")
    assert count("") == 0
    assert 0 < count("The governing law is the State of Delaware.") < 20
    assert token_counter("whatever", "local") is count


def test_document_fields_are_the_contract():
    from dataclasses import asdict, fields

    assert [f.name for f in fields(Document)] == ["text", "path", "kind", "pages", "title"]
    doc = Document("ab", pages=(Page(1, 0, 2),))
    assert doc.page_of(1) == 1
    assert asdict(doc) == {"text": "ab", "path": None, "kind": "text",
                           "pages": ({"number": 1, "start": 0, "end": 2},), "title": None}


def test_without_the_bundled_bpe_file_nothing_is_downloaded(tmp_path, monkeypatch):
    import tiktoken

    from extractkit.documents import tokens

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokens, "_bundled_bpe", lambda name: None)

    def no_download(name):
        raise AssertionError(f"tiktoken.get_encoding({name!r}) would download")

    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    tokens._tiktoken_counter.cache_clear()
    try:
        assert token_counter("gpt-4o", None) is estimate_tokens
        assert list(tmp_path.iterdir()) == []
    finally:
        tokens._tiktoken_counter.cache_clear()


def test_a_damaged_cached_bpe_file_is_replaced_from_the_bundled_copy(tmp_path, monkeypatch):
    from extractkit.documents import tokens

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens._tiktoken_counter.cache_clear()
    try:
        token_counter("gpt-4o", None)
        [cached] = tmp_path.iterdir()
        cached.write_bytes(b"damaged")
        tokens._tiktoken_counter.cache_clear()
        assert token_counter("gpt-4o", None)("Hello, world!") == 4
        assert cached.stat().st_size > 1_000_000
    finally:
        tokens._tiktoken_counter.cache_clear()
