"""Read the text of page images with OCR (Debian's ``tesseract``), with a cache, a time budget and progress.

Scanned PDF pages (pages without a text layer, see :mod:`qa.documents.pdf`) and image
files (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``: one page per frame) are read by
the ``tesseract`` command (5.x, ``tesseract-ocr`` and ``tesseract-ocr-eng`` on Debian),
chosen over ``rapidocr-onnxruntime`` by measuring (``eval/ocr_compare.py``, docs/ocr.md):
a tenth of the character errors on clean pages, the reading order of two-column pages
kept, ten times the speed on this CPU, and 23 MB installed instead of about 300 MB.

Each page image is checked before it is decoded (at most ``MAX_IMAGE_PIXELS``: a
decompression bomb is refused), straightened when it is tilted (a photographed or
badly fed page: the angle whose rows of ink are sharpest, within ``MAX_SKEW_DEGREES``)
and given to one ``tesseract`` process.  This module returns each page's raw text;
the cleaning that PDFs get (headers and footers, hyphenation, paragraphs) is done by
:mod:`qa.documents.pdf` and :mod:`qa.documents.ingest`.

One :class:`OcrRun` serves one call (``qa index``, ``qa add``, an upload): its time
budget counts the seconds of OCR over all the files of the call, its cache folder keeps
each file's OCR text by the file's SHA-256 (an unchanged file is not read again), and
its progress callback hears of every page.
"""

from __future__ import annotations

import hashlib
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

from qa.errors import IngestError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
"""Image files read by OCR (one document each, one page per frame)."""
IMAGE_KINDS = frozenset({"png", "jpeg", "tiff"})
"""Kinds of :func:`qa.documents.filetype.sniff` that are read as images."""
INSTALL = "sudo apt-get install tesseract-ocr tesseract-ocr-eng"
"""The command that installs the OCR engine (named in the reason a scan is skipped without it)."""
LANGUAGE = "eng"
DEFAULT_BUDGET_S = 900.0
"""Seconds of OCR one call may spend (all its files together) by default."""
MAX_IMAGE_PIXELS = 100_000_000
"""A page image with more pixels than this is refused before it is decoded (an A3 page at 600 dpi has 70 million)."""
MAX_SKEW_DEGREES = 6.0
"""Tilts up to this many degrees are straightened before OCR."""
MIN_SKEW_DEGREES = 1.0
"""... and smaller ones are left to tesseract."""
PROGRESS_EVERY = 5
"""A logging line every this many pages (and on the first and last)."""
CACHE_VERSION = 1
_ENGINES: dict[tuple[str, str], tuple[str, str]] = {}
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


