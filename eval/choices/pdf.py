"""Compare PDF text extractors on chromium-printed multi-page PDFs (the measurements behind qa/documents/pdf.py's choice).

Usage (from the repo root; pdfplumber, which brings pdfminer.six, is not a
dependency of qa: ``pip install pdfplumber`` first)::

    python -m eval.choices.pdf [--pages 30] [--json OUT]

One HTML document of SQuAD paragraphs is printed by headless chromium with its
own header (date, title) and footer (URL, "page/pages") on every page.  Pages
cycle through three layouts: one column with a heading; two columns; and a
narrow column whose long words carry soft hyphens (so words break at line ends
with a hyphen).  For each extractor (pypdf's default and layout modes,
pdfplumber, pdfminer.six, and qa's own reader built on pypdf) it reports:

* ``pages_per_s``: speed (best of three);
* ``sentences_verbatim``: share of the HTML's sentences found verbatim in the
  text (white space normalised);
* ``order_inversions``: places where a sentence of the two-column pages (found
  by its first four words) comes before one printed earlier (reading order);
* ``furniture_pages``: pages whose text still holds chromium's header or footer;
* ``hyphen_breaks_left``: words still split by a line-end hyphen ("inter‐ ability").

``--one-page N`` prints N one-page PDFs instead (the same layouts, chromium's header and footer
on; repetition cannot tell furniture on one page) and reports, for pypdf and for qa's reader, the
files whose text still holds the header or footer, and the share of sentences found verbatim
(nothing else dropped).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

LONG_WORD = re.compile(r"\b([A-Za-z]{5,})([A-Za-z]{5,})\b")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4]


def build_pages(paragraphs: Sequence[str], pages: int) -> tuple[list[str], list[str], list[str]]:
    """HTML of each page, every sentence printed (in order), and the sentences of the two-column pages."""
    html_pages, printed, columns = [], [], []
    k = 0
    for page in range(pages):
        kind = page % 3
        texts = [paragraphs[(k + i) % len(paragraphs)] for i in range(2 if kind else 1)]
        k += len(texts)
        for text in texts:
            printed.extend(_sentences(text))
            if kind == 1:
                columns.extend(_sentences(text))
        if kind == 0:
            html_pages.append(f"<h2>Section {page + 1}</h2><p>{html.escape(texts[0])}</p>")
        elif kind == 1:
            html_pages.append('<div style="column-count:2;column-gap:2em">' + "".join(f"<p>{html.escape(t)}</p>" for t in texts) + "</div>")
        else:
            soft = [LONG_WORD.sub(lambda m: f"{m.group(1)}&shy;{m.group(2)}", html.escape(t)) for t in texts]
            html_pages.append("".join(f'<p style="width:10em">{t}</p>' for t in soft))
    return html_pages, printed, columns


def extractors() -> dict[str, Callable[[Path], list[str]]]:
    """Text of each page, per extractor available."""
    out: dict[str, Callable[[Path], list[str]]] = {}
    import pypdf

    out["pypdf"] = lambda p: [page.extract_text() for page in pypdf.PdfReader(str(p)).pages]
    out["pypdf (layout mode)"] = lambda p: [page.extract_text(extraction_mode="layout") for page in pypdf.PdfReader(str(p)).pages]
    try:
        import pdfplumber

        def plumber(p: Path) -> list[str]:
            with pdfplumber.open(str(p)) as pdf:
                return [page.extract_text() or "" for page in pdf.pages]

        out["pdfplumber"] = plumber
    except ImportError:
        pass
    try:
        from pdfminer.high_level import extract_pages
        from pdfminer.layout import LAParams, LTTextContainer

        out["pdfminer.six"] = lambda p: [
            "".join(el.get_text() for el in layout if isinstance(el, LTTextContainer)) for layout in extract_pages(str(p), laparams=LAParams())
        ]
    except ImportError:
        pass

    def ours(p: Path) -> list[str]:
        from qa.documents.pdf import read_pdf

        pdf = read_pdf(p)
        bounds = [*pdf.page_starts, len(pdf.text)]
        return [pdf.text[a:b] for a, b in zip(bounds, bounds[1:])]

    out["qa.documents.pdf (pypdf + cleaning)"] = ours
    return out


def measure(name: str, fn: Callable[[Path], list[str]], path: Path, printed: list[str], columns: list[str]) -> dict:
    """The figures of one extractor (see the module docstring)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        pages = fn(path)
        best = min(best, time.perf_counter() - start)
    text = " ".join(" ".join(pages).split())
    found = [s for s in printed if " ".join(s.split()) in text]
    prefixes = [" ".join(s.split()[:4]) for s in columns]  # the first words of a sentence stay on one line
    positions = [text.find(p) for p in prefixes if text.count(p) == 1]
    return {
        "extractor": name,
        "pages_per_s": round(len(pages) / best, 1),
        "sentences_verbatim": round(len(found) / len(printed), 3),
        "order_inversions": sum(b < a for a, b in zip(positions, positions[1:])),
        "furniture_pages": sum(bool(re.search(r"le:///|\d+/\d+/\d+, \d+:\d+", p)) for p in pages),
        "hyphen_breaks_left": len(re.findall(r"[a-z] ?[\u2010\u00ad-]\s+[a-z]", " ".join(pages))),
    }


