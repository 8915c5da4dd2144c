"""Read documents from files and folders and clean them.

Supported inputs are ``.txt``, ``.md``/``.markdown``, ``.html``/``.htm``, ``.pdf``
(its text layer, :mod:`qa.documents.pdf`; pages without one by OCR), ``.docx``
(:mod:`qa.documents.docx_reader`) and page images (``.png``, ``.jpg``/``.jpeg``,
``.tif``/``.tiff``, read by OCR: :mod:`qa.documents.ocr`, one page per frame) files and
folders of them (searched recursively, in sorted order).  What a file is comes
from its bytes (:mod:`qa.documents.filetype`), not its name: a ``.docx`` that is really an
image is skipped with that reason.  Every document's ``text`` is the cleaned text
that all offsets in the package refer to.

Markdown (:mod:`qa.documents.markdown_reader`), HTML (:mod:`qa.documents.html_reader`) and Word
files are read as the text they show, laid out by :mod:`qa.documents.layout` (headings on lines
of their own, tables with their header in each row).  Files of a folder that are not read (another
type, hidden) are reported as skipped, like the files named.

Titles come from the document's own metadata (a PDF's title, a Word file's core
properties, an HTML ``<title>``, a Markdown front matter's ``title``), else its first heading,
else the file name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import IngestError
from qa.documents.filetype import DAMAGED_ZIP, DOCX, PDF, describe, sniff
from qa.documents.ocr import DEFAULT_BUDGET_S, OcrRun, ProgressCallback
from qa.documents.scan_images import IMAGE_KINDS, IMAGE_SUFFIXES
from qa.types import Document

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES | IMAGE_SUFFIXES
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Files larger than this are skipped with a warning (64 MiB)."""

# A line with at least this many words that does not end a sentence is a
# truncated teaser ("... as concerns mount over the West fa") and is dropped.
TEASER_MIN_WORDS = 12
TEASER_MAX_WORDS = 80
"""... unless it has more words than this: then it is a paragraph (a teaser is a headline and a lede, 24-30 words
in the bundled article), kept whole."""
_SENTENCE_END = re.compile(r"""[.!?…:;]["'”’»)\]]*\s*$|["”’»]\s*$""")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MIN_IMAGE_LETTERS = 8
"""An image in which OCR reads fewer letters than this has no text."""


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, and why.

    Attributes:
        path: The file.
        reason: Human-readable reason.
    """

    path: str
    reason: str


@dataclass
class IngestReport:
    """What :func:`load_documents` read and skipped.

    Attributes:
        documents: Documents read, in deterministic order.
        skipped: Files passed over, with the reason.
    """

    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def clean_text(raw: str, drop_teasers: bool = True) -> str:
    """Normalise line endings and whitespace, and drop truncated teaser lines.

    Args:
        raw: Text as read from a file.
        drop_teasers: Drop the lines that look like teasers cut off mid-sentence (web
            scrapes); False for Word documents, whose paragraphs are whole.

    Returns:
        The cleaned text: ``\\n`` line endings, no control characters, no trailing
        spaces, at most one blank line in a row, and (with ``drop_teasers``) without
        lines of ``TEASER_MIN_WORDS`` words or more that stop mid-sentence.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = _CONTROL.sub("", text)
    kept: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if drop_teasers and is_truncated_line(line):
            logger.info("dropping truncated line: %.60s...", line.strip())
            continue
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def is_truncated_line(line: str) -> bool:
    """Tell whether a line is a teaser cut off mid-sentence.

    Args:
        line: One line of text.

    Returns:
        True for a line of ``TEASER_MIN_WORDS`` to ``TEASER_MAX_WORDS`` words that ends without
        sentence-final punctuation (headings, short lines and long paragraphs are kept).
    """
    stripped = line.strip()
    if _HEADING.match(stripped) or not TEASER_MIN_WORDS <= len(stripped.split()) <= TEASER_MAX_WORDS:
        return False
    return _SENTENCE_END.search(stripped) is None


