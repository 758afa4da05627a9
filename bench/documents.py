"""Loading scales linearly: ``load_document`` time per MB of text at 1x and 10x sizes, in one run.

For each format a seeded synthetic file is written at a base size and at 10
times that size, then loaded with :func:`extractkit.documents.load_document`
(best of ``--rounds``): an HTML page (trafilatura), a Word file (python-docx)
and a PDF (pypdfium2; the PDF is written here by a minimal PDF writer, one
page of text per ~3,000 characters). Reported: time per MB of loaded text at
both sizes and their ratio. Budget: within 1.3x. (Plain text is one UTF-8
decode, well under a millisecond per MB, whose timing shows the memory
allocator rather than extractkit; ``bench/chunking.py`` covers long text.)

    python bench/documents.py [--rounds 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    from extractkit.documents import load_document
except ImportError:  # a checkout that is not installed
    sys.path.insert(0, str(ROOT))
    from extractkit.documents import load_document

MB = 1_000_000
BUDGET = 1.3
_WORDS = [
    "agreement", "party", "confidential", "information", "shall", "disclose", "recipient",
    "term", "governed", "laws", "state", "effective", "date", "obligations", "written",
]


def _paragraphs(size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        paragraph = " ".join(
            " ".join(rng.choices(_WORDS, k=rng.randint(8, 25))).capitalize() + "."
            for _ in range(rng.randint(2, 6))
        )
        out.append(paragraph)
        total += len(paragraph) + 2
    return out


def write_html(path: Path, size: int) -> None:
    body = "\n".join(f"<p>{p}</p>" for p in _paragraphs(size))
    path.write_text(
        "<!DOCTYPE html><html><head><title>Agreement</title></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<main><article><h1>Agreement</h1>{body}</article></main>"
        "<footer>All rights reserved.</footer></body></html>",
        encoding="utf-8",
    )


def write_docx(path: Path, size: int) -> None:
    import docx

    document = docx.Document()
    for paragraph in _paragraphs(size):
        document.add_paragraph(paragraph)
    document.save(str(path))


def write_pdf(path: Path, size: int) -> None:
    """A PDF of Helvetica text pages (about 3,000 characters each), written directly."""
    lines: list[str] = []
    for paragraph in _paragraphs(size):
        words = paragraph.split()
        for start in range(0, len(words), 12):
            lines.append(" ".join(words[start:start + 12]))
        lines.append("")
    pages = [lines[i:i + 40] for i in range(0, len(lines), 40)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for page in pages:
        ops = ["BT /F1 9 Tf 11 TL 40 800 Td"]
        ops += [f"({line}) Tj T*" for line in page]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    path.write_bytes(bytes(out))


FORMATS: dict[str, tuple[str, Callable[[Path, int], None], int]] = {
    "html": (".html", write_html, MB // 2),
    "docx": (".docx", write_docx, MB // 4),
    "pdf": (".pdf", write_pdf, MB // 4),
}


def seconds_per_mb(path: Path, rounds: int) -> tuple[float, int, int]:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        document = load_document(path)
        best = min(best, time.perf_counter() - start)
    return best / (len(document.text) / MB), len(document.text), len(document.pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the base sizes")
    args = parser.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        for name, (suffix, write, base) in FORMATS.items():
            rows = []
            for factor in (1, 10):
                path = Path(folder, f"{name}-{factor}{suffix}")
                write(path, int(base * factor * args.scale))
                rows.append(seconds_per_mb(path, args.rounds))
            ratio = rows[1][0] / rows[0][0]
            within = ratio <= BUDGET
            ok = ok and within
            sizes = ", ".join(
                f"{chars / MB:.2f} MB{f' / {pages} pages' if pages else ''}: {spm * 1000:.1f} ms/MB"
                for spm, chars, pages in rows
            )
            print(f"{name:>5}: {sizes}; 10x / 1x per-MB time {ratio:.2f}x "
                  f"(budget {BUDGET}x): {'ok' if within else 'OVER BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
