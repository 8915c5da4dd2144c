"""Page images for OCR: read from image files and from PDF pages, checked, straightened, evened out.

Every image is checked before it is decoded (at most ``MAX_IMAGE_PIXELS``: a decompression
bomb is refused, in an image file or inside a PDF).  A tilted page is straightened (the angle
whose rows of ink are sharpest, within ``MAX_SKEW_DEGREES``) and a page in uneven light has
its lighting evened out, because tesseract (:mod:`qa.documents.ocr`) reads neither well.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import IngestError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
"""Image files read by OCR (one document each, one page per frame)."""
IMAGE_KINDS = frozenset({"png", "jpeg", "tiff"})
"""Kinds of :func:`qa.documents.filetype.sniff` that are read as images."""
MAX_IMAGE_PIXELS = 100_000_000
"""A page image with more pixels than this is refused before it is decoded (an A3 page at 600 dpi has 70 million)."""
MAX_SKEW_DEGREES = 6.0
"""Tilts up to this many degrees are straightened before OCR."""
UNEVEN_LIGHT = 0.2
"""A page whose paper is darker than this share somewhere (a shadow, a lamp's falloff) has its lighting evened out."""
MIN_SKEW_DEGREES = 0.5
"""... and smaller ones are left to tesseract."""

@dataclass(frozen=True)
class PageImage:
    """A page image ready for OCR.

    Attributes:
        image: A Pillow image (decoded, grey or colour).
        dpi: Its resolution when known (from the file, or the PDF page's size), else None.
    """

    image: Any
    dpi: float | None


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
    copy 600 to 1,200 pixels wide are projected onto lines at that angle, and the sum of
    squared differences between neighbouring lines' ink is largest (steps of 0.5
    degrees, then 0.1).  Projecting points costs a few milliseconds a page.
    """
    import numpy as np
    from PIL import ImageOps

    grey = image.convert("L")
    factor = max(1, grey.width // 600)
    small = ImageOps.autocontrast(grey.reduce(factor) if factor > 1 else grey)
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


def flatten(image: Any) -> Any:
    """The page image in grey with its lighting evened out, when it is uneven (a photographed page's shadow).

    The paper's brightness is estimated on a copy an eighth of the size (the brightest
    pixel around each point, smoothed); where it varies by more than ``UNEVEN_LIGHT``
    (the darkest 5 % of the page against the brightest 5 %), each pixel is divided by
    it.  An evenly lit scan is returned as it is.
    """
    import numpy as np
    from PIL import Image, ImageFilter

    grey = image.convert("L")
    small = grey.reduce(8) if min(grey.size) >= 160 else grey
    paper = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(4))
    low, high = np.percentile(np.asarray(paper), [5, 95])
    if high <= 0 or low >= (1.0 - UNEVEN_LIGHT) * high:
        return grey
    logger.debug("evening out the lighting of a page (paper %.0f to %.0f)", low, high)
    pixels = np.asarray(grey, dtype=np.uint16) * 255
    background = np.maximum(np.asarray(paper.resize(grey.size, Image.BILINEAR), dtype=np.uint16), 1)
    return Image.fromarray(np.minimum(pixels // background, 255).astype(np.uint8))


def deskew(image: Any) -> Any:
    """The page image in grey, straightened (:func:`skew_angle`) when it is tilted by ``MIN_SKEW_DEGREES`` or more
    (tesseract reads smaller tilts as well without it)."""
    return straighten(image)[0]


def straighten(image: Any) -> tuple[Any, float]:
    """:func:`deskew`, and the degrees the image was turned by (0.0 when it was left as it was)."""
    from PIL import Image

    grey = image.convert("L")
    angle = skew_angle(grey)
    if abs(angle) < MIN_SKEW_DEGREES:
        return grey, 0.0
    logger.debug("straightening a page tilted by %.1f degrees", angle)
    return grey.rotate(-angle, resample=Image.BILINEAR, expand=True, fillcolor=255), angle


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


def pdf_page_image_pixels(page: Any) -> int:
    """Pixels of the largest image a pypdf page shows (0 when none), from the images' dictionaries (nothing is decoded)."""
    try:
        return max((int(obj.get("/Width", 0)) * int(obj.get("/Height", 0)) for _, obj in _images_of(page.get("/Resources"), (), 0, set())), default=0)
    except Exception:  # noqa: BLE001 - a damaged resource dictionary: no image to read
        return 0


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