def title_of(text: str, fallback: str) -> str:
    """Pick a title: the first Markdown heading, else a short first line, else ``fallback``.

    Args:
        text: Cleaned document text.
        fallback: Used when the text has no heading-like first line (e.g. the file name).

    Returns:
        The title.
    """
    for line in text.split("\n"):
        match = _HEADING.match(line)
        if match and match.group(1):
            return match.group(1)
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    if first and len(first.split()) <= 15 and not first.endswith("."):
        return first
    return fallback


def read_file(
    path: Path, doc_id: str, max_bytes: int | None = None, max_pages: int | None = None, ocr: OcrRun | None = None
) -> Document:
    """Read and clean one file.

    Args:
        path: A ``.txt``, ``.md``, ``.html``, ``.pdf``, ``.docx``, ``.png``, ``.jpg``/``.jpeg``
            or ``.tif``/``.tiff`` file.
        doc_id: The identifier to give the document.
        max_bytes: Refuse a larger file (None: ``MAX_FILE_BYTES``).
        max_pages: Refuse a PDF or image with more pages (None: no limit).
        ocr: The OCR run of the call (cache folder, time budget, progress), shared by
            the files of one call; None: a run of this file's own, without a cache.

    Returns:
        The document (with ``page_starts`` for a PDF or an image).

    Raises:
        IngestError: The file is too large, of another type than its name says,
            damaged, encrypted, a zip bomb or decompression bomb, binary, not UTF-8,
            has no text, or needs OCR that cannot be done (engine missing: the
            reason names the install command; time budget spent).
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(unsupported_reason(suffix))
    size = path.stat().st_size
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    if size > max_bytes:
        raise IngestError(f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes; split it into smaller files")
    kind = sniff(path)
    expected = PDF if suffix in PDF_SUFFIXES else DOCX if suffix in DOCX_SUFFIXES else None
    if expected == DOCX and kind == DAMAGED_ZIP:
        kind = DOCX  # read_docx checks the container and says what is wrong with it
    if expected is not None and kind != expected:
        name = "a PDF" if expected == PDF else "a Word (.docx) document"
        raise IngestError(f"not {name}: the file's content is {describe(kind)} (told from its bytes, not its name)")
    if suffix in IMAGE_SUFFIXES and kind not in IMAGE_KINDS and kind != PDF:
        raise IngestError(f"not a PNG, JPEG or TIFF image: the file's content is {describe(kind)} (told from its bytes, not its name)")
    if kind == PDF:
        from qa.documents.pdf import read_pdf

        pdf = read_pdf(path, max_pages, ocr)
        title = "" if pdf.title == path.stem else pdf.title  # Pillow and others record the file name as the title
        return Document(doc_id, title or title_of(pdf.text, path.stem), pdf.text, str(path), pdf.page_starts, pdf.layout)
    if kind in IMAGE_KINDS and suffix in IMAGE_SUFFIXES:
        return read_image_document(path, doc_id, max_pages, ocr)
    if kind == DOCX:
        from qa.documents.docx_reader import read_docx

        docx = read_docx(path)
        text = clean_text(docx.text, drop_teasers=False)
        return Document(doc_id, docx.title or title_of(text, path.stem), text, str(path))
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise IngestError("file looks binary (it contains NUL bytes)")
    if kind != "text":
        raise IngestError(f"not a text file: its content is {describe(kind)} (told from its bytes, not its name)")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"file is not UTF-8 ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from None
    title = ""
    if suffix in HTML_SUFFIXES:
        from qa.documents.html_reader import read_html

        page = read_html(raw, drop_line=is_truncated_line)
        text, title = clean_text(page.text, drop_teasers=False), page.title
    elif suffix in MARKDOWN_SUFFIXES:
        from qa.documents.markdown_reader import read_markdown

        markdown = read_markdown(raw)
        text, title = clean_text(markdown.text, drop_teasers=False), markdown.title
    else:
        text = clean_text(raw)
    if not text.strip():
        raise IngestError("file has no text")
    return Document(doc_id=doc_id, title=title or title_of(text, path.stem), text=text, source=str(path))


def read_image_document(path: Path, doc_id: str, max_pages: int | None = None, ocr: OcrRun | None = None) -> Document:
    """Read a page image (PNG, JPEG, TIFF: one page per frame) by OCR, cleaned as a PDF's text is.

    Args:
        path: The image file.
        doc_id: The identifier to give the document.
        max_pages: Refuse a file with more frames (None: no limit).
        ocr: The call's OCR run (None: one of its own, without a cache).

    Returns:
        The document, with one ``page_starts`` entry per frame.

    Raises:
        IngestError: Damaged, truncated, too large (a decompression bomb), over
            ``max_pages``, no text found, the engine missing, or the time budget spent.
    """
    from qa.documents.ocr import read_image
    from qa.documents.pdf import join_pages, ocr_lines

    from qa.documents.page_map import build

    run = ocr or OcrRun()
    texts = read_image(path, run, max_pages)
    pages = [ocr_lines(raw) for raw in texts]
    if sum(c.isalpha() for lines in pages for line in lines for c in line) < MIN_IMAGE_LETTERS:
        raise IngestError("no text found: OCR read no words in the image (a photo, or a blank page?)")
    text, starts = join_pages(pages)
    reads = {n - 1: read for n, read in run.page_reads(path).items() if read.page is not None}
    layout = build(text, starts, {i: r.text for i, r in reads.items()}, {i: r.page for i, r in reads.items() if r.page is not None})
    return Document(doc_id, title_of(text, path.stem), text, str(path), starts, layout)


def iter_files(
    paths: Sequence[str | os.PathLike[str]], skipped: list[Skipped] | None = None
) -> Iterable[tuple[Path, str]]:
    """List the files to read, with their document ids, in deterministic order.

    In a folder, the files of a type qa does not read (``.csv``, ``.rtf`` ...) and hidden
    files and folders (names starting with ``.``: not searched) are recorded as skipped, with
    a logged warning, as a named file of such a type is when it is read: one entry per file, or
    one per folder given for the files of one type when there are more than ``SKIPPED_LISTED``.

    Args:
        paths: Files and folders.
        skipped: Where folders that cannot be listed and the files passed over are
            recorded (with a logged warning); None ignores them silently.

    Yields:
        ``(path, doc_id)``: for a file given directly its name; for files under a
        folder their path relative to that folder (POSIX separators).

    Raises:
        IngestError: A path does not exist.
    """
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise IngestError(f"path does not exist: {str(path)!r}; check the spelling")
        if path.is_dir():

            def unreadable(exc: OSError) -> None:
                reason = f"cannot list folder: {exc.strerror or exc}"
                logger.warning("skipping %s: %s", exc.filename, reason)
                if skipped is not None:
                    skipped.append(Skipped(str(exc.filename), reason))

            passed: dict[str, list[Path]] = {}  # the files passed over, by kind: a suffix, or HIDDEN
            for root, dirs, files in os.walk(path, onerror=unreadable):
                passed.setdefault(HIDDEN, []).extend(Path(root) / d for d in sorted(dirs) if d.startswith("."))
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    child = Path(root) / name
                    suffix = child.suffix.lower()
                    if name.startswith("."):
                        passed.setdefault(HIDDEN, []).append(child)
                    elif suffix not in SUFFIXES:
                        passed.setdefault(suffix, []).append(child)
                    else:
                        yield child, child.relative_to(path).as_posix()
            if skipped is not None:
                skipped.extend(_passed_over(path, passed))
        else:
            yield path, path.name


HIDDEN = "hidden"
SKIPPED_LISTED = 10
"""In a folder, up to this many files of one type that is not read are reported one by one; more, as one entry."""


def unsupported_reason(suffix: str) -> str:
    """Why a file with this suffix is not read."""
    return f"unsupported file type {suffix!r}: use one of {sorted(SUFFIXES)}"


def _passed_over(folder: Path, passed: dict[str, list[Path]]) -> list[Skipped]:
    """The skipped-file entries of a folder's files passed over (by kind), logged."""
    entries = []
    for kind in sorted(passed):
        paths = passed[kind]
        if not paths:
            continue
        if kind == HIDDEN:
            reason = "hidden (its name starts with '.'): not searched in a folder; pass it by name to index it"
        else:
            reason = unsupported_reason(kind) if kind else f"no file type (no extension): use one of {sorted(SUFFIXES)}"
        if len(paths) <= SKIPPED_LISTED:
            entries.extend(Skipped(str(p), reason) for p in paths)
            continue
        names = ", ".join(p.relative_to(folder).as_posix() for p in paths[:3])
        what = "hidden files and folders" if kind == HIDDEN else f"{kind or 'extensionless'} files"
        entries.append(Skipped(str(folder), f"{len(paths):,} {what} ({names}, ...): {reason}"))
    for entry in entries:
        logger.warning("skipping %s: %s", entry.path, entry.reason)
    return entries


