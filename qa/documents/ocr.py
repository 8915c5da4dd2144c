"""Read the text of page images with OCR (Debian's ``tesseract``), with a cache, a time budget and progress.

Scanned PDF pages (pages without a text layer, see :mod:`qa.documents.pdf`) and image
files (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``: one page per frame) are read by
the ``tesseract`` command (5.x, ``tesseract-ocr`` and ``tesseract-ocr-eng`` on Debian),
chosen over ``rapidocr-onnxruntime`` by measuring (``eval/choices/ocr.py``, docs/ocr.md):
a tenth of the character errors on clean pages, the reading order of two-column pages
kept, ten times the speed on this CPU, and 23 MB installed instead of about 300 MB.

Each page image is prepared by :mod:`qa.documents.scan_images` (checked before it is
decoded, straightened, lighting evened out) and given to one ``tesseract`` process; a page
that reads as garbage is checked for lying sideways or upside down and read again upright.
This module returns each page's raw text; the cleaning that PDFs get (headers and footers,
hyphenation, paragraphs) is done by :mod:`qa.documents.pdf` and :mod:`qa.documents.ingest`.

One :class:`OcrRun` serves one call (``qa index``, ``qa add``, an upload): its time
budget counts the seconds of OCR over all the files of the call, its cache folder keeps
each file's OCR text by the file's SHA-256 (an unchanged file is not read again), and
its progress callback hears of every page.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.documents.page_map import OcrPage
from qa.documents.scan_images import (
    PageImage,
    flatten,
    image_frames,
    image_page,
    straighten,
)
from qa.errors import IngestError, counted
from qa.files import file_sha256

logger = logging.getLogger(__name__)

INSTALL = "sudo apt-get install tesseract-ocr tesseract-ocr-eng"
"""The command that installs the OCR engine (named in the reason a scan is skipped without it)."""
LANGUAGE = "eng"
DEFAULT_BUDGET_S = 900.0
"""Seconds of OCR one call may spend (all its files together) by default."""
UPRIGHT_SHARE = 0.75
"""A page whose words are less often than this cased as words are ("the", "The", "NATO"; not "URWIaSION" nor
"IQEUIQION", what tesseract reads upside down) is checked for its orientation, and read again upright."""
MIN_ORIENTATION_CONFIDENCE = 2.0
"""... when tesseract's orientation detection is at least this confident."""
PROGRESS_EVERY = 5
"""A logging line every this many pages (and on the first and last)."""
CACHE_VERSION = 1
_ENGINES: dict[tuple[str, str], tuple[str, str]] = {}
_WORD_ROW = 5
BOXES = "boxes"
"""Key of the cache's word boxes: page number → the image's size, the angle it was straightened by, the words' boxes."""
"""Level of a word in tesseract's TSV output."""


@dataclass(frozen=True)
class PageRead:
    """One page as tesseract read it.

    Attributes:
        text: The raw OCR text.
        page: Its words' boxes on the image that was read (None for a page cached before qa kept them).
    """

    text: str
    page: OcrPage | None = None


@dataclass(frozen=True)
class Prepared:
    """A page image written for tesseract: the file, its resolution, the angle it was straightened by, its size."""

    image: Path
    dpi: float | None
    deskew: float
    size: tuple[int, int]
"""Engines checked in this process: (executable, language) → (executable, version)."""


@dataclass(frozen=True)
class OcrProgress:
    """One page about to be read by OCR.

    Attributes:
        path: The file.
        page: The page's 1-based number in the file.
        done: Pages of this file already read by OCR in this call (cached ones included).
        pages: Pages of this file that need OCR.
    """

    path: str
    page: int
    done: int
    pages: int

    @property
    def message(self) -> str:
        """``"reading page 3 of 40 with OCR"``."""
        return f"reading page {self.done + 1} of {self.pages} with OCR"


ProgressCallback = Callable[[OcrProgress], None]

