"""Add documents to an index and remove them, keeping a copy of every added file with the index.

An added file is copied into the index folder (``files/NAME``, NAME sanitised:
no folders, no ``..``, no odd characters), read from that copy, and listed in
the manifest's ``"library"``.  So a restart serves the same documents, and an
index that must be rebuilt is rebuilt from those copies (:func:`qa.index.local.updates.stored_documents`).
The document's ``doc_id`` is NAME: the same content added again is a no-op (by
SHA-256 of the file), and a changed file of the same name replaces the old
version.  Every update reads the old index and swaps in the new one under one
:func:`qa.index.local.build.build_lock`, and is incremental (only new or changed documents
are embedded).

Uploads are a write path, so they are bounded: a size per file, a number of
files per call and a number of PDF pages per call (:data:`qa.index.intake.DEFAULT_MAX_FILE_MB`,
``DEFAULT_MAX_FILES``, ``DEFAULT_MAX_PAGES``).  The checks and reports are in :mod:`qa.index.intake`;
each backend's update in :mod:`qa.index.local.updates` and :mod:`qa.index.milvus.updates`,
chosen by :mod:`qa.index.backend`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from qa.documents.ingest import Skipped
from qa.documents.ocr import DEFAULT_BUDGET_S
from qa.errors import IngestError
from qa.index.backend import add_files, indexed_documents, remove_ids
from qa.index.embedding import Embedder
from qa.index.intake import (
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_PAGES,
    AddReport,
    IndexedDocument,
    Limits,
    RemoveReport,
    check_limit,
    expand,
)
from qa.index.location import parse_location

def add_documents(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    index: str | os.PathLike[str] | None = None,
    *,
    model: str | Embedder | None = None,
    backend: str | None = None,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    max_files: int = DEFAULT_MAX_FILES,
    max_pages: int = DEFAULT_MAX_PAGES,
    ocr_budget_s: float = DEFAULT_BUDGET_S,
) -> AddReport:
    """Add files (.txt, .md, .html, .pdf, .docx) to an index, keeping a copy of each in its ``files/`` folder.

    Each file is copied into the index folder under its sanitised name
    (:func:`safe_name`, which is also its ``doc_id``) and read from that copy.  A
    file whose bytes equal the kept copy of the same name is left as it is
    (``unchanged``); a file of a name already indexed with other content replaces
    it.  Bad files (damaged, encrypted, scanned without text, of another type
    than their name says, a zip bomb, too large) are skipped with the reason, and
    the rest is indexed.  The update is incremental and atomic, under the index's
    build lock: a failure leaves the previous index as it was.

    With ``index=None`` the default index folder is used; when it holds no index
    yet, it starts as the bundled article (as :func:`qa.load` would build it)
    plus the files added.  Any other folder without an index gets one with the
    added files alone.

    Args:
        paths: Files, or folders (their supported files, recursively).
        index: Index folder; None: ``$QA_INDEX_DIR`` or ``./index``.
        model: Model for a new index (None: the bundled default); an existing
            index is updated with its own model (another one raises).
        backend: What runs the model (see :func:`qa.index.embedding.load_embedder`).
        max_file_mb: Files larger than this many MB (MiB) are skipped.
        max_files: More files than this in one call raise :class:`qa.IngestError`.
        max_pages: PDF pages indexed in one call at most; the PDFs past it are skipped.
        ocr_budget_s: Seconds of OCR the call may spend on scanned pages and images (their text is cached
            beside the index, so a call that ran out resumes where it stopped).

    Returns:
        What was added, left unchanged and skipped.

    Raises:
        ValueError: A limit is not a number greater than 0.
        IngestError: A path does not exist, or more than ``max_files`` files.
        IndexLockedError: Another build is writing the index.
        ModelMismatchError: ``model`` is not the index's model.
        QAError: The existing index is damaged or of another format (it is never overwritten then).
    """
    check_limit("max_file_mb", max_file_mb, float)
    check_limit("max_files", max_files)
    check_limit("max_pages", max_pages)
    check_limit("ocr_budget_s", ocr_budget_s, float)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    skipped: list[Skipped] = []
    files = expand(list(paths), skipped)
    if len(files) > max_files:
        raise IngestError(
            f"{len(files)} files given, over the limit of max_files={max_files}; add them in several calls, or raise max_files"
        )
    return add_files(parse_location(index), index is None, files, model, backend, Limits(max_file_mb, max_pages, ocr_budget_s), skipped)


def remove_documents(
    doc_ids: Sequence[str] | str,
    index: str | os.PathLike[str] | None = None,
    *,
    model: str | Embedder | None = None,
    backend: str | None = None,
) -> RemoveReport:
    """Remove documents from an index (and the kept copies of added files), incrementally and atomically.

    Args:
        doc_ids: Ids of the documents to remove (see ``qa list``).
        index: Index folder; None: ``$QA_INDEX_DIR`` or ``./index``.
        model: Model to rebuild with; None: the index's own (another one raises).
        backend: What runs the model (see :func:`qa.index.embedding.load_embedder`).

    Returns:
        What was removed and how many documents are left.

    Raises:
        ValueError: No ids given.
        IndexNotFoundError: No index in the folder.
        DocumentNotFoundError: An id is not in the index (nothing is removed then).
        QAError: Removing every document (an index needs one), or the index is damaged.
        IndexLockedError: Another build is writing the index.
    """
    if isinstance(doc_ids, str):
        doc_ids = [doc_ids]
    wanted = list(dict.fromkeys(doc_ids))
    if not wanted:
        raise ValueError("doc_ids is empty: give the id of at least one document to remove (see `qa list`)")
    return remove_ids(parse_location(index), wanted, model, backend)


def list_documents(index: str | os.PathLike[str] | None = None) -> list[IndexedDocument]:
    """The documents of an index, in index order, read from its manifest (no model, no vectors).

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: No readable index in the folder.
    """
    return indexed_documents(parse_location(index))
