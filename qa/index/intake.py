"""What an update of an index takes in: the limits, the checks of each file, and the reports.

Shared by both backends' updates (:mod:`qa.index.local.updates`, :mod:`qa.index.milvus.updates`):
each file given is copied, checked (type, size, pages, duplicate content) and read from the copy,
so what is indexed is what is kept.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.documents.filetype import PDF, sniff
from qa.documents.ocr import DEFAULT_BUDGET_S, OcrRun
from qa.documents.ingest import SUFFIXES, Skipped, iter_files, read_file
from qa.errors import IngestError, ModelMismatchError
from qa.files import file_sha256
from qa.index.embedding import Embedder, canonical_model_name, load_embedder
from qa.index.local.manifest import STORED_FILES
from qa.types import Document

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_MB = 50
"""Largest file accepted by :func:`qa.index.updates.add_documents`, in MB (MiB)."""
DEFAULT_MAX_FILES = 100
"""Most files one call of :func:`qa.index.updates.add_documents` accepts."""
DEFAULT_MAX_PAGES = 5000
"""Most PDF pages one call of :func:`qa.index.updates.add_documents` indexes (the files past it are skipped)."""
MAX_NAME_CHARS = 120
"""Longest stored file name (and ``doc_id``) of an added file, suffix included."""

_UNSAFE = re.compile(r"[^\w.\-+,() ]")
_SUFFIX = re.compile(r"\.([A-Za-z0-9]{1,10})$")


@dataclass(frozen=True)
class Limits:
    """The bounds of one update call (see :func:`qa.index.updates.add_documents`).

    Attributes:
        max_file_mb: Files larger than this many MB (MiB) are skipped.
        max_pages: PDF pages indexed in one call at most; the files past it are skipped.
        ocr_budget_s: Seconds of OCR the call may spend over all its scanned pages (see :class:`qa.documents.ocr.OcrRun`).
    """

    max_file_mb: float = DEFAULT_MAX_FILE_MB
    max_pages: int = DEFAULT_MAX_PAGES
    ocr_budget_s: float = DEFAULT_BUDGET_S

    @property
    def max_bytes(self) -> int:
        """``max_file_mb`` in bytes."""
        return int(self.max_file_mb * 2**20)


@dataclass(frozen=True)
class AddedDocument:
    """A document indexed by :func:`qa.index.updates.add_documents`.

    Attributes:
        doc_id: Its id: the sanitised file name (also the name of its copy in ``files/``).
        title: Its title.
        pages: Number of pages of a PDF; None for other documents.
        replaced: True when it replaced an earlier version of the same name.
    """

    doc_id: str
    title: str
    pages: int | None
    replaced: bool


@dataclass(frozen=True)
class AddReport:
    """What :func:`qa.index.updates.add_documents` did.

    Attributes:
        path: The index folder, or the Milvus location string.
        added: Documents indexed (new, or replacing a version of the same name).
        unchanged: Ids of the files given that the index already held with the same content.
        skipped: Files not indexed, each with the reason.
        documents: Documents in the index afterwards.
    """

    path: Path | str
    added: tuple[AddedDocument, ...]
    unchanged: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    documents: int


@dataclass(frozen=True)
class RemoveReport:
    """What :func:`qa.index.updates.remove_documents` did.

    Attributes:
        path: The index folder, or the Milvus location string.
        removed: Ids of the documents removed (and their kept files deleted).
        documents: Documents left in the index.
    """

    path: Path | str
    removed: tuple[str, ...]
    documents: int


@dataclass(frozen=True)
class IndexedDocument:
    """One document of an index, as listed by :func:`qa.index.updates.list_documents`.

    Attributes:
        doc_id: Its id.
        title: Its title.
        source: Where its text came from (``files/NAME`` for an added file).
        pages: Number of pages of a PDF; None for other documents.
        added: True when it was added with :func:`qa.index.updates.add_documents` (a copy is kept in ``files/``).
    """

    doc_id: str
    title: str
    source: str
    pages: int | None
    added: bool


def safe_name(name: str) -> str:
    """A file name safe to store in the index folder: no folders, no leading dots, only ordinary characters.

    ``"../../x.pdf"`` becomes ``"x.pdf"``, ``"/etc/a b?.PDF"`` becomes ``"a b_.pdf"``;
    letters of any script are kept; the result has at most ``MAX_NAME_CHARS`` characters.
    """
    base = unicodedata.normalize("NFC", re.split(r"[/\\]", str(name))[-1])
    match = _SUFFIX.search(base)
    stem, suffix = (base[: match.start()], "." + match.group(1).lower()) if match else (base, "")
    stem = re.sub(r"\s+", " ", _UNSAFE.sub("_", stem)).strip(" ._-") or "document"
    return stem[: MAX_NAME_CHARS - len(suffix)].rstrip(" ._-") + suffix


def check_limit(name: str, value: object, kind: type = int) -> None:
    """Refuse a limit that is not a number greater than 0.

    Raises:
        ValueError: Naming the limit and its value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        raise ValueError(f"{name} must be a number greater than 0. Currently, {name} is {value!r}.")