@dataclass(frozen=True)
class PageImage:
    """A page image ready for OCR.

    Attributes:
        image: A Pillow image (decoded, grey or colour).
        dpi: Its resolution when known (from the file, or the PDF page's size), else None.
    """

    image: Any
    dpi: float | None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
            done = subprocess.run([found, "--list-langs"], capture_output=True, text=True, timeout=30)
            version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
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

    def _check_budget(self, path: Path) -> None:
        if self.spent_s >= self.budget_s:
            raise IngestError(
                f"the OCR time budget of this call is spent (ocr_budget_s={self.budget_s:g} s; {self.pages_read} pages read "
                f"with OCR); add {path.name} in another call (pages already read are cached), or raise ocr_budget_s"
            )

    def read_page(self, page: PageImage, path: Path) -> str:
        """OCR one page image (straightened first when tilted).

        Raises:
            IngestError: No engine, the time budget is spent, or tesseract fails on the page.
        """
        self.engine()
        self._check_budget(path)
        start = time.perf_counter()
        prepared = prepare(page)
        self.spent_s += time.perf_counter() - start
        return self._run(prepared, path)

    def _run(self, prepared: tuple[bytes, float | None], path: Path) -> str:
        executable, _ = self.engine()
        self._check_budget(path)
        data, dpi = prepared
        command = [executable, "stdin", "stdout", "-l", self.language, "--psm", "3"]
        if dpi:
            command += ["--dpi", str(round(dpi))]
        start = time.perf_counter()
        try:
            done = subprocess.run(
                command, input=data, capture_output=True, timeout=max(1.0, self.budget_s - self.spent_s), env=engine_env()
            )
        except subprocess.TimeoutExpired:
            self.spent_s += time.perf_counter() - start
            self._check_budget(path)
            raise IngestError(f"OCR of a page of {path.name} ran past the time budget; raise ocr_budget_s") from None
        self.spent_s += time.perf_counter() - start
        self.pages_read += 1
        if done.returncode != 0:
            raise IngestError(f"the OCR engine failed on a page ({done.stderr.decode(errors='replace').strip()[-200:]})")
        return done.stdout.decode("utf-8", errors="replace").replace("\f", "")

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
        todo = [n for n in numbers if str(n) not in cached]
        texts: dict[int, str] = {}
        if todo:
            self.engine()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-ocr") as pool:
            ahead: dict[int, Future[tuple[bytes, float | None]]] = {}
            try:
                for done, number in enumerate(numbers):
                    report = OcrProgress(str(path), number, done, len(numbers))
                    listener = self.progress or _LISTENER.get()
                    if listener is not None:
                        listener(report)
                    if str(number) in cached:
                        texts[number] = cached[str(number)]
                        continue
                    if done % PROGRESS_EVERY == 0 or done + 1 == len(numbers):
                        logger.info("%s: %s (page %d of the file; %.0f s of OCR in this call)", path, report.message, number, self.spent_s)
                    self._check_budget(path)
                    position = todo.index(number)
                    for upcoming in todo[position : position + 2]:  # this page and the next
                        if upcoming not in ahead:
                            ahead[upcoming] = pool.submit(lambda n=upcoming: prepare(pages[n]()))
                    texts[number] = self._run(ahead.pop(number).result(), path)
                    cached[str(number)] = texts[number]
            finally:
                for future in ahead.values():
                    future.cancel()
                self._store(key, cached)
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
        return dict(pages), key

    def _store(self, key: Path | None, pages: dict[str, str]) -> None:
        if key is None or not pages:
            return
        data = {"version": CACHE_VERSION, "language": self.language, "engine": self._engine[1] if self._engine else "", "pages": pages}
        try:
            key.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".ocr-", suffix=".json", dir=key.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False)
            os.replace(tmp, key)
        except OSError as exc:
            logger.warning("cannot write the OCR cache %s: %s", key, exc)


# ---------------------------------------------------------------------- images


def prepare(page: PageImage) -> tuple[bytes, float | None]:
    """A page image as tesseract's input: straightened, grey, as PGM bytes; with its resolution."""
    return _pgm(deskew(page.image)), page.dpi


def engine_env() -> dict[str, str]:
    """The environment of a tesseract process: one thread (``OMP_THREAD_LIMIT=1``, unless set), which on a
    small shared CPU reads a page about twice as fast as tesseract's default threads."""
    return {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def _pgm(image: Any) -> bytes:
    """The image as a binary PGM (grey, uncompressed: quick to write, read by tesseract's leptonica)."""
    import io

    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PPM")
    return buffer.getvalue()


def check_pixels(width: int, height: int) -> None:
    """Refuse an image too large to decode safely.

    Raises:
        IngestError: More than ``MAX_IMAGE_PIXELS`` pixels.
    """
    if width * height > MAX_IMAGE_PIXELS:
        raise IngestError(_too_large(f"{width * height:,} pixels ({width:,} × {height:,})"))


def _too_large(size: str) -> str:
    return f"the image has {size}, over the limit of {MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?); it was not decoded; scale it down to 600 dpi or less"


def skew_angle(image: Any) -> float:
    """How far a page is tilted: degrees counter-clockwise (within ``MAX_SKEW_DEGREES``; turn it back by as much).

    It is the angle at which the page's rows of ink are sharpest: the ink pixels of a
    copy about 600 pixels wide are projected onto lines at that angle, and the sum of
    squared differences between neighbouring lines' ink is largest (steps of 0.5
    degrees, then 0.1).  Projecting points costs a few milliseconds a page.
    """
    import numpy as np
    from PIL import ImageOps

    grey = image.convert("L")
    scale = min(1.0, 600 / max(1, grey.width))
    small = ImageOps.autocontrast(grey.resize((max(1, int(grey.width * scale)), max(1, int(grey.height * scale)))))
    ys, xs = np.nonzero(np.asarray(small) < 110)
    if len(ys) < 50:
        return 0.0
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)

    def sharpness(angle: float) -> float:
        rows = np.bincount(np.round(ys + xs * np.tan(np.radians(angle)) + small.width).astype(np.int64))
        return float(np.square(np.diff(rows.astype(np.float64))).sum())

    best = max(np.arange(-MAX_SKEW_DEGREES, MAX_SKEW_DEGREES + 0.01, 0.5), key=sharpness)
    best = max(np.arange(best - 0.4, best + 0.41, 0.1), key=sharpness)
    return round(float(best), 1) + 0.0


