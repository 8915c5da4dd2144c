"""Show a page of a PDF or a scan with a quote boxed: the page rendered as a PNG, one rectangle per line.

The page is rendered with pypdfium2 (PDFium, the renderer of Chrome), chosen over pdfplumber
by measuring on chromium-printed pages (docs/documents.md, "See it on the page"): it renders a
page at 150 dpi in 6-43 ms against pdfplumber's 32-77 ms, gives the characters' boxes in 2-11 ms
against 11-98 ms, and reads the characters in the order pypdf reads them.

The boxes come from the mapping made at ingest (:mod:`qa.documents.page_map`), never from a
search of the quote at view time:

* a page with a text layer: the boxes of the quote's characters, as PDFium gives them
  (its "loose" boxes, the height of the font), joined into one rectangle per printed line;
* a page read by OCR: tesseract's word boxes, on the image that was read (straightened
  where it was straightened: :attr:`qa.types.PageView.deskew` says by how much).

Guards: ``dpi`` within ``MIN_DPI``-``MAX_DPI``; a page whose media box is larger than
``MAX_PAGE_POINTS`` on a side, or whose image would have more than ``MAX_RENDER_PIXELS``,
is refused before anything is rendered or decoded.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.documents.page_map import OCR, TEXT_LAYER, Layout, OcrPage
from qa.errors import QAError
from qa.types import PageView

logger = logging.getLogger(__name__)

MIN_DPI = 72
MAX_DPI = 300
DEFAULT_DPI = 150
MAX_PAGE_POINTS = 14_400.0
"""The largest page side PDF allows (200 inches at 72 points an inch); a larger media box is refused."""
MAX_RENDER_PIXELS = 40_000_000
"""A page image with more pixels than this is refused before it is rendered (an A3 page at 300 dpi has 17.4 million)."""
HIGHLIGHT = (255, 236, 100)
"""The quote's fill, multiplied into the page (black text stays black)."""
PHRASE = (255, 190, 70)
"""The answer phrase's stronger fill."""

NO_BOXES = (
    "page {page} of {doc_id!r} has no character or word boxes: it was read by OCR before qa kept them (its text came "
    "from the OCR cache beside the index); delete that file's entry in the cache folder and add the file again"
)

Box = tuple[int, int, int, int]


def check_dpi(dpi: object) -> int:
    """Return ``dpi`` if it is a whole number within ``MIN_DPI``-``MAX_DPI``.

    Raises:
        ValueError: Not an integer, or out of range.
    """
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be a whole number from {MIN_DPI} to {MAX_DPI}. Currently, dpi is {dpi!r}.")
    return dpi


def check_pixels(width: float, height: float, what: str) -> None:
    """Refuse a page image over ``MAX_RENDER_PIXELS`` before it is made.

    Raises:
        QAError: Too many pixels.
    """
    if width * height > MAX_RENDER_PIXELS:
        raise QAError(
            f"{what} would be {round(width):,} × {round(height):,} pixels, over the limit of {MAX_RENDER_PIXELS:,}; "
            "ask for a lower dpi (the page is too large to show)"
        )


_TO_READING = {  # a box in the image -> the same box where the text reads left to right, top to bottom; and back
    90: (lambda x0, y0, x1, y1: (y0, -x1, y1, -x0), lambda a0, b0, a1, b1: (-b1, a0, -b0, a1)),
    180: (lambda x0, y0, x1, y1: (-x1, -y1, -x0, -y0), lambda a0, b0, a1, b1: (-a1, -b1, -a0, -b0)),
    270: (lambda x0, y0, x1, y1: (-y1, x0, -y0, x1), lambda a0, b0, a1, b1: (b0, -a1, b1, -a0)),
}


