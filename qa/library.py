"""Add documents to an index and remove them, keeping a copy of every added file with the index.

An added file is copied into the index folder (``files/NAME``, NAME sanitised:
no folders, no ``..``, no odd characters), read from that copy, and listed in
the manifest's ``"library"``.  So a restart serves the same documents, and an
index that must be rebuilt is rebuilt from those copies (:func:`stored_documents`).
The document's ``doc_id`` is NAME: the same content added again is a no-op (by
SHA-256 of the file), and a changed file of the same name replaces the old
version.  Every update reads the old index and swaps in the new one under one
:func:`qa.build.build_lock`, and is incremental (only new or changed documents
are embedded).

Uploads are a write path, so they are bounded: a size per file, a number of
files per call and a number of PDF pages per call (:data:`DEFAULT_MAX_FILE_MB`,
:data:`DEFAULT_MAX_FILES`, :data:`DEFAULT_MAX_PAGES`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.build import HeldLock, build_lock, write_index
from qa.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.embedding import Embedder, canonical_model_name, load_embedder
from qa.errors import DocumentNotFoundError, IndexNotFoundError, IngestError, ModelMismatchError, QAError
from qa.files import file_sha256
from qa.filetype import PDF, sniff
from qa.ingest import SUFFIXES, Skipped, default_documents, iter_files, read_file
from qa.location import Location, default_index_dir, parse_location
from qa.manifest import STORED_FILES, check_stored_files, read_manifest, stored_files
from qa.store import read_documents
from qa.types import Document
from qa.vectors import DEFAULT_EXACT_MAX

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_MB = 50
"""Largest file accepted by :func:`add_documents`, in MB (MiB)."""
DEFAULT_MAX_FILES = 100
"""Most files one call of :func:`add_documents` accepts."""
DEFAULT_MAX_PAGES = 5000
"""Most PDF pages one call of :func:`add_documents` indexes (the files past it are skipped)."""
MAX_NAME_CHARS = 120
"""Longest stored file name (and ``doc_id``) of an added file, suffix included."""

_UNSAFE = re.compile(r"[^\w.\-+,() ]")
_SUFFIX = re.compile(r"\.([A-Za-z0-9]{1,10})$")


@dataclass(frozen=True)
class AddedDocument:
    """A document indexed by :func:`add_documents`.

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
    """What :func:`add_documents` did.

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
    """What :func:`remove_documents` did.

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
    """One document of an index, as listed by :func:`list_documents`.

    Attributes:
        doc_id: Its id.
        title: Its title.
        source: Where its text came from (``files/NAME`` for an added file).
        pages: Number of pages of a PDF; None for other documents.
        added: True when it was added with :func:`add_documents` (a copy is kept in ``files/``).
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


def _check_limit(name: str, value: object, kind: type = int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        raise ValueError(f"{name} must be a number greater than 0. Currently, {name} is {value!r}.")


def _target(index: str | os.PathLike[str] | None) -> Path:
    return Path(index) if index is not None else default_index_dir()


def _embedder(manifest: dict | None, model: str | Embedder | None, backend: str | None) -> Embedder:
    """The model for an update: the index's own, and refuse another."""
    if manifest is None:
        return load_embedder(model, backend)
    built_with = manifest["model"]["name"]
    wanted = built_with if model is None else model
    name = canonical_model_name(wanted if isinstance(wanted, str) else wanted.name)
    if name != built_with:
        raise ModelMismatchError(
            f"index was built with model {built_with!r}, not {name!r}; add documents with that model (leave model unset)"
        )
    return load_embedder(wanted, backend)


def _build(
    target: Path, documents: list[Document], stored: dict[str, Path], manifest: dict | None, embedder: Embedder, held: HeldLock
) -> None:
    """Write ``documents`` into ``target`` with the chunking and index settings it already has."""
    chunking = (manifest or {}).get("chunking", {})
    write_index(
        documents,
        target,
        embedder,
        max_words=int(chunking.get("max_words", DEFAULT_MAX_WORDS)),
        overlap=int(chunking.get("overlap", DEFAULT_OVERLAP)),
        exact_max=int((manifest or {}).get("index", {}).get("exact_max", DEFAULT_EXACT_MAX)),
        stored=stored,
        held=held,
    )


