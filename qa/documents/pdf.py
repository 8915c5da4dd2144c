"""Read the text layer of PDF files with pypdf, page by page, into clean running text with page offsets.

pypdf was chosen over pdfplumber and pdfminer.six (see the README's "Documents:
formats" section for the measurements): on chromium-printed multi-page PDFs it
kept the reading order of two-column pages (pdfplumber interleaves the columns'
lines), reads 3-5 times faster than pdfminer.six and 6-9 times faster than
pdfplumber, is pure Python under a BSD licence, and reports encryption plainly.
None of the three removes running headers and footers or rejoins hyphenated
words, nor honours the ``/ActualText`` of marked content, so this module does:

* **Soft hyphens**: chromium (Skia) prints each soft hyphen of the HTML as a
  zero-width space glyph in a span whose ``/ActualText`` is U+00AD; all three
  libraries read it as a space ("destru ctive").  Glyphs in such spans are
  dropped before extraction (:func:`_drop_soft_hyphen_glyphs`).

* **Headers and footers**: a line at the same place (one of the first or last
  three lines) of at least half the pages, with its digits ignored ("Page 3 of
  9", a date, a URL), is dropped.  Where repetition cannot tell (a one-page PDF),
  a browser's print header and footer are dropped by their pattern, on any page:
  a line that starts with a date and a time ("12/7/26, 8:45 PM Lakeside Bird
  Survey 2024"), one that is only an address (``file:///…``, ``https://…``,
  with a page counter "1/1" or not), and a lone page counter ("1/1", "Page 2 of 5").
* **Hyphenation**: a word broken at a line end by a soft hyphen is rejoined; one
  broken by a plain hyphen is rejoined without it when the next line starts in
  lower case and the joined word occurs elsewhere in the document
  ("docu-/ment"), else with it ("well-/known", "Gallo-/Romance").
* **Reflow**: a PDF has a line break at the end of every printed line; lines of
  a paragraph are joined with a space (the sentence splitter treats a line break
  as a boundary), and a short line ends a paragraph; a short line without final
  punctuation after a paragraph's end is taken as a heading and starts a block.

* **Scanned pages**: a page with (almost) no text layer that shows an image is read
  by OCR (:mod:`qa.documents.ocr`; in a mixed PDF only those pages), and its lines
  get the same cleaning (:func:`ocr_lines`, then :func:`join_pages`), which image
  files get too.

``page_starts[i]`` is where page ``i + 1``'s text starts in the returned text.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from qa.documents.ocr import OcrEngineMissing, OcrRun, missing_engine_reason
from qa.documents.scan_images import (
    pdf_page_has_image,
    pdf_page_image,
    pdf_page_image_pixels,
)
from qa.errors import IngestError

logger = logging.getLogger(__name__)

FURNITURE_ZONE = 3
"""Lines at each end of a page that may be running headers or footers."""
FURNITURE_SHARE = 0.5
"""... dropped when the same line (digits ignored) is at the same place on at least this share of the pages."""
MIN_LETTERS_PER_PAGE = 8
"""A PDF with fewer letters than this per page (after headers and footers) has no usable text layer."""
SPARSE_TEXT_LETTERS = 100
"""... and a page with fewer letters than this beside an image of ``SCAN_PIXELS`` or more is read by OCR as well."""
SCAN_PIXELS = 1_500_000
"""An image this large (an A4 page at 150 dpi has 2.2 million pixels) is a scanned page."""
SHORT_LINE = 0.7
"""A line shorter than this share of the page's typical line length ends a paragraph."""
NO_TEXT_LAYER = "no text layer, and no page image to read by OCR"
NO_TEXT_FOUND = "no text found: the pages are images in which OCR found no text (a photo, or a blank page?)"

_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SOFT_BREAK = re.compile(r" ?[\u00ad\u2010]$")
_HARD_BREAK = re.compile(r"(\w+)-$")
_DASH_BREAK = re.compile(r"\w[\u2013\u2014]$")
_WORD = re.compile(r"[^\W\d_]+")
_SENTENCE_END = re.compile(r"""[.!?…:;]["'”’»)\]]*$""")
_FILE_NAME_TITLE = re.compile(r"^[\w\-. ]+\.(html?|pdf|docx?|txt|odt|rtf|tex|dvi|ps|indd|pptx?|xlsx?)$", re.IGNORECASE)