def line_boxes(boxes: Sequence[tuple[float, float, float, float]], rotation: int = 0) -> list[Box]:
    """Characters' boxes (pixels, in reading order) joined into one rectangle per line.

    A character starts a new line when its middle is outside the current line's height,
    or it lies left of the line's end by more than its own height (a new line or column).
    On a page shown turned (``rotation`` 90, 180 or 270 degrees clockwise) the same is done
    in the text's own direction.
    """
    if rotation % 360 in _TO_READING:
        forth, back = _TO_READING[rotation % 360]
        joined = _join([forth(*b) for b in boxes])
        return [(int(x0), int(y0), int(-(-x1 // 1)), int(-(-y1 // 1))) for x0, y0, x1, y1 in (back(*b) for b in joined)]
    return [(int(x0), int(y0), int(-(-x1 // 1)), int(-(-y1 // 1))) for x0, y0, x1, y1 in _join(boxes)]


def _join(boxes: Sequence[tuple[float, float, float, float]]) -> list[list[float]]:
    lines: list[list[float]] = []
    for x0, y0, x1, y1 in boxes:
        if x1 <= x0 or y1 <= y0:
            continue
        if lines:
            line = lines[-1]
            middle = (y0 + y1) / 2
            if line[1] <= middle <= line[3] and x0 >= line[2] - (y1 - y0):
                line[0], line[1], line[2], line[3] = min(line[0], x0), min(line[1], y0), max(line[2], x1), max(line[3], y1)
                continue
        lines.append([x0, y0, x1, y1])
    return lines


def _draw(image: Any, boxes: Sequence[Box], phrase_boxes: Sequence[Box]) -> bytes:
    """The page as PNG bytes, the quote's lines filled with the highlight colour and the phrase with a stronger one.

    The page is drawn in grey on a 192-colour palette (64 greys, the same greys tinted with the highlight,
    and with the phrase's colour), which a PNG writes as fast as a grey image and about half as small as RGB.
    """
    import numpy as np
    from PIL import Image

    levels = np.asarray(image.convert("L"), dtype=np.uint8) >> 2
    for offset, marked in ((64, boxes), (128, phrase_boxes)):
        for x0, y0, x1, y1 in marked:
            region = levels[y0:y1, x0:x1]
            region[:] = (region & 63) + offset
    page = Image.fromarray(levels, mode="P")
    grey = np.arange(64, dtype=np.float64) * 255 / 63
    palette = [np.outer(grey, np.array(tint) / 255.0) for tint in ((255, 255, 255), HIGHLIGHT, PHRASE)]
    page.putpalette(np.rint(np.concatenate(palette)).astype(np.uint8).tobytes())
    out = io.BytesIO()
    page.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render_pdf_page(
    source: Path | bytes, doc_id: str, layout: Layout, page: int, ranges: dict[str, tuple[int, int]], dpi: int
) -> PageView:
    """Render page ``page`` (1-based) of a PDF with the text ``ranges["quote"]`` (and ``ranges["phrase"]``) boxed.

    Raises:
        QAError: The page is too large, or the file cannot be rendered.
    """
    import pypdfium2 as pdfium

    kind = layout.kinds[page - 1] if page - 1 < len(layout.kinds) else ""
    if kind == "" and page - 1 < len(layout.kinds):
        raise QAError(NO_BOXES.format(page=page, doc_id=doc_id))
    if kind == OCR:
        return _render_scan_page(source, doc_id, layout, page, ranges, dpi)
    try:
        pdf = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        raise QAError(f"the PDF of {doc_id!r} cannot be opened to show its page ({exc}); add it again") from None
    try:
        if page > len(pdf):
            raise QAError(f"{doc_id!r} has {len(pdf)} pages in its file, not {page}; add it again")
        handle = pdf[page - 1]
        width_pt, height_pt = handle.get_size()
        if max(width_pt, height_pt) > MAX_PAGE_POINTS or min(width_pt, height_pt) <= 0:
            raise QAError(
                f"page {page} of {doc_id!r} has a media box of {width_pt:,.0f} × {height_pt:,.0f} points, over the "
                f"{MAX_PAGE_POINTS:,.0f} points a PDF page may have; it is not shown"
            )
        scale = dpi / 72.0
        check_pixels(width_pt * scale, height_pt * scale, f"page {page} of {doc_id!r} at {dpi} dpi")
        bitmap = handle.render(scale=scale, grayscale=True)
        image = bitmap.to_pil()
        found: dict[str, list[Box]] = {}
        if kind == TEXT_LAYER and ranges:
            textpage = handle.get_textpage()
            count = textpage.count_chars()
            text = textpage.get_text_range(0, count) if count > 0 else ""
            device = page_to_pixels(handle, image.size)
            for name, (start, end) in ranges.items():
                chars = []
                for a, b in layout.raw_ranges(start, end, page - 1):
                    for i in range(a, min(b, len(text))):
                        if text[i].isspace():
                            continue
                        left, bottom, right, top = textpage.get_charbox(i, loose=True)
                        x0, y0 = device(left, top)
                        x1, y1 = device(right, bottom)
                        chars.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
                found[name] = line_boxes(chars, handle.get_rotation())
    finally:
        pdf.close()
    boxes, phrase = found.get("quote", []), found.get("phrase", [])
    return PageView(doc_id, page, _draw(image, boxes, phrase), image.width, image.height, tuple(boxes), tuple(phrase), dpi, "text layer")


def page_to_pixels(page: Any, size: tuple[int, int]) -> Any:
    """The map from a page's points (PDF units) to the rendered image's pixels, the page's rotation and crop box included.

    PDFium's ``FPDF_PageToDevice`` rounds to whole pixels; it is asked of an image a thousand times larger,
    at three points, and the affine map through them is scaled back (exact to a thousandth of a pixel).
    """
    import ctypes

    import pypdfium2.raw as raw

    fine = 1000

    def point(x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(page.raw, 0, 0, size[0] * fine, size[1] * fine, 0, ctypes.c_double(x), ctypes.c_double(y), ctypes.byref(dx), ctypes.byref(dy))
        return dx.value / fine, dy.value / fine

    (ox, oy), (px, py), (qx, qy) = point(0.0, 0.0), point(100.0, 0.0), point(0.0, 100.0)
    ax, ay, bx, by = (px - ox) / 100, (py - oy) / 100, (qx - ox) / 100, (qy - oy) / 100

    def device(x: float, y: float) -> tuple[float, float]:
        return ox + ax * x + bx * y, oy + ay * x + by * y

    return device


def scan_image(source: Path | bytes, kind: str, page: int) -> Any:
    """Decode the image of a scanned page as it was read by OCR: a PDF page's largest image, or a frame of an image file.

    Raises:
        QAError: The image is too large or damaged.
    """
    from qa.errors import IngestError

    try:
        if kind == "pdf":
            import pypdf

            from qa.documents.scan_images import pdf_page_image

            reader = pypdf.PdfReader(io.BytesIO(source) if isinstance(source, bytes) else str(source), strict=False)
            return pdf_page_image(reader.pages[page - 1])
        from qa.documents.scan_images import image_page

        if isinstance(source, bytes):
            import tempfile

            with tempfile.NamedTemporaryFile(prefix="qa-page-") as tmp:
                tmp.write(source)
                tmp.flush()
                return image_page(Path(tmp.name), page)
        return image_page(source, page)
    except IngestError as exc:
        raise QAError(f"the page image cannot be shown: {exc}") from None


def _render_scan_page(source: Path | bytes, doc_id: str, layout: Layout, page: int, ranges: dict[str, tuple[int, int]], dpi: int, kind: str = "pdf") -> PageView:
    info = layout.ocr[page - 1]
    picture = scan_image(source, kind, page)
    return show_scan(picture, doc_id, layout, info, page, ranges, dpi)


def render_image_page(source: Path | bytes, doc_id: str, layout: Layout, page: int, ranges: dict[str, tuple[int, int]], dpi: int) -> PageView:
    """Show frame ``page`` of an image file read by OCR, with the ranges boxed (see :func:`render_pdf_page`).

    Raises:
        QAError: No OCR mapping for the page, or the image is too large or damaged.
    """
    if page - 1 not in layout.ocr:
        raise QAError(NO_BOXES.format(page=page, doc_id=doc_id))
    return _render_scan_page(source, doc_id, layout, page, ranges, dpi, kind="image")


def show_scan(picture: Any, doc_id: str, layout: Layout, info: OcrPage, page: int, ranges: dict[str, tuple[int, int]], dpi: int) -> PageView:
    """The scanned page as it was read (grey, straightened and turned as it was), scaled to ``dpi``, the ranges boxed."""
    from PIL import Image

    image = picture.image.convert("L")
    if info.deskew:
        image = image.rotate(-info.deskew, resample=Image.BILINEAR, expand=True, fillcolor=255)
    if info.turn:
        image = image.rotate(-info.turn, expand=True)
    if image.size != (info.width, info.height):
        raise QAError(f"the image of page {page} of {doc_id!r} is not the one read by OCR ({image.size} pixels, not {(info.width, info.height)}); add the file again")
    scale = dpi / picture.dpi if picture.dpi else 1.0
    check_pixels(image.width * scale, image.height * scale, f"page {page} of {doc_id!r} at {dpi} dpi")
    if abs(scale - 1.0) > 0.01:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    fx, fy = image.width / info.width, image.height / info.height
    found: dict[str, list[Box]] = {}
    words = info.words
    for name, (start, end) in ranges.items():
        boxes = []
        for a, b in layout.raw_ranges(start, end, page - 1):
            hit = words[(words[:, 1] > a) & (words[:, 0] < b)]
            boxes.extend((float(w[2]) * fx, float(w[3]) * fy, float(w[4]) * fx, float(w[5]) * fy) for w in hit)
        found[name] = line_boxes(boxes)
    boxes, phrase = found.get("quote", []), found.get("phrase", [])
    return PageView(doc_id, page, _draw(image, boxes, phrase), image.width, image.height, tuple(boxes), tuple(phrase), dpi, "ocr", info.deskew)