_LISTENER: ContextVar[ProgressCallback | None] = ContextVar("qa_ocr_progress", default=None)


@contextmanager
def progress_to(callback: ProgressCallback) -> Iterator[None]:
    """Send the progress of every OCR run without a callback of its own, in this thread or task, to ``callback``.

    For callers whose OCR runs are created further down (``qa.add_documents`` in the
    chat's upload handler): ``with progress_to(show): qa.add_documents(...)``.
    """
    token = _LISTENER.set(callback)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def missing_engine_reason(what: str = "a scanned image") -> str:
    """The reason a file that needs OCR is skipped when tesseract is missing."""
    return f"{what}: reading it needs the OCR engine tesseract, which is not installed; install it with `{INSTALL}` and add the file again"


class OcrEngineMissing(IngestError):
    """The OCR engine (tesseract) is not installed; the message names the install command."""


class OcrRun:
    """The OCR of one call: engine, cache, time budget and progress.

    Args:
        cache: Folder where each file's OCR text is kept by the file's SHA-256 (created
            when needed); None keeps nothing.
        budget_s: Seconds of OCR this call may spend over all its files; a file whose
            pages would run past it is skipped, with its pages read so far cached.
        progress: Called before every page read by OCR (also for cached pages, which
            cost nothing); exceptions it raises propagate.  None: the callback of
            :func:`progress_to` around the call, if any.
        tesseract: The tesseract command (None: ``tesseract`` on the ``PATH``).
        language: Tesseract's language (its ``tessdata`` must be installed).

    Raises:
        ValueError: ``budget_s`` is not positive.
    """

    def __init__(
        self,
        cache: Path | None = None,
        budget_s: float = DEFAULT_BUDGET_S,
        progress: ProgressCallback | None = None,
        tesseract: str | None = None,
        language: str = LANGUAGE,
    ) -> None:
        if not budget_s > 0:
            raise ValueError(f"ocr_budget_s must be a positive number of seconds, not {budget_s!r}; pass e.g. {DEFAULT_BUDGET_S:g}")
        self.cache = None if cache is None else Path(cache)
        self.budget_s = float(budget_s)
        self.progress = progress
        self.language = language
        self.spent_s = 0.0
        self.pages_read = 0
        self._command = tesseract or "tesseract"
        self._engine: tuple[str, str] | None = None
        self._reads: dict[str, dict[int, PageRead]] = {}

    def page_reads(self, path: Path) -> dict[int, PageRead]:
        """The pages of ``path`` read (or found in the cache) by the last :meth:`read_pages` of it: number → text and word boxes."""
        return dict(self._reads.get(str(path), {}))

    # ------------------------------------------------------------------ engine

    def engine(self) -> tuple[str, str]:
        """``(executable, version)`` of tesseract, checked once per run.

        Raises:
            IngestError: tesseract or its language data is not installed (the reason names the install command).
        """
        if self._engine is not None:
            return self._engine
        found = shutil.which(self._command)
        if found is None:
            raise OcrEngineMissing(missing_engine_reason())
        checked = _ENGINES.get((found, self.language))
        if checked is not None:
            self._engine = checked
            return checked
        try:
            done = subprocess.run([found, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
            version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise IngestError(f"the OCR engine {found} does not run ({exc}); reinstall it with `{INSTALL}`") from None
        if self.language not in done.stdout.split():
            raise IngestError(
                f"the OCR engine tesseract has no {self.language!r} language data; install it with "
                f"`sudo apt-get install tesseract-ocr-{self.language}`"
            )
        self._engine = (found, (version.stdout or version.stderr).split("\n", 1)[0].strip())
        _ENGINES[(found, self.language)] = self._engine
        return self._engine

    def _spent(self, path: Path) -> str:
        return (
            f"the OCR time budget of this call is spent (ocr_budget_s={self.budget_s:g} s; {counted(self.pages_read, 'page')} read "
            f"with OCR); add {path.name} in another call (pages already read are cached), or raise ocr_budget_s"
        )

    def _check_budget(self, path: Path) -> None:
        if self.spent_s >= self.budget_s:
            raise IngestError(self._spent(path))

    def read_page(self, page: PageImage, path: Path) -> str:
        """OCR one page image (straightened first when tilted).

        Raises:
            IngestError: No engine, the time budget is spent, or tesseract fails on the page.
        """
        self.engine()
        self._check_budget(path)
        with tempfile.TemporaryDirectory(prefix="qa-ocr-") as folder:
            start = time.perf_counter()
            prepared = prepare(page, Path(folder) / "page.pgm")
            self.spent_s += time.perf_counter() - start
            return self._run(prepared, path)

    def _tesseract(self, arguments: list[str], path: Path) -> subprocess.CompletedProcess[bytes]:
        """Run tesseract within what is left of the time budget (its seconds are counted)."""
        executable, _ = self.engine()
        self._check_budget(path)
        start = time.perf_counter()
        try:
            return subprocess.run(
                [executable, *arguments], capture_output=True, timeout=max(1.0, self.budget_s - self.spent_s), env=engine_env(), check=False
            )
        except subprocess.TimeoutExpired:
            raise IngestError(self._spent(path)) from None
        finally:
            self.spent_s += time.perf_counter() - start

    def _run(self, prepared: Prepared, path: Path) -> str:
        return self._read(prepared, path).text

    def _read(self, prepared: Prepared, path: Path) -> PageRead:
        """Read one prepared page: its text, and its words' boxes (tesseract's ``txt`` and ``tsv`` outputs of one run)."""
        image, dpi = prepared.image, prepared.dpi
        resolution = ["--dpi", str(round(dpi))] if dpi else []
        turn = 0
        try:
            text, words = self._text_and_words(image, resolution, path)
            if upright_share(text) < UPRIGHT_SHARE:  # garbage: the page may lie sideways or upside down
                turned = self._turned(image, resolution, path)
                if turned is not None and upright_share(turned[0]) > upright_share(text):
                    text, words, turn = turned
        finally:
            image.unlink(missing_ok=True)
        self.pages_read += 1
        width, height = prepared.size if turn in (0, 180) else prepared.size[::-1]
        return PageRead(text, OcrPage(width, height, prepared.deskew, turn, words))

    def _text_and_words(self, image: Path, resolution: list[str], path: Path) -> tuple[str, Any]:
        """The raw text of a page image and its words as ``(raw start, raw end, x0, y0, x1, y1)`` rows.

        Raises:
            IngestError: tesseract failed.
        """
        base = image.with_suffix("")
        done = self._tesseract([str(image), str(base), "-l", self.language, "--psm", "3", *resolution, "txt", "tsv"], path)
        try:
            if done.returncode != 0:
                raise IngestError(f"the OCR engine failed on a page ({done.stderr.decode(errors='replace').strip()[-200:]})")
            text = base.with_suffix(".txt").read_bytes().decode("utf-8", errors="replace").replace("\f", "")
            tsv = base.with_suffix(".tsv").read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise IngestError(f"the OCR engine wrote no output for a page ({exc})") from None
        finally:
            base.with_suffix(".txt").unlink(missing_ok=True)
            base.with_suffix(".tsv").unlink(missing_ok=True)
        return text, word_boxes(text, tsv)

    def _turned(self, image: Path, resolution: list[str], path: Path) -> tuple[str, Any, int] | None:
        """The page's text read again after turning it upright, when tesseract's orientation detection
        (``--psm 0``) is confident it lies sideways or upside down; else None."""
        from PIL import Image

        found = self._tesseract([str(image), "stdout", "--psm", "0", *resolution], path)
        rotate = re.search(rb"Rotate: (\d+)", found.stdout)
        confidence = re.search(rb"Orientation confidence: ([\d.]+)", found.stdout)
        if found.returncode != 0 or rotate is None or confidence is None:
            return None
        degrees = int(rotate.group(1)) % 360
        if degrees == 0 or float(confidence.group(1)) < MIN_ORIENTATION_CONFIDENCE:
            return None
        logger.info("%s: a page is turned by %d degrees; reading it upright", path, degrees)
        with Image.open(image) as page:
            page.rotate(-degrees, expand=True).save(image, format="PPM")
        try:
            text, words = self._text_and_words(image, resolution, path)
        except IngestError:
            return None
        return text, words, degrees

    # ------------------------------------------------------------------ pages of a file

    def read_pages(self, path: Path, pages: Mapping[int, Callable[[], PageImage]]) -> dict[int, str]:
        """OCR some pages of a file, using and filling the cache.

        While tesseract reads a page, the next one is decoded and straightened in a
        second thread.

        Args:
            path: The file (its SHA-256 keys the cache).
            pages: 1-based page number → a function that decodes that page's image
                (called only for pages not in the cache).

        Returns:
            Page number → the page's raw OCR text.

        Raises:
            IngestError: No engine, the image cannot be decoded or is too large, or the
                time budget is spent (the pages read before are cached).
        """
        numbers = sorted(pages)
        cached, key = self._cached(path)
        boxes = cached.pop(BOXES, {})
        todo = [n for n in numbers if str(n) not in cached]  # a page cached before qa kept word boxes is not read again: it has none
        texts: dict[int, str] = {}
        reads = self._reads.setdefault(str(path), {})
        if todo:
            self.engine()
        with tempfile.TemporaryDirectory(prefix="qa-ocr-") as folder, ThreadPoolExecutor(1, thread_name_prefix="qa-ocr") as pool:
            ahead: dict[int, Future[Prepared]] = {}
            try:
                for done, number in enumerate(numbers):
                    report = OcrProgress(str(path), number, done, len(numbers))
                    listener = self.progress or _LISTENER.get()
                    if listener is not None:
                        listener(report)
                    if number not in todo:
                        texts[number] = cached[str(number)]
                        reads[number] = PageRead(texts[number], _page_of(boxes.get(str(number))))
                        continue
                    if done % PROGRESS_EVERY == 0 or done + 1 == len(numbers):
                        logger.info("%s: %s (page %d of the file; %.0f s of OCR in this call)", path, report.message, number, self.spent_s)
                    self._check_budget(path)
                    position = todo.index(number)
                    for upcoming in todo[position : position + 2]:  # this page and the next
                        if upcoming not in ahead:
                            ahead[upcoming] = pool.submit(lambda n=upcoming: prepare(pages[n](), Path(folder) / f"page-{n}.pgm"))
                    read = self._read(ahead.pop(number).result(), path)
                    texts[number] = cached[str(number)] = read.text
                    reads[number] = read
                    boxes[str(number)] = _boxes_entry(read.page)
            finally:
                for future in ahead.values():
                    future.cancel()
                self._store(key, {**cached, BOXES: boxes})
        return texts

    # ------------------------------------------------------------------ cache

    def _cached(self, path: Path) -> tuple[dict[str, str], Path | None]:
        if self.cache is None:
            return {}, None
        key = self.cache / f"{file_sha256(path)}.json"
        try:
            data = json.loads(key.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}, key
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("language") != self.language:
            return {}, key
        pages = data.get("pages")
        if not isinstance(pages, dict) or not all(isinstance(v, str) for v in pages.values()):
            return {}, key
        boxes = data.get(BOXES)
        good = {k: v for k, v in boxes.items() if _page_of(v) is not None} if isinstance(boxes, dict) else {}
        return {**pages, BOXES: good}, key  # type: ignore[dict-item]

    def _store(self, key: Path | None, pages: dict) -> None:
        boxes = pages.pop(BOXES, {})
        if key is None or not pages:
            return
        data = {"version": CACHE_VERSION, "language": self.language, "engine": self._engine[1] if self._engine else "", "pages": pages, BOXES: boxes}
        try:
            key.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".ocr-", suffix=".json", dir=key.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False)
            os.replace(tmp, key)
        except OSError as exc:
            logger.warning("cannot write the OCR cache %s: %s", key, exc)


# ---------------------------------------------------------------------- pages


_WORDLIKE = re.compile(r"[^\W\d_]{3,}")
_CASED = re.compile(r"[A-Z]?[a-z]+|[A-Z]{3,4}")


def upright_share(text: str) -> float:
    """The share of a page's words of three letters or more that are cased as words are (1.0 for no words)."""
    words = _WORDLIKE.findall(text)
    if len(words) < 8:
        return 1.0 if not words or sum(c.isalpha() for c in text) < 40 else sum(bool(_CASED.fullmatch(w)) for w in words) / len(words)
    return sum(bool(_CASED.fullmatch(w)) for w in words) / len(words)


def prepare(page: PageImage, out: Path) -> Prepared:
    """Write a page image as tesseract's input: straightened, lighting evened out, grey, an uncompressed PGM file (quick to write
    and to read; tesseract reads a file a little faster than the same image on its standard input)."""
    straight, angle = straighten(page.image)
    flatten(straight).save(out, format="PPM")
    return Prepared(out, page.dpi, angle, straight.size)


def word_boxes(text: str, tsv: str) -> Any:
    """The words of tesseract's TSV output found in its text, in order: ``(n, 6)`` int32 rows
    ``raw start, raw end, x0, y0, x1, y1`` (a word not found in the text is left out)."""
    import numpy as np

    rows = []
    position = 0
    for line in tsv.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) < 12 or cells[0] != str(_WORD_ROW) or not cells[11].strip():
            continue
        word = cells[11].strip()
        at = text.find(word, position)
        if at < 0:
            continue
        left, top, width, height = (int(c) for c in cells[6:10])
        rows.append((at, at + len(word), left, top, left + width, top + height))
        position = at + len(word)
    return np.asarray(rows, dtype=np.int32).reshape(-1, 6)