@dataclass(frozen=True)
class PdfText:
    """What was read from a PDF.

    Attributes:
        text: Clean running text (no headers, footers or line-end hyphens).
        page_starts: Offset in ``text`` where each page starts (one per page, non-decreasing).
        title: The document information's title when it is a real title, else ``""``.
        pages: Number of pages.
        ocr_pages: The 1-based numbers of the pages read by OCR (pages without a text layer).
        layout: Where each character of ``text`` is on its page (:mod:`qa.documents.page_map`); ``""``
            when PDFium cannot read the file.
    """

    text: str
    page_starts: tuple[int, ...]
    title: str
    pages: int
    ocr_pages: tuple[int, ...] = ()
    layout: str = ""


def _open(path: Path) -> object:
    """A :class:`pypdf.PdfReader` of the file, decrypted when it has an empty user password.

    Raises:
        IngestError: Damaged, truncated or password-protected.
    """
    import pypdf
    from pypdf.errors import DependencyError

    try:
        reader = pypdf.PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise IngestError(f"encrypted PDF ({exc}); save an unencrypted copy and add that") from None
            if not opened:
                raise IngestError("encrypted PDF: it needs a password; save a copy without the password and add that")
        len(reader.pages)  # reads the page tree now, so that damage shows here
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for a damaged file
        raise IngestError(f"damaged or truncated PDF ({type(exc).__name__}: {exc}); save or download it again") from None
    return reader


def page_count(path: Path) -> int:
    """Number of pages of a PDF (reads only its page tree).

    Raises:
        IngestError: Damaged, truncated or password-protected.
    """
    return len(_open(path).pages)  # type: ignore[attr-defined]


_SOFT_HYPHEN_SPAN = re.compile(rb"/ActualText\s*(?:<FEFF00AD>|\(\xfe\xff\x00\xad\))\s*>>\s*BDC(.*?)EMC", re.DOTALL | re.IGNORECASE)
_SHOWN_TEXT = re.compile(rb"(?:<[0-9A-Fa-f\s]*>|\((?:\\.|[^\\)])*\))\s*Tj|\[[^\]]*\]\s*TJ")


def _drop_soft_hyphen_glyphs(page: object) -> None:
    """Remove the text shown inside marked content whose ``/ActualText`` is a soft hyphen (U+00AD).

    Such a span stands for an invisible character; its glyph (chromium's is the
    space glyph, at zero width) would be read as a space.  A visible hyphen at a
    line end is printed outside these spans and is kept.  Only the page object in
    memory changes (the file is never written); pages without such spans are left alone.
    """
    from pypdf.generic import DecodedStreamObject, NameObject

    contents = page.get_contents()  # type: ignore[attr-defined]
    if contents is None:
        return
    data = contents.get_data()
    if b"/ActualText" not in data:
        return
    cleaned = _SOFT_HYPHEN_SPAN.sub(lambda m: m.group(0).replace(m.group(1), _SHOWN_TEXT.sub(b"", m.group(1))), data)
    if cleaned != data:
        stream = DecodedStreamObject()
        stream.set_data(cleaned)
        page[NameObject("/Contents")] = stream  # type: ignore[index]


def _clean_line(line: str) -> str:
    line = _CONTROL.sub("", line.translate(_LIGATURES))
    line = _SPACES.sub(" ", line).strip()
    return re.sub("\u00ad(?!$)", "", line)  # an invisible soft hyphen inside a line


