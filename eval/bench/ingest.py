"""Ingest throughput of PDF and Word files, for ``eval/bench/run.py`` (key ``ingest`` of its JSON).

* ``pdf``: a multi-page PDF printed by headless chromium from SQuAD paragraphs
  (three a page, each page ending with a page break; 100 pages, 12 with
  ``--quick``) is read by :func:`qa.documents.ingest.read_file` (type check, pypdf text
  extraction, header and footer removal, de-hyphenation, reflow):
  ``pages_per_s``, with ``extract_pages_per_s`` for pypdf's bare
  ``extract_text`` of the same pages (what the cleaning costs is the difference).
  None, with a reason, when chromium is not installed.
* ``ocr``: scanned pages (SQuAD paragraphs rendered by headless chromium at about 190
  dpi, tilted 0.3 degrees and noised, saved as an image-only PDF by Pillow; 12 pages, 3
  with ``--quick``) read by :func:`qa.documents.ingest.read_file` (image decoding,
  straightening, tesseract, cleaning; no cache): ``pages_per_s``, against
  ``engine_pages_per_s``, the bare ``tesseract`` command on the same page images (one
  process a page, one thread, as qa runs it), in the same run; ``ratio`` is qa over the
  bare engine; ``words`` and ``engine_words``, the words each read (the same work: equal
  within a few).  The bare engine reads the page images extracted from that PDF (as PNG
  files), so that both read the same pixels.  The two are timed in alternate rounds.  None, with a reason, when
  chromium or tesseract is not installed.
* ``docx``: Word files written by python-docx (a heading, SQuAD paragraphs and a
  5-row table each; 40 files of 60 paragraphs, 8 with ``--quick``) read by
  :func:`qa.documents.ingest.read_file`: ``documents_per_s`` and ``paragraphs_per_s``.

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
OCR_PAGES, QUICK_OCR_PAGES = 12, 3
OCR_ROUNDS = 2
TILT = 0.3
"""Degrees the benchmark's scanned pages are tilted (a flatbed scan's; qa straightens from 0.5 degrees, and on
pages tilted more the bare engine loses text that qa reads, so the two would not do the same work)."""
SHOT_PAGES = 6
"""Pages rendered by one chromium screenshot (one tall image, cut into pages)."""
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

    from qa.documents.ingest import read_file
    from tests import sample_documents as documents

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


def scanned_pages(paragraphs: Sequence[str], work: Path, pages: int, browser: str) -> list[Path]:
    """``pages`` page images of SQuAD paragraphs (850 x 1100 CSS pixels at scale 2), tilted and noised."""
    from PIL import Image

    from tests import sample_documents as documents

    out: list[Path] = []
    for first in range(0, pages, SHOT_PAGES):
        count = min(SHOT_PAGES, pages - first)
        body = "".join(
            '<div style="height:1100px;box-sizing:border-box;padding:60px;overflow:hidden">'
            + "".join(f"<p>{html.escape(paragraphs[((first + n) * PARAGRAPHS_PER_PAGE + i) % len(paragraphs)])}</p>" for i in range(PARAGRAPHS_PER_PAGE))
            + "</div>"
            for n in range(count)
        )
        page = documents.page_html(body).replace("margin:60px", "margin:0")
        tall = documents.screenshot(page, work / f"shot-{first}.png", width=850, height=1100 * count, browser=browser)
        with Image.open(tall) as image:
            height = image.height // count
            for n in range(count):
                clean = work / f"clean-{first + n}.png"
                image.crop((0, n * height, image.width, (n + 1) * height)).save(clean)
                out.append(documents.degrade(clean, work / f"page-{first + n}.png", angle=TILT if n % 2 else -TILT, seed=first + n))
    return out


def bench_ocr(paragraphs: Sequence[str], work: Path, pages: int, rounds: int = OCR_ROUNDS) -> dict:
    """Pages per second of qa reading a scanned PDF, and of the bare tesseract on the same pages (see the module docstring)."""
    import shutil
    import subprocess

    from qa.documents.ingest import read_file
    from qa.documents.ocr import OcrRun, engine_env
    from tests import sample_documents as documents

    browser = documents.chromium()
    if browser is None:
        return {"skipped": "chromium is not installed (`make chromium`)"}
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        return {"skipped": "tesseract is not installed (`sudo apt-get install tesseract-ocr tesseract-ocr-eng`)"}
    import pypdf

    dpi = 192
    scan = documents.image_pdf(scanned_pages(paragraphs, work, pages, browser), work / "scan.pdf", dpi=dpi)
    images = []  # the bare engine reads the very images of the PDF (Pillow stores grey pages as JPEG)
    for n, page in enumerate(pypdf.PdfReader(str(scan)).pages):
        images.append(work / f"in-pdf-{n}.png")
        page.images[0].image.save(images[-1])

    read: list[int] = []

    def bare() -> None:
        read.clear()
        for image in images:
            done = subprocess.run(
                [tesseract, str(image), "stdout", "-l", "eng", "--psm", "3", "--dpi", str(dpi)], capture_output=True, check=True, env=engine_env()
            )
            read.append(len(done.stdout.decode("utf-8", errors="replace").split()))

    engine_s, qa_s = float("inf"), float("inf")
    doc = None
    for _ in range(rounds):  # alternate, so that both see the same load on a shared machine
        engine_s = min(engine_s, _best(bare, rounds=1))
        start = time.perf_counter()
        doc = read_file(scan, "scan.pdf", ocr=OcrRun())
        qa_s = min(qa_s, time.perf_counter() - start)
    return {
        "pages": len(images),
        "pixels_per_page": list(documents_size(images[0])),
        "read_s": round(qa_s, 3),
        "pages_per_s": round(len(images) / qa_s, 3),
        "engine_s": round(engine_s, 3),
        "engine_pages_per_s": round(len(images) / engine_s, 3),
        "ratio": round(engine_s / qa_s, 3),
        "characters": len(doc.text) if doc is not None else 0,
        "words": len(doc.text.split()) if doc is not None else 0,
        "engine_words": sum(read),
        "pages_cited": len(doc.page_starts) if doc is not None else 0,
    }


def documents_size(path: Path) -> tuple[int, int]:
    """Width and height of an image file."""
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def bench_docx(paragraphs: Sequence[str], work: Path, files: int) -> dict:
    """Documents and paragraphs per second of reading Word files written by python-docx."""
    from qa.documents.ingest import read_file
    from tests import sample_documents as documents

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
    """The ingest benchmarks (``--quick``: small sizes) in a sub-folder of ``work``."""
    folder = work / "ingest"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "pdf": bench_pdf(paragraphs, folder, QUICK_PDF_PAGES if quick else PDF_PAGES),
        "ocr": bench_ocr(paragraphs, folder, QUICK_OCR_PAGES if quick else OCR_PAGES),
        "docx": bench_docx(paragraphs, folder, QUICK_DOCX_FILES if quick else DOCX_FILES),
    }


def format_ingest(result: dict) -> list[str]:
    """Lines for the benchmark's plain-text table."""
    pdf, docx, ocr = result.get("pdf") or {}, result.get("docx") or {}, result.get("ocr") or {}
    lines = []
    if "skipped" in pdf:
        lines.append(f"{'ingest PDF':<32}skipped: {pdf['skipped']}")
    elif pdf:
        lines.append(
            f"{'ingest PDF':<32}{pdf['pages_per_s']} pages/s ({pdf['pages']} pages in {pdf['read_s']} s; "
            f"bare pypdf extract {pdf['extract_pages_per_s']} pages/s)"
        )
    if "skipped" in ocr:
        lines.append(f"{'ingest OCR':<32}skipped: {ocr['skipped']}")
    elif ocr:
        lines.append(
            f"{'ingest OCR':<32}{ocr['pages_per_s']} pages/s ({ocr['pages']} scanned pages in {ocr['read_s']} s; "
            f"bare tesseract {ocr['engine_pages_per_s']} pages/s; ratio {ocr['ratio']}; words read {ocr['words']} vs {ocr['engine_words']})"
        )
    if docx:
        lines.append(
            f"{'ingest DOCX':<32}{docx['documents_per_s']} documents/s, {docx['paragraphs_per_s']} paragraphs/s "
            f"({docx['documents']} files in {docx['read_s']} s)"
        )
    return lines