def expand(paths: Sequence[str | os.PathLike[str]], skipped: list[Skipped]) -> list[Path]:
    """The files given: each file as it is, each folder's supported files (recursively).

    Raises:
        IngestError: A path does not exist.
    """
    files = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise IngestError(f"path does not exist: {str(path)!r}; check the spelling")
        if path.is_dir():
            files.extend(p for p, _ in iter_files([path], skipped))
        else:
            files.append(path)
    return files


def embedder_for(manifest: dict | None, model: str | Embedder | None, backend: str | None) -> Embedder:
    """The model for an update: the index's own, and refuse another."""
    if manifest is None:
        return load_embedder(model, backend, build=True)
    built_with = manifest["model"]["name"]
    wanted = built_with if model is None else model
    name = canonical_model_name(wanted if isinstance(wanted, str) else wanted.name)
    if name != built_with:
        raise ModelMismatchError(
            f"index was built with model {built_with!r}, not {name!r}; add documents with that model (leave model unset)"
        )
    return load_embedder(wanted, backend, build=True)


def vet_files(
    files: list[Path],
    staging: Path,
    documents: list[Document],
    kept: dict[str, dict],
    stored: dict[str, Path],
    limits: Limits,
    skipped: list[Skipped],
    ocr: OcrRun | None = None,
) -> tuple[list[AddedDocument], list[str], dict[str, Document]]:
    """Copy each file into ``staging``, check it and read it from the copy (the checks of :func:`qa.index.updates.add_documents`).

    Args:
        files: The files given.
        staging: Folder for the copies.
        documents: The documents of the index now.
        kept: The index's kept files (name: ``{"sha256": ...}``).
        stored: Kept files by name; the copies of the files added are put in it.
        limits: The bounds of this call.
        ocr: The call's OCR run (cache, time budget, progress), shared by its files.
        skipped: Where the files not added are recorded, with the reason.

    Returns:
        ``(added, unchanged, documents by id afterwards)``.  A file whose content the index already holds (the
        same bytes as a kept copy, or the same text as any document, whether added or built by ``qa index``) is
        ``unchanged`` under the id of the document that holds it, whatever its own name.
    """
    by_sha = {info["sha256"]: name for name, info in kept.items()}
    by_id = {doc.doc_id: doc for doc in documents}
    by_text = {doc.sha256: doc.doc_id for doc in documents}
    added: list[AddedDocument] = []
    unchanged: list[str] = []
    names_seen: set[str] = set()
    max_bytes, max_file_mb, max_pages = limits.max_bytes, limits.max_file_mb, limits.max_pages
    pages_left = max_pages
    for path in files:
        name = safe_name(path.name)
        reason = None
        try:
            size = path.stat().st_size
            if name in names_seen:
                reason = f"another file of this call has the name {name!r}; rename one of them"
            elif Path(name).suffix not in SUFFIXES:
                reason = f"unsupported file type {Path(name).suffix!r}: use one of {sorted(SUFFIXES)}"
            elif size > max_bytes:
                reason = (
                    f"file is {size / 2**20:,.1f} MB, over the limit of max_file_mb={max_file_mb:g}; "
                    "split it, or raise max_file_mb"
                )
            if reason is None:
                names_seen.add(name)
                copy = staging / name
                shutil.copyfile(path, copy)  # what is read is what is kept
                digest = file_sha256(copy)
                same = name if kept.get(name, {}).get("sha256") == digest else by_sha.get(digest)
                if same is not None:  # the same bytes are indexed (under this name or another): nothing to do
                    _unchanged(unchanged, same, path)
                    continue
                if sniff(copy) == PDF:
                    from qa.documents.pdf import page_count

                    count = page_count(copy)
                    if count > pages_left:
                        reason = (
                            f"the PDF has {count:,} pages, over the {pages_left:,} left of max_pages={max_pages:,} "
                            "in this call; add it in a separate call, or raise max_pages"
                        )
            if reason is None:
                doc = read_file(copy, name, max_bytes=max_bytes, max_pages=pages_left, ocr=ocr)
                doc = Document(doc.doc_id, doc.title, doc.text, f"{STORED_FILES}/{name}", doc.page_starts, doc.layout)
                same_text = by_text.get(doc.sha256)
                if same_text is not None and (same_text != name or name not in kept):
                    # the same text is indexed: under another name, or under this one by `qa index` (no kept copy)
                    _unchanged(unchanged, same_text, path)
                    continue
        except IngestError as exc:
            reason = str(exc)
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
        if reason is not None:
            logger.warning("skipping %s: %s", path, reason)
            skipped.append(Skipped(str(path), reason))
            continue
        pages_left -= len(doc.page_starts)
        replaced = name in by_id
        by_id[name] = doc
        by_text[doc.sha256] = name
        by_sha[digest] = name
        stored[name] = staging / name
        added.append(AddedDocument(name, doc.title, len(doc.page_starts) or None, replaced))
    return added, unchanged, by_id


def _unchanged(unchanged: list[str], doc_id: str, path: Path) -> None:
    """Record that the file at ``path`` is already indexed as ``doc_id`` with the same content."""
    if doc_id != safe_name(path.name):
        logger.info("%s has the same content as %r, already in the index: left as it is", path, doc_id)
    if doc_id not in unchanged:
        unchanged.append(doc_id)