_PRINT_STAMP = re.compile(
    r"^(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}),?\s+\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s*[AaPp]\.?\s?[Mm]\.?)?(?=\s|$)"
)
_ADDRESS_LINE = re.compile(r"^(?:file|https?)\s?:\s?/{2,3}\S*(?:\s\S+){0,2}?(?:\s+\d{1,4}\s?/\s?\d{1,4})?$", re.IGNORECASE)
_PAGE_COUNTER = re.compile(r"^(?:(?:page|p\.)\s*\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?|\d{1,4}\s?/\s?\d{1,4})$", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^\d{1,3}$")


def is_print_furniture(line: str, edge: bool = False) -> bool:
    """Whether a line near a page's top or bottom is a browser's print header or footer (see the module's docstring):
    a date-and-time stamp (with the page's title after it), an address alone, or a page counter ("1/1", "Page 2
    of 5"; a bare number of at most three digits only as the very first or last line, ``edge``)."""
    text = line.replace("\ufb01", "fi").strip()
    if _ADDRESS_LINE.match(text) or _PAGE_COUNTER.match(text) or (edge and _PAGE_NUMBER.match(text)):
        return True
    stamp = _PRINT_STAMP.match(text)
    return stamp is not None and not _SENTENCE_END.search(text[stamp.end() :].strip() or "x")


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.casefold())


def drop_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Remove running headers and footers: lines repeated at the same place on many pages.

    Args:
        pages: Each page's non-empty lines.

    Returns:
        The pages without those lines.
    """
    pages = [_drop_print_furniture(lines) for lines in pages]
    filled = [lines for lines in pages if lines]
    if len(filled) < 2:
        return pages
    counts: Counter[tuple[int, str]] = Counter()
    for lines in filled:
        zone = {(i, _furniture_key(lines[i])) for i in range(min(FURNITURE_ZONE, len(lines)))}
        zone |= {(-i, _furniture_key(lines[-i])) for i in range(1, min(FURNITURE_ZONE, len(lines)) + 1)}
        counts.update(zone)
    needed = max(2, math.ceil(FURNITURE_SHARE * len(filled)))
    repeated = {key for key, n in counts.items() if n >= needed}
    out = []
    for lines in pages:
        drop = {i for i in range(min(FURNITURE_ZONE, len(lines))) if (i, _furniture_key(lines[i])) in repeated}
        drop |= {len(lines) - i for i in range(1, min(FURNITURE_ZONE, len(lines)) + 1) if (-i, _furniture_key(lines[-i])) in repeated}
        out.append([line for i, line in enumerate(lines) if i not in drop])
    return out


def _drop_print_furniture(lines: list[str]) -> list[str]:
    """A page's lines without the browser print headers and footers among its first and last ``FURNITURE_ZONE`` lines."""
    zone = set(range(min(FURNITURE_ZONE, len(lines)))) | set(range(max(0, len(lines) - FURNITURE_ZONE), len(lines)))
    edges = {0, len(lines) - 1}
    return [line for i, line in enumerate(lines) if i not in zone or not is_print_furniture(line, i in edges)]


def _typical_length(lines: list[str], fallback: float) -> float:
    lengths = sorted(len(line) for line in lines)
    if len(lengths) < 4:
        return fallback
    return float(lengths[int(0.8 * (len(lengths) - 1))])


def _first_word(line: str) -> str:
    return line.split(" ", 1)[0]


def reflow(pages: list[list[str]]) -> tuple[str, tuple[int, ...]]:
    """Join the pages' lines into running text, rejoining hyphenated words (see the module's docstring).

    A line ends its paragraph when it was broken early: the next line's first
    word would have fitted after it within the page's typical line length (the
    80th percentile).  A line broken early, without final punctuation, that
    follows a paragraph's end is a heading: a blank line goes before it.

    Args:
        pages: Each page's lines, headers and footers removed.

    Returns:
        ``(text, page_starts)``.
    """
    vocabulary = {w.casefold() for lines in pages for line in lines for w in _WORD.findall(line)}
    overall = _typical_length([line for lines in pages for line in lines], 60.0)
    flat = [(number, line) for number, lines in enumerate(pages) for line in lines]
    typical = [_typical_length(lines, overall) for lines in pages]
    early = [
        i + 1 == len(flat) or len(line) + 1 + len(_first_word(flat[i + 1][1])) <= typical[number]
        for i, (number, line) in enumerate(flat)
    ]
    ends = [_SENTENCE_END.search(line) is not None for _, line in flat]
    pieces: list[str] = []
    length = 0
    starts: list[int] = []
    for i, (number, line) in enumerate(flat):
        prev = flat[i - 1][1] if i else ""
        if not i:
            sep = ""
        elif (soft := _SOFT_BREAK.search(prev)) and line[:1].islower():
            cut = len(soft.group())
            pieces[-1], length, sep = pieces[-1][:-cut], length - cut, ""
        elif (hard := _HARD_BREAK.search(prev)) and line[:1].isalpha():
            tail = _WORD.match(line)
            if line[:1].islower() and tail and (hard.group(1) + tail.group()).casefold() in vocabulary:
                pieces[-1], length = pieces[-1][:-1], length - 1  # "docu-" + "ment": the word occurs whole elsewhere
            sep = ""  # else a compound keeps its hyphen: "Gallo-" + "Romance"
        elif _DASH_BREAK.search(prev):
            sep = ""  # a line broken after a dash set without spaces: "machine—" + "anything"
        elif early[i - 1] and early[i] and not ends[i]:
            sep = "\n\n"  # a heading after a paragraph's end
        elif early[i - 1]:
            sep = "\n"
        else:
            sep = " "
        while len(starts) <= number:  # the first line of this page (and of pages without text before it)
            starts.append(length + len(sep))
        pieces.append(sep + line)
        length += len(sep) + len(line)
    starts.extend([length] * (len(pages) - len(starts)))  # trailing pages without text
    text = "".join(pieces)
    return text, tuple(starts)