def deskew(image: Any) -> Any:
    """The page image in grey, straightened (:func:`skew_angle`) when it is tilted by ``MIN_SKEW_DEGREES`` or more
    (tesseract reads smaller tilts as well without it)."""
    from PIL import Image

    grey = image.convert("L")
    angle = skew_angle(grey)
    if abs(angle) < MIN_SKEW_DEGREES:
        return grey
    logger.debug("straightening a page tilted by %.1f degrees", angle)
    return grey.rotate(-angle, resample=Image.BILINEAR, expand=True, fillcolor=255)


def _open_image(path: Path) -> Any:
    from PIL import Image

    try:
        image = Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow's own limit, over twice ours: refused when its header is read
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        raise IngestError(_too_large(f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels")) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise IngestError(f"damaged or unreadable image ({exc}); save or download it again") from None
    return image


def image_frames(path: Path) -> int:
    """Number of frames (pages) of an image file, read from its header.

    Raises:
        IngestError: The image is damaged or too large.
    """
    with _open_image(path) as image:
        check_pixels(*image.size)
        return int(getattr(image, "n_frames", 1) or 1)


def image_page(path: Path, number: int) -> PageImage:
    """Decode one frame (1-based) of an image file (a multi-page TIFF has several), upright (EXIF orientation).

    Raises:
        IngestError: Damaged, truncated or too large.
    """
    from PIL import Image, ImageOps

    with _open_image(path) as image:
        try:
            image.seek(number - 1)
            check_pixels(*image.size)
            dpi = image.info.get("dpi")
            image.load()
            decoded = ImageOps.exif_transpose(image.convert("RGB") if image.mode not in ("L", "RGB", "1") else image.copy())
        except IngestError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise IngestError(f"damaged or truncated image (page {number}: {exc}); save or download it again") from None
    resolution = float(dpi[0]) if isinstance(dpi, tuple) and dpi and float(dpi[0]) >= 50 else None
    return PageImage(decoded, resolution)


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


# ---------------------------------------------------------------------- PDF pages


def _images_of(resources: Any, trail: tuple[str, ...], depth: int, seen: set[int]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if depth > 4 or resources is None:
        return
    resources = resources.get_object()
    xobjects = resources.get("/XObject") if hasattr(resources, "get") else None
    if xobjects is None:
        return
    xobjects = xobjects.get_object()
    for name in list(xobjects):
        obj = xobjects[name].get_object()
        if id(obj) in seen or not hasattr(obj, "get"):
            continue
        seen.add(id(obj))
        if obj.get("/Subtype") == "/Image":
            yield (*trail, str(name)), obj
        elif obj.get("/Subtype") == "/Form":
            yield from _images_of(obj.get("/Resources"), (*trail, str(name)), depth + 1, seen)


def pdf_page_has_image(page: Any) -> bool:
    """Whether a pypdf page shows an image (which OCR could read)."""
    try:
        return next(_images_of(page.get("/Resources"), (), 0, set()), None) is not None
    except Exception:  # noqa: BLE001 - a damaged resource dictionary: no image to read
        return False


def pdf_page_image(page: Any) -> PageImage:
    """The largest image of a pypdf page (a scanned page holds one), upright, with its resolution.

    Its size is checked before it is decoded.

    Raises:
        IngestError: No image, too large, or it cannot be decoded.
    """
    found = [(int(obj.get("/Width", 0)) * int(obj.get("/Height", 0)), trail, obj) for trail, obj in _images_of(page.get("/Resources"), (), 0, set())]
    if not found:
        raise IngestError("the page has neither text nor an image to read")
    _, trail, obj = max(found, key=lambda item: item[0])
    width, height = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
    check_pixels(width, height)
    try:
        image = page.images[trail[0] if len(trail) == 1 else trail].image
    except Exception as exc:  # noqa: BLE001 - pypdf and Pillow raise many types for a damaged image
        raise IngestError(f"a page image cannot be decoded ({type(exc).__name__}: {exc})") from None
    if image is None:
        raise IngestError("a page image cannot be decoded")
    rotation = int(page.get("/Rotate", 0) or 0) % 360
    if rotation:
        image = image.rotate(-rotation, expand=True)
    box = page.mediabox
    inches = max(float(box.width), float(box.height)) / 72.0
    dpi = max(image.width, image.height) / inches if inches > 0 else None
    return PageImage(image, dpi if dpi and dpi >= 50 else None)