def _boxes_entry(page: OcrPage | None) -> dict:
    if page is None:
        return {}
    return {"width": page.width, "height": page.height, "deskew": page.deskew, "turn": page.turn, "words": page.words.tolist()}


def _page_of(entry: object) -> OcrPage | None:
    """The cached word boxes of a page; None when absent or malformed."""
    import numpy as np

    try:
        words = np.asarray(entry["words"], dtype=np.int32).reshape(-1, 6)  # type: ignore[index]
        return OcrPage(int(entry["width"]), int(entry["height"]), float(entry["deskew"]), int(entry["turn"]), words)  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


def engine_env() -> dict[str, str]:
    """The environment of a tesseract process: one thread (``OMP_THREAD_LIMIT=1``, unless set), which on a
    small shared CPU reads a page about twice as fast as tesseract's default threads."""
    return {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def read_image(path: Path, run: OcrRun, max_pages: int | None = None) -> list[str]:
    """The raw OCR text of every frame of an image file.

    Args:
        path: A PNG, JPEG or TIFF file.
        run: The call's OCR run.
        max_pages: Refuse a file with more frames than this (None: no limit).

    Returns:
        One text per frame, in order.

    Raises:
        IngestError: Damaged, too large, over ``max_pages``, no engine, or past the time budget.
    """
    count = image_frames(path)
    if max_pages is not None and count > max_pages:
        raise IngestError(f"the image has {count:,} pages, over the limit of max_pages={max_pages:,}; split it, or raise max_pages")
    texts = run.read_pages(path, {n: (lambda n=n: image_page(path, n)) for n in range(1, count + 1)})
    return [texts[n] for n in range(1, count + 1)]