def _title(reader: object) -> str:
    try:
        title = (reader.metadata or {}).get("/Title") or ""  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a damaged information dictionary only costs the title
        return ""
    title = " ".join(str(title).split())
    if not title or title.casefold() in {"untitled", "title"} or _FILE_NAME_TITLE.match(title):
        return ""
    return title.removeprefix("Microsoft Word - ")


def ocr_lines(raw: str) -> list[str]:
    """The lines of a page's OCR text, cleaned as a text layer's are; lines without a letter or digit (specks read as ``|``, ``~``) are dropped."""
    return [line for line in (_clean_line(x) for x in raw.splitlines()) if any(c.isalnum() for c in line)]


def join_pages(pages: list[list[str]]) -> tuple[str, tuple[int, ...]]:
    """Running headers and footers dropped, then :func:`reflow`: the cleaning of every paged document (PDF, image).

    Args:
        pages: Each page's clean, non-empty lines.

    Returns:
        ``(text, page_starts)``.
    """
    return reflow(drop_furniture(pages))


def _letters(lines: list[str]) -> int:
    return sum(c.isalpha() for line in lines for c in line)


def read_pdf(path: Path, max_pages: int | None = None, ocr: OcrRun | None = None) -> PdfText:
    """Read a PDF's text layer, and its pages without one by OCR.

    A page with fewer than ``MIN_LETTERS_PER_PAGE`` letters (headers and footers not
    counted) that shows an image is read by OCR; in a mixed PDF only those pages are.

    Args:
        path: The PDF file.
        max_pages: Refuse a PDF with more pages than this (None: no limit).
        ocr: The call's OCR run (cache, time budget, progress); None: a run of its own
            without a cache, with the default budget.

    Returns:
        The clean text, page offsets, title, page count and the pages read by OCR.

    Raises:
        IngestError: Damaged, truncated, encrypted, over ``max_pages``, without text
            (no text layer, and no image, or OCR found nothing), or a scan that cannot
            be read by OCR (engine missing: the reason names the install command;
            time budget spent; an image too large).
    """
    reader = _open(path)
    count = len(reader.pages)  # type: ignore[attr-defined]
    if count == 0:
        raise IngestError("the PDF has no pages")
    if max_pages is not None and count > max_pages:
        raise IngestError(f"the PDF has {count:,} pages, over the limit of max_pages={max_pages:,}; split it, or raise max_pages")
    pages: list[list[str]] = []
    for number, page in enumerate(reader.pages, start=1):  # type: ignore[attr-defined]
        try:
            _drop_soft_hyphen_glyphs(page)
            raw = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001
            raise IngestError(f"damaged PDF: page {number} cannot be read ({type(exc).__name__}: {exc})") from None
        pages.append([line for line in (_clean_line(x) for x in raw.splitlines()) if line])
    kept = drop_furniture(pages)
    scanned = [i for i, lines in enumerate(kept) if _is_scanned(reader.pages[i], _letters(lines))]  # type: ignore[attr-defined]
    ocr_pages: tuple[int, ...] = ()
    if scanned:
        run = ocr or OcrRun()
        texts_wanted = {i + 1: (lambda i=i: pdf_page_image(reader.pages[i])) for i in scanned}  # type: ignore[attr-defined]
        try:
            texts = run.read_pages(path, texts_wanted)
        except IngestError as exc:
            if _letters([line for lines in kept for line in lines]) >= MIN_LETTERS_PER_PAGE * count:
                logger.warning("%s: page(s) %s not read by OCR (%s); indexing the text layer only", path, _numbers(scanned), exc)
                texts = {}
            elif isinstance(exc, OcrEngineMissing):
                raise OcrEngineMissing(missing_engine_reason("no text layer (a scanned PDF)")) from None
            else:
                raise
        for number, raw in texts.items():  # a few lines of text layer (a printed header or footer) are kept before it
            pages[number - 1] = (pages[number - 1] if _letters(kept[number - 1]) else []) + ocr_lines(raw)
        ocr_pages = tuple(sorted(texts))
        kept = drop_furniture(pages)
    letters = sum(_letters(lines) for lines in kept)
    if letters < MIN_LETTERS_PER_PAGE * count:
        raise IngestError(NO_TEXT_FOUND if ocr_pages else NO_TEXT_LAYER)
    empty = [i + 1 for i, lines in enumerate(kept) if not lines]
    if empty:
        logger.info("%s: no text on page(s) %s", path, ", ".join(map(str, empty[:20])))
    if ocr_pages:
        logger.info("%s: %d of %d pages read by OCR", path, len(ocr_pages), count)
    text, starts = reflow(kept)
    layout = page_layout(path, text, starts, set(ocr_pages), run.page_reads(path) if ocr_pages else {})
    return PdfText(text=text, page_starts=starts, title=_title(reader), pages=count, ocr_pages=ocr_pages, layout=layout)


