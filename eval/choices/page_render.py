"""Choose the page renderer of :mod:`qa.documents.pages` by measuring: pypdfium2 against pdfplumber.

Usage (from the repo root; pdfplumber is not a dependency of qa: ``pip install pdfplumber`` first)::

    python -m eval.choices.page_render [--json OUT]

On chromium-printed pages (one column, two columns, a table: ``eval.choices.ocr.test_pages``; and a
one-page PDF with chromium's header and footer), for each library, best of three:

* ``render_ms``: the page rendered to an image at 150 dpi;
* ``chars_ms``: every character of the page with its box;
* ``same_order``: whether its characters, white space left out, come in the order pypdf reads them
  (qa's text comes from pypdf: the same order makes the mapping of :mod:`qa.documents.page_map` simple).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from tests import sample_documents as documents  # noqa: E402


def _best(fn: Callable[[], object], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(min(times), 1)


def _squash(text: str) -> str:
    return "".join(c for c in text.replace("\ufb01", "fi").replace("\ufb02", "fl") if not c.isspace())


def measure(pdf: Path) -> dict:
    import pdfplumber
    import pypdf
    import pypdfium2 as pdfium

    reference = _squash(pypdf.PdfReader(str(pdf)).pages[0].extract_text())

    def pdfium_chars() -> str:
        document = pdfium.PdfDocument(pdf)
        textpage = document[0].get_textpage()
        count = textpage.count_chars()
        [textpage.get_charbox(i, loose=True) for i in range(count)]
        text = textpage.get_text_range(0, count)
        document.close()
        return text

    def pdfium_render() -> object:
        document = pdfium.PdfDocument(pdf)
        image = document[0].render(scale=150 / 72).to_pil()
        document.close()
        return image

    def plumber_chars() -> str:
        with pdfplumber.open(str(pdf)) as document:
            return "".join(c["text"] for c in document.pages[0].chars)

    def plumber_render() -> object:
        with pdfplumber.open(str(pdf)) as document:
            return document.pages[0].to_image(resolution=150).original

    return {
        "pypdfium2": {"render_ms": _best(pdfium_render), "chars_ms": _best(pdfium_chars), "same_order": _squash(pdfium_chars()) == reference},
        "pdfplumber": {"render_ms": _best(plumber_render), "chars_ms": _best(plumber_chars), "same_order": _squash(plumber_chars()) == reference},
    }


def main(argv: list[str] | None = None) -> int:
    from eval.bench.common import squad_paragraphs
    from eval.choices.ocr import test_pages

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = {}
    with tempfile.TemporaryDirectory(prefix="qa-page-render-") as tmp:
        pages = dict(test_pages(squad_paragraphs()[:7]))
        pages["one page, header and footer"] = "<h1>Lakeside Bird Survey 2024</h1><p>The next bird survey is on 3 May 2025.</p>"
        for n, (kind, body) in enumerate(pages.items()):
            pdf = documents.print_pdf(documents.pages_html(kind, (body,)), Path(tmp) / f"{n}.pdf", header_footer=n == 3)
            result[kind] = measure(pdf)
            print(f"{kind:30s} {json.dumps(result[kind])}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
