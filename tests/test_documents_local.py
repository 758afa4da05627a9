"""Chunked extraction on the embedded model (``local_model``: slow, needs the [local] extra)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from extractkit import Extractor
from extractkit.documents.run import DocumentResult
from extractkit.errors import InputError
from tests.document_reader import filler


class Person(BaseModel):
    name: str | None = None
    city: str | None = None


TEXT = ("Maria Lopez lives in Lisbon and works as a nurse.\n\n" + filler(1000)
        + "\n\nThe signatory, Maria Lopez, wrote this in Lisbon.\n")


@pytest.mark.local_model
def test_embedded_model_reads_a_document_longer_than_its_window_in_chunks():
    ex = Extractor(local=True, context_window=1024, max_retries=1)
    result = ex.extract_result(Person, TEXT)
    assert isinstance(result, DocumentResult)
    assert result.chunk_count >= 2
    # every chunk answered or is reported with its reason; the value is valid either way
    assert len(result.failed_chunks) < result.chunk_count
    assert all(f.error for f in result.failed_chunks)
    assert isinstance(result.value, Person)
    assert result.usage.total_tokens == sum(o.usage.total_tokens for o in result.chunks)
    for pointer, leaf in (result.grounding or {}).items():
        for span in leaf.spans:  # document coordinates
            assert TEXT[span.start:span.end].casefold() == str(leaf.value).casefold(), pointer


@pytest.mark.local_model
def test_chunking_off_keeps_the_context_error_on_the_embedded_model():
    long = filler(4000)
    with pytest.raises(InputError, match=r"the prompt takes \d+ tokens; the local model's "
                                         r"context holds 4096"):
        Extractor(local=True, chunking="off").extract(Person, long)
    # and auto (the default) plans chunks for it instead of failing
    from extractkit.documents.run import plan_document

    ex = Extractor(local=True)
    run = plan_document(ex._engine, Person, long, {})
    assert run is not None and len(run.chunks) >= 2