def pdfium_chars(path: Path, skip: set[int]) -> dict[int, str]:
    """Each page's characters as PDFium reads them (0-based page index → text; one character per PDFium
    character index), for the pages not in ``skip`` (1-based)."""
    import pypdfium2 as pdfium

    raws: dict[int, str] = {}
    pdf = pdfium.PdfDocument(path)
    try:
        for index in range(len(pdf)):
            if index + 1 not in skip:
                textpage = pdf[index].get_textpage()
                count = textpage.count_chars()
                raws[index] = textpage.get_text_range(0, count) if count > 0 else ""
    finally:
        pdf.close()
    return raws


def page_layout(path: Path, text: str, starts: tuple[int, ...], ocr_pages: set[int], reads: dict) -> str:
    """The layout string of a PDF's text (:func:`qa.documents.page_map.build`); ``""`` when PDFium cannot read the file
    (the document is indexed all the same; only its pages cannot be shown)."""
    from qa.documents.page_map import build

    try:
        raws = pdfium_chars(path, ocr_pages)
    except Exception as exc:  # noqa: BLE001 - pdfium raises its own error types for a damaged file
        logger.warning("%s: its pages cannot be shown (PDFium cannot read it: %s)", path, exc)
        return ""
    ocr = {}
    for number, read in reads.items():
        if number in ocr_pages and read.page is not None:
            raws[number - 1] = read.text
            ocr[number - 1] = read.page
    return build(text, starts, raws, ocr)


def _is_scanned(page: object, letters: int) -> bool:
    """Whether a page is read by OCR: it shows an image and has (almost) no text layer (headers and footers not
    counted), or has little text (``SPARSE_TEXT_LETTERS``) beside a page-sized image (``SCAN_PIXELS``): a scan printed
    with a header and footer."""
    if letters < MIN_LETTERS_PER_PAGE:
        return pdf_page_has_image(page)
    return letters < SPARSE_TEXT_LETTERS and pdf_page_image_pixels(page) >= SCAN_PIXELS


def _numbers(indexes: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indexes[:20])
    return shown + (f" and {len(indexes) - 20} more" if len(indexes) > 20 else "")