def one_page_files(html_pages: Sequence[str], printed: Sequence[str], folder: Path) -> dict:
    """Header and footer left, and sentences found verbatim, over one-page chromium PDFs (see the module docstring)."""
    from tests import sample_documents as documents

    runs = {name: fn for name, fn in extractors().items() if name == "pypdf" or name.startswith("qa.")}
    left = dict.fromkeys(runs, 0)
    texts: dict[str, list[str]] = {name: [] for name in runs}
    for n, body in enumerate(html_pages):
        pdf = documents.print_pdf(documents.pages_html(f"Survey {n + 1}", (body,)), folder / f"one-{n}.pdf", header_footer=True)
        for name, fn in runs.items():
            text = " ".join(fn(pdf))
            left[name] += bool(re.search(r"le:///|\d+/\d+/\d+, \d+:\d+|\b1/1\b", text))
            texts[name].append(" ".join(text.split()))
    joined = {name: " ".join(t) for name, t in texts.items()}
    return {
        name: {"files": len(html_pages), "furniture_files": left[name],
               "sentences_verbatim": round(sum(" ".join(s.split()) in joined[name] for s in printed) / len(printed), 3)}
        for name in runs
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--one-page", type=int, default=0, help="print this many one-page PDFs instead (furniture by pattern)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from eval.bench.common import squad_paragraphs
    from tests import sample_documents as documents

    html_pages, printed, columns = build_pages(squad_paragraphs(), args.one_page or args.pages)
    if args.one_page:
        with tempfile.TemporaryDirectory() as tmp:
            result = one_page_files(html_pages, printed, Path(tmp))
        print(json.dumps(result, indent=1))
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = documents.print_pdf(documents.pages_html("Extractor comparison", tuple(html_pages)), Path(tmp) / "c.pdf", header_footer=True)
        rows = [measure(name, fn, path, printed, columns) for name, fn in extractors().items()]
    print(f"{len(printed)} sentences, {len(columns)} on two-column pages")
    print(f"{'extractor':<28}{'pages/s':>9}{'verbatim':>10}{'order inv.':>11}{'hdr/ftr pages':>14}{'hyphen breaks':>14}")
    for r in rows:
        print(
            f"{r['extractor']:<28}{r['pages_per_s']:>9}{r['sentences_verbatim']:>10}{r['order_inversions']:>11}"
            f"{r['furniture_pages']:>14}{r['hyphen_breaks_left']:>14}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"pages": args.pages, "sentences": len(printed), "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