def _expand(paths: Sequence[str | os.PathLike[str]], skipped: list[Skipped]) -> list[Path]:
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


def add_documents(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    index: str | os.PathLike[str] | None = None,
    *,
    model: str | Embedder | None = None,
    backend: str | None = None,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    max_files: int = DEFAULT_MAX_FILES,
    max_pages: int = DEFAULT_MAX_PAGES,
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
        backend: What runs the model (see :func:`qa.embedding.load_embedder`).
        max_file_mb: Files larger than this many MB (MiB) are skipped.
        max_files: More files than this in one call raise :class:`qa.IngestError`.
        max_pages: PDF pages indexed in one call at most; the PDFs past it are skipped.

    Returns:
        What was added, left unchanged and skipped.

    Raises:
        ValueError: A limit is not a number greater than 0.
        IngestError: A path does not exist, or more than ``max_files`` files.
        IndexLockedError: Another build is writing the index.
        ModelMismatchError: ``model`` is not the index's model.
        QAError: The existing index is damaged or of another format (it is never overwritten then).
    """
    _check_limit("max_file_mb", max_file_mb, float)
    _check_limit("max_files", max_files)
    _check_limit("max_pages", max_pages)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    skipped: list[Skipped] = []
    files = _expand(list(paths), skipped)
    if len(files) > max_files:
        raise IngestError(
            f"{len(files)} files given, over the limit of max_files={max_files}; add them in several calls, or raise max_files"
        )
    max_bytes = int(max_file_mb * 2**20)
    where = parse_location(index)
    if where.is_milvus:
        return _add_milvus(files, where, index is None, model, backend, max_bytes, max_file_mb, max_pages, skipped)
    target = where.path
    with build_lock(target) as held:
        try:
            manifest: dict | None = read_manifest(target)
        except IndexNotFoundError:
            manifest = None
        documents = read_documents(target, manifest) if manifest is not None else (default_documents() if index is None else [])
        stored = {name: target / STORED_FILES / name for name in (stored_files(manifest) if manifest else {})}
        kept = stored_files(manifest) if manifest else {}
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-upload-", dir=target.parent))
        try:
            added, unchanged, by_id = _vet_files(files, staging, documents, kept, stored, max_bytes, max_file_mb, max_pages, skipped)
            if added:
                order = [d.doc_id for d in documents] + [a.doc_id for a in added if a.doc_id not in {d.doc_id for d in documents}]
                _build(target, [by_id[i] for i in order], stored, manifest, _embedder(manifest, model, backend), held)
                logger.info("added %d document(s) to %s", len(added), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return AddReport(target, tuple(added), tuple(unchanged), tuple(skipped), len(by_id))


def _vet_files(
    files: list[Path],
    staging: Path,
    documents: list[Document],
    kept: dict[str, dict],
    stored: dict[str, Path],
    max_bytes: int,
    max_file_mb: float,
    max_pages: int,
    skipped: list[Skipped],
) -> tuple[list[AddedDocument], list[str], dict[str, Document]]:
    """Copy each file into ``staging``, check it and read it from the copy (the checks of :func:`add_documents`).

    Args:
        files: The files given.
        staging: Folder for the copies.
        documents: The documents of the index now.
        kept: The index's kept files (name: ``{"sha256": ...}``).
        stored: Kept files by name; the copies of the files added are put in it.
        max_bytes, max_file_mb, max_pages: The limits.
        skipped: Where the files not added are recorded, with the reason.

    Returns:
        ``(added, unchanged, documents by id afterwards)``.
    """
    by_sha = {info["sha256"]: name for name, info in kept.items()}
    by_id = {doc.doc_id: doc for doc in documents}
    by_text = {doc.sha256: doc.doc_id for doc in documents}
    added: list[AddedDocument] = []
    unchanged: list[str] = []
    names_seen: set[str] = set()
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
                if kept.get(name, {}).get("sha256") == digest:
                    unchanged.append(name)
                    continue
                if digest in by_sha and by_sha[digest] != name:
                    reason = f"same content as {by_sha[digest]!r}, already in the index"
                elif sniff(copy) == PDF:
                    from qa.pdf import page_count

                    count = page_count(copy)
                    if count > pages_left:
                        reason = (
                            f"the PDF has {count:,} pages, over the {pages_left:,} left of max_pages={max_pages:,} "
                            "in this call; add it in a separate call, or raise max_pages"
                        )
            if reason is None:
                doc = read_file(copy, name, max_bytes=max_bytes)
                doc = Document(doc.doc_id, doc.title, doc.text, f"{STORED_FILES}/{name}", doc.page_starts)
                same_text = by_text.get(doc.sha256)
                if same_text is not None and same_text != name:
                    reason = f"same text as {same_text!r}, already in the index"
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
        backend: What runs the model (see :func:`qa.embedding.load_embedder`).

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
    where = parse_location(index)
    if where.is_milvus:
        return _remove_milvus(wanted, where)
    target = where.path
    with build_lock(target) as held:
        manifest = read_manifest(target)
        documents = read_documents(target, manifest)
        known = {doc.doc_id for doc in documents}
        unknown = [d for d in wanted if d not in known]
        if unknown:
            shown = ", ".join(repr(d) for d in sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
            raise DocumentNotFoundError(
                f"no document {', '.join(map(repr, unknown))} in index {str(target)!r}; its documents are {shown} (see `qa list`)"
            )
        remaining = [doc for doc in documents if doc.doc_id not in wanted]
        if not remaining:
            raise QAError(
                f"removing {len(wanted)} document(s) would leave index {str(target)!r} empty; an index needs at least one "
                "document: remove fewer, or delete the index folder"
            )
        stored = {name: target / STORED_FILES / name for name in stored_files(manifest) if name not in wanted}
        _build(target, remaining, stored, manifest, _embedder(manifest, model, backend), held)
    logger.info("removed %d document(s) from %s", len(wanted), target)
    return RemoveReport(target, tuple(wanted), len(remaining))


def list_documents(index: str | os.PathLike[str] | None = None) -> list[IndexedDocument]:
    """The documents of an index, in index order, read from its manifest (no model, no vectors).

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: No readable index in the folder.
    """
    where = parse_location(index)
    if where.is_milvus:
        from qa.milvus_client import Connection
        from qa.milvus_store import read_documents as read_milvus_documents, read_manifest_row

        conn = Connection(where)
        try:
            read_manifest_row(conn)
            entries = read_milvus_documents(conn)
        finally:
            conn.close()
        return [
            IndexedDocument(e.document.doc_id, e.document.title, e.document.source, len(e.document.page_starts) or None, bool(e.meta.get("file")))
            for e in entries
        ]
    manifest = read_manifest(where.path)
    kept = {info["doc_id"] for info in stored_files(manifest).values()}
    return [
        IndexedDocument(d["doc_id"], d["title"], d["source"], d.get("pages"), d["doc_id"] in kept) for d in manifest["documents"]
    ]


def stored_documents(target: Path, manifest: dict) -> list[Document]:
    """The documents of a user corpus, recovered for a rebuild: its documents file, else its kept files.

    The documents file is used when it is intact (the same text as before); when
    it is not, every document must be the bundled article or have its kept copy
    in ``files/``, which is checked against its hash and read again.

    Raises:
        QAError: Some document can be recovered neither way (the index is then left as it is).
    """
    try:
        return read_documents(target, manifest)
    except QAError as exc:
        logger.warning("re-reading the kept files of %s (%s)", target, exc)
    check_stored_files(target, manifest)
    kept = {info["doc_id"]: name for name, info in stored_files(manifest).items()}
    bundled = {doc.doc_id: doc for doc in default_documents()}
    documents = []
    for info in manifest["documents"]:
        doc_id = info["doc_id"]
        if doc_id in kept:
            doc = read_file(target / STORED_FILES / kept[doc_id], doc_id)
            documents.append(Document(doc_id, doc.title, doc.text, f"{STORED_FILES}/{kept[doc_id]}", doc.page_starts))
        elif doc_id in bundled and bundled[doc_id].sha256 == info["text_sha256"]:
            documents.append(bundled[doc_id])
        else:
            raise QAError(
                f"index {str(target)!r} is damaged and its document {doc_id!r} has no kept copy to rebuild it from; "
                "rebuild it with `qa index` and `qa add`"
            )
    return documents


def _add_milvus(
    files: list[Path],
    where: Location,
    default: bool,
    model: str | Embedder | None,
    backend: str | None,
    max_bytes: int,
    max_file_mb: float,
    max_pages: int,
    skipped: list[Skipped],
) -> AddReport:
    """:func:`add_documents` into a Milvus index: the same checks; each file kept in the documents collection.

    Each added document is written under a new version and becomes visible at once when
    its head row is written (see :mod:`qa.milvus_build`); there is no lock: two writers of the
    same ``doc_id`` at once leave the one that committed last.
    """
    from qa.milvus_build import write_documents
    from qa.milvus_client import Connection
    from qa.milvus_store import read_documents as read_milvus_documents, read_manifest_row

    conn = Connection(where, create=True)
    try:
        try:
            manifest: dict | None = read_manifest_row(conn)
        except IndexNotFoundError:
            manifest = None
        entries = read_milvus_documents(conn) if manifest is not None else []
    finally:
        conn.close()
    documents = [e.document for e in entries] or (default_documents() if default and manifest is None else [])
    kept = {e.meta["file"]["name"]: {"sha256": e.meta["file"]["sha256"]} for e in entries if e.meta.get("file")}
    stored: dict[str, Path] = {}
    staging = Path(tempfile.mkdtemp(prefix="qa-upload-"))
    try:
        added, unchanged, by_id = _vet_files(files, staging, documents, kept, stored, max_bytes, max_file_mb, max_pages, skipped)
        if added:
            chunking = (manifest or {}).get("chunking", {})
            new = [by_id[a.doc_id] for a in added]
            if manifest is None:  # a new index: the bundled article first when it is the default location
                new = [d for d in documents if d.doc_id not in stored] + new
            write_documents(
                new, where, _embedder(manifest, model, backend),
                max_words=int(chunking.get("max_words", DEFAULT_MAX_WORDS)), overlap=int(chunking.get("overlap", DEFAULT_OVERLAP)),
                prune=False, kept={name: stored[name] for name in stored},
            )
            logger.info("added %d document(s) to %s", len(added), where)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AddReport(str(where), tuple(added), tuple(unchanged), tuple(skipped), len(by_id))


def _remove_milvus(wanted: list[str], where: Location) -> RemoveReport:
    """:func:`remove_documents` from a Milvus index: heads first (readers stop seeing them), then the rows."""
    from qa.milvus_build import bump_generation, delete_documents
    from qa.milvus_client import Connection
    from qa.milvus_store import read_heads_ids, read_manifest_row

    conn = Connection(where)
    try:
        read_manifest_row(conn)
        known = read_heads_ids(conn)
        unknown = [d for d in wanted if d not in known]
        if unknown:
            shown = ", ".join(repr(d) for d in sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
            raise DocumentNotFoundError(
                f"no document {', '.join(map(repr, unknown))} in index {str(where)!r}; its documents are {shown} (see `qa list`)"
            )
        remaining = [d for d in known if d not in wanted]
        if not remaining:
            raise QAError(
                f"removing {len(wanted)} document(s) would leave index {str(where)!r} empty; an index needs at least one "
                "document: remove fewer, or build it again with `qa index`"
            )
        delete_documents(conn, wanted)
        bump_generation(conn)
    finally:
        conn.close()
    logger.info("removed %d document(s) from %s", len(wanted), where)
    return RemoveReport(str(where), tuple(wanted), len(remaining))
