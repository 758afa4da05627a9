"""Long documents: chunked extraction and merging (see ``docs/documents.md``)."""
