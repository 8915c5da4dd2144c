"""What a file really is, told from its bytes (not its name), and the safety checks of ZIP containers.

A ``.docx`` is a ZIP archive; before any part of one is decompressed its
central directory is checked, so that a "zip bomb" (a small file that inflates
to gigabytes) is refused without being inflated.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from qa.errors import IngestError

PDF = "pdf"
DOCX = "docx"
TEXT = "text"
"""Content kinds returned by :func:`sniff` (text covers .txt, .md and .html: they are told apart by name)."""
DAMAGED_ZIP = "damaged-zip"
"""A file that starts like a ZIP archive (as a .docx does) but cannot be opened as one."""

SNIFF_BYTES = 8192
"""Bytes read from the start of a file to tell its kind."""
MAX_UNZIPPED_BYTES = 256 * 2**20
"""A DOCX whose parts add up to more than this (256 MiB uncompressed) is refused."""
MAX_ZIP_MEMBERS = 10_000
"""... and so is one with more parts than this."""
MAX_COMPRESSION_RATIO = 100
"""A part of more than ``RATIO_MIN_BYTES`` that inflates more than 100 times is refused (Word's XML inflates 3-20 times)."""
RATIO_MIN_BYTES = 1 * 2**20

_MAGIC = (
    (b"%PDF-", PDF),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
    (b"{\\rtf", "rtf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"GIF8", "gif"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!", "rar"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
)
_DESCRIBED = {
    "zip": "a ZIP archive that is not a Word document",
    DAMAGED_ZIP: "a damaged or truncated ZIP archive",
    "ole2": "a legacy Word 97-2003 (.doc) or other Office 97 file; save it as .docx",
    "rtf": "an RTF document; save it as .docx or PDF",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "tiff": "a TIFF image",
    "gif": "a GIF image",
    "gzip": "a gzip archive",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "executable": "a program",
    TEXT: "plain text or HTML",
}


def sniff(path: Path) -> str:
    """The kind of a file, from its first bytes.

    Args:
        path: The file.

    Returns:
        ``"pdf"``; ``"docx"`` (a ZIP with ``word/document.xml``); ``"damaged-zip"``
        (starts like a ZIP, cannot be opened as one); ``"text"`` when it is none
        of the binary kinds known; or the name of another binary kind (``"zip"``,
        ``"ole2"``, ``"png"`` ...), which :func:`describe` explains.

    Raises:
        OSError: The file cannot be read.
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if b"%PDF-" in head[:1024]:  # the header may follow some junk bytes (the PDF standard allows 1,024)
        return PDF
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return _zip_kind(path) if kind == "zip" else kind
    return TEXT


def describe(kind: str) -> str:
    """A few words saying what a kind returned by :func:`sniff` is."""
    return _DESCRIBED.get(kind, f"a {kind} file")


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return DAMAGED_ZIP
    return DOCX if "word/document.xml" in names and "[Content_Types].xml" in names else "zip"


def check_zip(path: Path, max_bytes: int = MAX_UNZIPPED_BYTES, max_ratio: float = MAX_COMPRESSION_RATIO) -> None:
    """Refuse a ZIP container that is damaged or would inflate too much, before decompressing anything.

    Only the central directory is read: the declared sizes of every part are
    summed and each large part's compression ratio is checked.  (Python's
    ``zipfile`` stops at a part's declared size and checks its CRC when it is
    read, so a part cannot inflate past what is declared.)

    Args:
        path: The ZIP file (a ``.docx``).
        max_bytes: Largest total uncompressed size accepted.
        max_ratio: Largest compression ratio of a part over ``RATIO_MIN_BYTES``.

    Raises:
        IngestError: The archive is damaged or truncated, encrypted, or a zip bomb.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise IngestError(f"damaged or truncated ZIP container ({exc}); save the document again") from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise IngestError(f"the archive has {len(members):,} parts, over the limit of {MAX_ZIP_MEMBERS:,} (a zip bomb?)")
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise IngestError(f"the archive's part {member.filename!r} is encrypted; save the document without a password")
        total += member.file_size
        ratio = member.file_size / max(1, member.compress_size)
        if member.file_size > RATIO_MIN_BYTES and ratio > max_ratio:
            raise IngestError(
                f"the archive's part {member.filename!r} would inflate {ratio:,.0f} times to {member.file_size:,} bytes "
                f"(over {max_ratio:,.0f} times: a zip bomb?); it was not decompressed"
            )
    if total > max_bytes:
        raise IngestError(
            f"the archive would inflate to {total:,} bytes, over the limit of {max_bytes:,} bytes "
            "(a zip bomb, or a document too large to index); it was not decompressed"
        )
