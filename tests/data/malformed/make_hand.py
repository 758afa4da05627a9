"""Write ``hand.jsonl``: hand-made malformed answers, one per line, with what they must give.

    python tests/data/malformed/make_hand.py

Each case is ``(id, class, schema, raw, expected)``; ``expected`` is the value
a careful reader recovers from the reply against the schema, or ``REJECT``
when the schema cannot tell what was meant (the answer must go back to the
model). The classes follow what fails plain validation in practice: key
spelling, wrapping, scalars written as strings, enum case, prose around the
JSON, several JSON documents, syntax faults, and mixtures of those.
"""

from __future__ import annotations

import json
from pathlib import Path

REJECT = "REJECT"

CASES: list[tuple[str, str, str, str, object]] = [
    # -- keys in another case or spelling
    ("keys-1", "keys", "answer", '{"Answer": "Paris", "sources": ["doc1"]}',
     {"answer": "Paris", "sources": ["doc1"]}),
    ("keys-2", "keys", "answer", '{"ANSWER": "Paris", "Sources": ["doc1"], "Confidence": 0.8}',
     {"answer": "Paris", "sources": ["doc1"], "confidence": 0.8}),
    ("keys-3", "keys", "invoice",
     '{"Number": "A-1", "Seller": "Acme", "Items": [{"Description": "Hammer", "Quantity": 2, '
     '"Unit Price": 12.5}]}',
     {"number": "A-1", "seller": "Acme", "items": [{"description": "Hammer", "quantity": 2,
                                                    "unit_price": 12.5}]}),
    ("keys-4", "keys", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": [{"description": "Nails", "quantity": 1, '
     '"unitPrice": 4.2}]}',
     {"number": "A-1", "seller": "Acme", "items": [{"description": "Nails", "quantity": 1,
                                                    "unit_price": 4.2}]}),
    ("keys-5", "keys", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": [{"description": "Nails", "quantity": 1, '
     '"unit-price": 4.2}]}',
     {"number": "A-1", "seller": "Acme", "items": [{"description": "Nails", "quantity": 1,
                                                    "unit_price": 4.2}]}),
    ("keys-6", "keys", "person", '{"NAME": "Maria Lopez", "Age": 34, "CITY": "Madrid"}',
     {"name": "Maria Lopez", "age": 34, "city": "Madrid"}),
    ("keys-7", "keys", "contact", '{"Name": "Jonas Weber", "E-mail": "j@example.org"}',
     {"name": "Jonas Weber", "email": "j@example.org"}),
    ("keys-8", "keys", "verdict", '{"Label": "Positive", "Score": 0.93}',
     {"label": "Positive", "score": 0.93}),
    ("keys-9", "keys", "person", '{"name ": "Maria Lopez", "age": 34}',
     {"name": "Maria Lopez", "age": 34}),
    ("keys-10", "keys", "person", '{"name": "Maria Lopez", "Name": "M. Lopez"}', REJECT),
    ("keys-11", "keys", "person", '{"Name": "Maria Lopez", "NAME": "M. Lopez"}', REJECT),
    ("keys-12", "keys", "answer", '{"Answer": "Paris", "ANSWER": "Lyon", "sources": []}', REJECT),
    # -- wrapping and unwrapping
    ("wrap-1", "wrapping", "tags", '["python", "json"]', {"tags": ["python", "json"]}),
    ("wrap-2", "wrapping", "tags", '```json\n["a", "b", "c"]\n```', {"tags": ["a", "b", "c"]}),
    ("wrap-3", "wrapping", "events", '{"title": "Offsite", "date": "2025-06-12"}',
     [{"title": "Offsite", "date": "2025-06-12"}]),
    ("wrap-4", "wrapping", "events",
     '[{"title": "Offsite", "date": "2025-06-12"}, {"title": "Launch", "date": "2025-07-01"}]',
     [{"title": "Offsite", "date": "2025-06-12"}, {"title": "Launch", "date": "2025-07-01"}]),
    ("wrap-5", "wrapping", "events",
     '{"events": [{"title": "Offsite", "location": "Lisbon"}]}',
     [{"title": "Offsite", "location": "Lisbon"}]),
    ("wrap-6", "wrapping", "count", "4", 4),
    ("wrap-7", "wrapping", "count", '{"value": {"value": 4}}', 4),
    ("wrap-8", "wrapping", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": {"description": "Hammer", "quantity": 2, '
     '"unit_price": 12.5}}',
     {"number": "A-1", "seller": "Acme", "items": [{"description": "Hammer", "quantity": 2,
                                                    "unit_price": 12.5}]}),
    ("wrap-9", "wrapping", "answer", '{"answer": "Paris", "sources": "doc1"}', REJECT),
    ("wrap-10", "wrapping", "count", '{"count": 4}', 4),  # not coerced: only "value" unwraps
    ("wrap-11", "wrapping", "events", '{"Events": [{"Title": "Offsite"}]}', [{"title": "Offsite"}]),
    # -- scalars written as strings
    ("scalar-1", "scalars", "person", '{"name": "Maria Lopez", "age": "34"}',
     {"name": "Maria Lopez", "age": 34}),
    ("scalar-2", "scalars", "person", '{"name": "Maria Lopez", "age": "34.0"}',
     {"name": "Maria Lopez", "age": 34}),
    ("scalar-3", "scalars", "person", '{"name": "Maria Lopez", "age": "34.5"}', REJECT),
    ("scalar-4", "scalars", "person", '{"name": "Maria Lopez", "age": "thirty-four"}', REJECT),
    ("scalar-5", "scalars", "person", '{"name": "Maria Lopez", "age": "null"}',
     {"name": "Maria Lopez", "age": None}),
    ("scalar-6", "scalars", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": [{"description": "Hammer", "quantity": "2", '
     '"unit_price": "12.50"}], "total": "25.00", "paid": "false"}',
     {"number": "A-1", "seller": "Acme", "items": [{"description": "Hammer", "quantity": 2,
                                                    "unit_price": 12.5}],
      "total": 25.0, "paid": False}),
    ("scalar-7", "scalars", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": [], "total": "29,20"}', REJECT),
    ("scalar-8", "scalars", "answer", '{"answer": "Paris", "sources": [], "confidence": "0.9"}',
     {"answer": "Paris", "sources": [], "confidence": 0.9}),
    ("scalar-9", "scalars", "verdict", '{"label": "Neutral", "score": "0.5", "flagged": "TRUE"}',
     {"label": "Neutral", "score": 0.5, "flagged": True}),
    ("scalar-10", "scalars", "verdict", '{"label": "Neutral", "score": "0.12345678901234567890"}',
     REJECT),
    ("scalar-11", "scalars", "verdict", '{"label": "Neutral", "score": 0.5, "flagged": "yes"}',
     REJECT),
    ("scalar-12", "scalars", "count", '"7"', 7),
    ("scalar-13", "scalars", "count", '{"value": "7"}', 7),
    ("scalar-14", "scalars", "person", '{"name": 42}', REJECT),
    ("scalar-15", "scalars", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": [], "total": "1e2"}',
     {"number": "A-1", "seller": "Acme", "items": [], "total": 100.0}),
    # -- enums
    ("enum-1", "enums", "invoice", '{"number": "A-1", "seller": "Acme", "items": [], "currency": "eur"}',
     {"number": "A-1", "seller": "Acme", "items": [], "currency": "EUR"}),
    ("enum-2", "enums", "verdict", '{"label": "positive", "score": 0.9}',
     {"label": "Positive", "score": 0.9}),
    ("enum-3", "enums", "verdict", '{"label": "NEGATIVE", "score": 0.1}',
     {"label": "Negative", "score": 0.1}),
    ("enum-4", "enums", "verdict", '{"label": "good", "score": 0.9}', REJECT),
    ("enum-5", "enums", "invoice", '{"number": "A-1", "seller": "Acme", "items": [], "currency": "Euro"}',
     REJECT),
    # -- prose around the JSON
    ("prose-1", "prose", "person",
     'Here is the extracted data:\n{"name": "Maria Lopez", "age": 34, "city": "Madrid"}\nLet me know!',
     {"name": "Maria Lopez", "age": 34, "city": "Madrid"}),
    ("prose-2", "prose", "answer",
     'Sure! The answer, based on the context, is below.\n\n```json\n{"answer": "Paris", '
     '"sources": ["doc2"]}\n```\n\nThe capital is mentioned in doc2.',
     {"answer": "Paris", "sources": ["doc2"]}),
    ("prose-3", "prose", "person",
     'Based on the text (which mentions {no data} twice), the person is: '
     '{"name": "Maria Lopez", "age": "34"}',
     {"name": "Maria Lopez", "age": 34}),
    ("prose-4", "prose", "person", "Maria Lopez is 34 years old.", REJECT),
    # -- several JSON documents in one reply
    ("multi-1", "candidates", "person",
     'The schema is {"type": "object", "properties": {"name": {"type": "string"}}}. '
     'The answer: {"name": "Maria Lopez", "age": 34}',
     {"name": "Maria Lopez", "age": 34}),
    ("multi-2", "candidates", "person",
     '{"name": "Maria Lopez", "age": 34}\n\nor, formatted:\n\n{"name": "Maria Lopez", "age": 34}',
     {"name": "Maria Lopez", "age": 34}),
    ("multi-3", "candidates", "person",
     'First guess: {"name": "Maria Lopez", "age": "34", "job": "architect"}\n'
     'Corrected: {"name": "Maria Lopez", "age": 34, "city": "Madrid"}',
     {"name": "Maria Lopez", "age": 34, "city": "Madrid"}),
    ("multi-4", "candidates", "person",
     '{"name": "Maria Lopez", "age": 34} or maybe {"name": "Maria Lopez", "age": 43}', REJECT),
    ("multi-5", "candidates", "answer",
     'Example format: {"answer": "...", "sources": ["..."], "notes": 1}\n'
     'Result: {"answer": "Paris", "sources": ["doc1"]}',
     {"answer": "Paris", "sources": ["doc1"]}),
    ("multi-6", "candidates", "verdict",
     '```json\n{"Label": "Positive", "score": 0.9}\n```\nAlternatively {"label": "Negative", '
     '"score": 0.2}', REJECT),
    ("multi-7", "candidates", "tags",
     'Tags found: ["python", "json"]. In the schema\'s shape: {"tags": ["python", "json"]}',
     {"tags": ["python", "json"]}),
    # -- syntax faults (the syntax repair fixes these alone)
    ("syntax-1", "syntax", "person", '{"name": "Maria Lopez", "age": 34,}',
     {"name": "Maria Lopez", "age": 34}),
    ("syntax-2", "syntax", "person", "{'name': 'Maria Lopez', 'city': 'Madrid'}",
     {"name": "Maria Lopez", "city": "Madrid"}),
    ("syntax-3", "syntax", "answer", '```json\n{"answer": "Paris", "sources": ["doc1"]}\n```',
     {"answer": "Paris", "sources": ["doc1"]}),
    ("syntax-4", "syntax", "person", '{"name": "Maria Lopez", "city": None}',
     {"name": "Maria Lopez", "city": None}),
    ("syntax-5", "syntax", "tags", '{"tags": ["a", "b"', {"tags": ["a", "b"]}),
    # -- several classes at once
    ("mixed-1", "mixed", "invoice",
     'Here you go:\n```json\n{"Number": "2024-117", "Seller": "Acme Tools GmbH", "Currency": "eur", '
     '"Items": [{"Description": "Hammer", "Quantity": "2", "Unit Price": "12.50"}], '
     '"Total": "29.20",}\n```',
     {"number": "2024-117", "seller": "Acme Tools GmbH", "currency": "EUR",
      "items": [{"description": "Hammer", "quantity": 2, "unit_price": 12.5}], "total": 29.2}),
    ("mixed-2", "mixed", "events",
     'Events:\n[{"Title": "Offsite", "Date": "2025-06-12", "Location": "Lisbon"}]',
     [{"title": "Offsite", "date": "2025-06-12", "location": "Lisbon"}]),
    ("mixed-3", "mixed", "tags", 'The tags are: ["x", "y"]', {"tags": ["x", "y"]}),
    ("mixed-4", "mixed", "verdict", "{'Label': 'positive', 'Score': '0.75'}",
     {"label": "Positive", "score": 0.75}),
    ("mixed-5", "mixed", "person", '{"Name": "Maria Lopez", "Age": "34", "City": null}',
     {"name": "Maria Lopez", "age": 34, "city": None}),
    ("mixed-6", "mixed", "answer",
     'I found it. {"Answer": "Paris", "Sources": "doc1", "Confidence": "0.7"}', REJECT),
    ("mixed-7", "mixed", "invoice",
     '{"number": "A-1", "seller": "Acme", "items": [{"description": "Hammer", "quantity": "-2", '
     '"unit_price": 1}]}', REJECT),
]


def main() -> None:
    out = Path(__file__).with_name("hand.jsonl")
    with out.open("w", encoding="utf-8") as fh:
        for case_id, klass, schema, raw, expected in CASES:
            record: dict[str, object] = {"id": case_id, "class": klass, "schema": schema,
                                         "origin": "hand", "raw": raw}
            if expected == REJECT:
                record["reject"] = True
            else:
                record["expected"] = expected
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{len(CASES)} cases -> {out}")


if __name__ == "__main__":
    main()
