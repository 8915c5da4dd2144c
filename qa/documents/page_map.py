"""Where each character of a paged document's clean text is on its page: the mapping made at ingest.

A PDF's text (:mod:`qa.documents.pdf`) and a scan's (:mod:`qa.documents.ocr`) are cleaned:
running headers and footers dropped, hyphens rejoined, lines reflowed.  To box a quote on
the page (:mod:`qa.documents.pages`), every character of :attr:`qa.types.Document.text`
must lead back to a character of the page as it was read:

* for a page with a text layer, an index into pdfium's character list of the page
  (``FPDFText``; the character's box is asked of pdfium when the page is shown);
* for a page read by OCR, an index into tesseract's raw text of the page, whose words
  carry their boxes on the image that was read (kept here with the page's size and the
  angle it was straightened by).

The mapping is made once, at ingest, by aligning each page's clean text with the page's
raw characters (both in reading order, walked together and found again after a mismatch;
white space ignored; a second pass matches what the first left over, e.g. a column read in
another order), and kept with the document as
one compact string (:attr:`qa.types.Document.layout`): a small JSON header and base64
arrays (zlib-compressed little-endian int32), never pickle.  It holds runs
``(text offset, page, raw index, length)``: one run per printed line, typically, so it
costs about a byte for every 20 characters of text.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FORMAT = 1
"""Version of the layout string written here."""
TEXT_LAYER = "text"
OCR = "ocr"

_LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"}


@dataclass(frozen=True)
class OcrPage:
    """A page read by OCR, as it was read.

    Attributes:
        width: Width of the image given to tesseract (pixels, after straightening and turning).
        height: Its height.
        deskew: Degrees the page image was turned (counter-clockwise) to straighten it before OCR; 0.0 when it was not.
        turn: Degrees it was then turned to lie upright (0, 90, 180, 270).
        words: ``(n, 6)`` int32: each word's ``raw start, raw end`` in the page's raw OCR text and its
            box ``x0, y0, x1, y1`` on that image.
    """

    width: int
    height: int
    deskew: float
    turn: int
    words: np.ndarray


@dataclass(frozen=True)
class Layout:
    """The decoded mapping of a document (see the module's docstring).

    Attributes:
        kinds: Per page: ``"text"`` (text layer), ``"ocr"`` (read by OCR) or ``""`` (no mapping).
        runs: ``(n, 4)`` int32 rows ``text start, page index (0-based), raw start, length``, by text start.
        ocr: The pages read by OCR, by 0-based page index.
    """

    kinds: tuple[str, ...]
    runs: np.ndarray
    ocr: dict[int, OcrPage]

    def raw_ranges(self, start: int, end: int, page: int) -> list[tuple[int, int]]:
        """The raw character ranges ``[a, b)`` of page ``page`` (0-based) that the text ``[start, end)`` came from, in text order."""
        runs = self.runs
        if not len(runs):
            return []
        first = max(0, int(np.searchsorted(runs[:, 0], start, side="right")) - 1)
        out: list[tuple[int, int]] = []
        for t0, p, r0, n in runs[first:]:
            if t0 >= end:
                break
            lo, hi = max(int(t0), start), min(int(t0 + n), end)
            if p == page and lo < hi:
                out.append((int(r0) + lo - int(t0), int(r0) + hi - int(t0)))
        return out


def normal_chars(raw: str) -> list[tuple[str, int]]:
    """The raw page text's characters, ligatures spelt out, white space left out: ``(char, raw index)``."""
    out = []
    for i, c in enumerate(raw):
        if c.isspace() or c in "\u00ad\u200b\ufffe\uffff":
            continue
        for d in _LIGATURES.get(c, c):
            out.append((d, i))
    return out


KEY = 16
"""Characters looked for to find the place again after a mismatch."""
NEAR = 64
"""... or, when that fails (lines shorter than a key), the next 4 within this many of the page's characters."""
SKIP_COST = 40
"""Skipping a clean character (one the page does not have) costs as much as skipping this many of the page's."""


def _walk(a: str, b: str) -> list[tuple[int, int]]:
    """Pair equal characters of ``a`` and ``b`` walking both in order; after a mismatch the walk resumes where the
    next ``KEY`` characters of ``a`` (after skipping up to three of them) are found next in ``b`` (the nearest such
    place, skipping ``a``'s characters costing ``SKIP_COST`` each).  Linear but for the searches, which run in C."""
    pairs = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            pairs.append((i, j))
            i += 1
            j += 1
            continue
        near = next((k for k in range(1, 4) if b[j + k : j + k + 2] == a[i : i + 2]), 0)
        if near:  # a few characters the clean text does not have (a hyphen, a soft hyphen's mark)
            j += near
            continue
        best: tuple[int, int, int] | None = None
        for size, reach in ((KEY, len(b)), (4, NEAR)):  # a long key anywhere ahead, else a short one close by
            for skip in range(4):
                key = a[i + skip : i + skip + size]
                if not key:
                    break
                at = b.find(key, j, j + reach + len(key))
                if at >= 0 and (best is None or at - j + SKIP_COST * skip < best[0]):
                    best = (at - j + SKIP_COST * skip, skip, at)
            if best is not None:
                break
        if best is None:
            i += 1  # a character the rest of the page does not have
        else:
            i, j = i + best[1], best[2]
    return pairs


def align(clean: str, raw: str) -> list[tuple[int, int]]:
    """Pair each non-space character of ``clean`` with the raw character it came from.

    Args:
        clean: One page's clean text.
        raw: That page's raw characters (pdfium's, or tesseract's text).

    Returns:
        ``(offset in clean, index in raw)`` pairs, increasing in the offset.
    """
    a = [(c, i) for i, c in enumerate(clean) if not c.isspace()]
    b = normal_chars(raw)
    pairs: dict[int, int] = {}
    a_left, b_left = list(range(len(a))), list(range(len(b)))
    for _ in range(2):  # the second pass matches what the first left over (text read in another order)
        if not a_left or not b_left:
            break
        sa = "".join(a[i][0] for i in a_left)
        sb = "".join(b[j][0] for j in b_left)
        used_a, used_b = set(), set()
        for x, y in _walk(sa, sb):
            ia, ib = a_left[x], b_left[y]
            pairs[a[ia][1]] = b[ib][1]
            used_a.add(ia)
            used_b.add(ib)
        a_left = [i for i in a_left if i not in used_a]
        b_left = [j for j in b_left if j not in used_b]
    return sorted(pairs.items())


def runs_of(pairs: Sequence[tuple[int, int]], clean: str, raw: str, offset: int, page: int) -> list[tuple[int, int, int, int]]:
    """Runs ``(text start, page, raw start, length)`` of aligned pairs; a space between two runs that continue
    each other on both sides (a word gap on one line) joins them, and a ligature's letters share their glyph."""
    runs: list[list[int]] = []
    for c, r in pairs:
        if runs:
            t0, _, r0, n = runs[-1]
            last_c, last_r = t0 + n - 1, r0 + n - 1
            if c == last_c + 1 and r == last_r + 1:
                runs[-1][3] += 1
                continue
            if c == last_c + 2 and r == last_r + 2 and clean[last_c + 1 - offset].isspace() and raw[last_r + 1].isspace():
                runs[-1][3] += 2
                continue
        runs.append([c, page, r, 1])
    return [tuple(run) for run in runs]  # type: ignore[misc]


def build(
    text: str,
    page_starts: Sequence[int],
    raws: dict[int, str],
    ocr: dict[int, OcrPage] | None = None,
) -> str:
    """The layout string of a paged document.

    Args:
        text: The document's clean text.
        page_starts: Where each page starts in ``text``.
        raws: 0-based page index → the page's raw characters (pdfium's, or the raw OCR text); pages
            left out get no mapping.
        ocr: The pages read by OCR (their raw text is in ``raws``).

    Returns:
        The encoded layout (see :func:`decode`).
    """
    ocr = ocr or {}
    ends = list(page_starts[1:]) + [len(text)]
    rows: list[tuple[int, int, int, int]] = []
    kinds = []
    for index, (start, end) in enumerate(zip(page_starts, ends)):
        raw = raws.get(index)
        if raw is None:
            kinds.append("")
            continue
        kinds.append(OCR if index in ocr else TEXT_LAYER)
        clean = text[start:end]
        pairs = [(start + c, r) for c, r in align(clean, raw)]
        rows.extend(runs_of(pairs, clean, raw, start, index))
    header: dict = {"format": FORMAT, "kinds": kinds, "runs": _pack(np.asarray(rows, dtype="<i4").reshape(-1, 4))}
    header["ocr"] = {
        str(i): {"width": p.width, "height": p.height, "deskew": round(p.deskew, 3), "turn": p.turn, "words": _pack(np.asarray(p.words, dtype="<i4").reshape(-1, 6))}
        for i, p in ocr.items()
    }
    return json.dumps(header, separators=(",", ":"))


def decode(layout: str) -> Layout:
    """Read a layout string written by :func:`build`.

    Raises:
        ValueError: Not a layout string of this format (a damaged or newer index).
    """
    try:
        header = json.loads(layout)
        if header.get("format") != FORMAT:
            raise ValueError(f"layout format {header.get('format')!r}, not {FORMAT}")
        runs = _unpack(header["runs"], 4)
        ocr = {
            int(k): OcrPage(int(v["width"]), int(v["height"]), float(v["deskew"]), int(v["turn"]), _unpack(v["words"], 6))
            for k, v in header.get("ocr", {}).items()
        }
        kinds = tuple(str(k) for k in header["kinds"])
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise ValueError(f"unreadable page layout ({exc})") from None
    if len(runs) and (np.any(runs[:, 3] <= 0) or np.any(np.diff(runs[:, 0]) < 0)):
        raise ValueError("unreadable page layout (runs out of order)")
    return Layout(kinds, runs, ocr)


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, dtype="<i4").tobytes(), 6)).decode("ascii")


def _unpack(data: str, columns: int) -> np.ndarray:
    flat = np.frombuffer(zlib.decompress(base64.b64decode(data, validate=True)), dtype="<i4")
    if flat.size % columns:
        raise ValueError("array size")
    return flat.reshape(-1, columns).astype(np.int64)
