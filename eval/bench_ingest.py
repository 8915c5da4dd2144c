"""Ingest throughput of PDF and Word files, for ``eval/bench.py`` (key ``ingest`` of its JSON).

* ``pdf``: a multi-page PDF printed by headless chromium from SQuAD paragraphs
  (three a page, each page ending with a page break; 100 pages, 12 with
  ``--quick``) is read by :func:`qa.ingest.read_file` (type check, pypdf text
  extraction, header and footer removal, de-hyphenation, reflow):
  ``pages_per_s``, with ``extract_pages_per_s`` for pypdf's bare
  ``extract_text`` of the same pages (what the cleaning costs is the difference).
  None, with a reason, when chromium is not installed.
* ``docx``: Word files written by python-docx (a heading, SQuAD paragraphs and a
  5-row table each; 40 files of 60 paragraphs, 8 with ``--quick``) read by
  :func:`qa.ingest.read_file`: ``documents_per_s`` and ``paragraphs_per_s``.

Each figure is the best of three rounds (reading is CPU-bound; the best is the
least disturbed by other work on the machine).
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path

ROUNDS = 3
PDF_PAGES, QUICK_PDF_PAGES = 100, 12
DOCX_FILES, QUICK_DOCX_FILES = 40, 8
DOCX_PARAGRAPHS = 60
PARAGRAPHS_PER_PAGE = 3


def _best(fn: object, rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def bench_pdf(paragraphs: Sequence[str], work: Path, pages: int) -> dict:
    """Pages per second of reading a chromium-printed PDF of ``pages`` pages (see the module docstring)."""
    import pypdf

    from qa.ingest import read_file
    from tests import documents

    browser = documents.chromium()
    if browser is None:
        return {"skipped": "chromium is not installed (`make chromium`)"}
    body = [
        "".join(f"<p>{html.escape(paragraphs[(page * PARAGRAPHS_PER_PAGE + i) % len(paragraphs)])}</p>" for i in range(PARAGRAPHS_PER_PAGE))
        for page in range(pages)
    ]
    path = documents.print_pdf(documents.pages_html("Ingest benchmark", tuple(body)), work / "bench.pdf", header_footer=True, browser=browser)
    printed = len(pypdf.PdfReader(str(path)).pages)
    seconds = _best(lambda: read_file(path, "bench.pdf"))
    extract = _best(lambda: [p.extract_text() for p in pypdf.PdfReader(str(path)).pages])
    doc = read_file(path, "bench.pdf")
    return {
        "pages": printed,
        "bytes": path.stat().st_size,
        "read_s": round(seconds, 3),
        "pages_per_s": round(printed / seconds, 1),
        "extract_pages_per_s": round(printed / extract, 1),
        "characters": len(doc.text),
    }


def bench_docx(paragraphs: Sequence[str], work: Path, files: int) -> dict:
    """Documents and paragraphs per second of reading Word files written by python-docx."""
    from qa.ingest import read_file
    from tests import documents

    paths = []
    for n in range(files):
        texts = tuple(paragraphs[(n * DOCX_PARAGRAPHS + i) % len(paragraphs)] for i in range(DOCX_PARAGRAPHS))
        table = tuple((f"row {r}", f"{r * 7} units", f"note {n}-{r}") for r in range(5))
        paths.append(documents.write_docx(work / f"bench-{n}.docx", texts, heading=f"Document {n}", table=table))
    seconds = _best(lambda: [read_file(p, p.name) for p in paths])
    count = files * (DOCX_PARAGRAPHS + 1 + 5)  # paragraphs, the heading, the table rows
    return {
        "documents": files,
        "paragraphs": count,
        "bytes": sum(p.stat().st_size for p in paths),
        "read_s": round(seconds, 3),
        "documents_per_s": round(files / seconds, 1),
        "paragraphs_per_s": round(count / seconds, 1),
    }


def bench_ingest(paragraphs: Sequence[str], work: Path, quick: bool = False) -> dict:
    """Both ingest benchmarks (``--quick``: small sizes) in a sub-folder of ``work``."""
    folder = work / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "pdf": bench_pdf(paragraphs, folder, QUICK_PDF_PAGES if quick else PDF_PAGES),
        "docx": bench_docx(paragraphs, folder, QUICK_DOCX_FILES if quick else DOCX_FILES),
    }


def format_ingest(result: dict) -> list[str]:
    """Lines for the benchmark's plain-text table."""
    pdf, docx = result.get("pdf") or {}, result.get("docx") or {}
    lines = []
    if "skipped" in pdf:
        lines.append(f"{'ingest PDF':<32}skipped: {pdf['skipped']}")
    elif pdf:
        lines.append(
            f"{'ingest PDF':<32}{pdf['pages_per_s']} pages/s ({pdf['pages']} pages in {pdf['read_s']} s; "
            f"bare pypdf extract {pdf['extract_pages_per_s']} pages/s)"
        )
    if docx:
        lines.append(
            f"{'ingest DOCX':<32}{docx['documents_per_s']} documents/s, {docx['paragraphs_per_s']} paragraphs/s "
            f"({docx['documents']} files in {docx['read_s']} s)"
        )
    return lines