def load_documents(
    inputs: Sequence[str | os.PathLike[str] | Document],
    ocr_cache: Path | None = None,
    ocr_budget_s: float = DEFAULT_BUDGET_S,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Read documents from files, folders and ready-made :class:`Document` objects.

    Unreadable files are skipped with a warning naming the file and the reason;
    files whose text duplicates an earlier document are skipped too.  Scanned
    pages and images are read by OCR (:mod:`qa.documents.ocr`), all files of the
    call sharing one time budget.

    Args:
        inputs: Paths (files or folders) and/or documents.
        ocr_cache: Folder where the OCR text of each file is kept by the file's
            SHA-256, so that an unchanged file is not read again (e.g. a folder beside
            the index); None keeps nothing.
        ocr_budget_s: Seconds of OCR this call may spend; the scanned files past it
            are skipped with a reason that says to raise it (their pages read so far
            are cached).
        progress: Called before each page read by OCR with a
            :class:`qa.documents.ocr.OcrProgress` (``.message``: "reading page 3 of 40 with OCR").

    Returns:
        The documents read and the files skipped.

    Raises:
        IngestError: A path does not exist, or two documents share a ``doc_id``.
        ValueError: ``ocr_budget_s`` is not positive.
    """
    run = OcrRun(cache=ocr_cache, budget_s=ocr_budget_s, progress=progress)
    report = IngestReport()
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}

    def add(doc: Document) -> None:
        if doc.doc_id in seen_ids:
            raise IngestError(
                f"two documents have the doc_id {doc.doc_id!r} ({seen_ids[doc.doc_id]} and {doc.source}); "
                "give them different file names or index their folders separately"
            )
        digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
        if digest in seen_text:
            reason = f"same text as {seen_text[digest]!r}"
            logger.warning("skipping %s: %s", doc.source, reason)
            report.skipped.append(Skipped(doc.source, reason))
            return
        seen_ids[doc.doc_id] = doc.source
        seen_text[digest] = doc.doc_id
        report.documents.append(doc)

    for item in inputs:
        if isinstance(item, Document):
            if not item.text.strip():
                report.skipped.append(Skipped(item.source, f"document {item.doc_id!r} has no text"))
                continue
            add(item)
            continue
        for path, doc_id in iter_files([item], report.skipped):
            try:
                doc = read_file(path, doc_id, ocr=run)
            except IngestError as exc:
                logger.warning("skipping %s: %s", path, exc)
                report.skipped.append(Skipped(str(path), str(exc)))
                continue
            except OSError as exc:
                reason = f"cannot read: {exc.strerror or exc}"
                logger.warning("skipping %s: %s", path, reason)
                report.skipped.append(Skipped(str(path), reason))
                continue
            add(doc)
    return report


DEFAULT_TITLE = "EU and Japan sign security and defence partnership (AFP, 1 Nov 2024)"


def default_corpus_path() -> Path:
    """Path of the bundled article (package data)."""
    return Path(__file__).resolve().parents[1] / "data" / "eu-japan-security-pact.txt"


def default_documents() -> list[Document]:
    """The bundled article as a one-document corpus."""
    path = default_corpus_path()
    doc = read_file(path, path.name)
    return [Document(doc_id=doc.doc_id, title=DEFAULT_TITLE, text=doc.text, source=doc.source)]
