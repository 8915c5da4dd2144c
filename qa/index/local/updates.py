"""Add documents to a local index folder and remove them, under its build lock, incrementally and atomically.

An added file is copied into the index folder (``files/NAME``) and listed in the manifest's
``"library"``, so a restart serves the same documents and a damaged index is rebuilt from those
copies (:func:`stored_documents`).  Every update reads the old index and swaps in the new one under
one :func:`qa.index.local.build.build_lock`; only new or changed documents are embedded.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.documents.ocr import OcrRun
from qa.documents.ingest import Skipped, default_documents, read_file
from qa.errors import DocumentNotFoundError, IndexNotFoundError, QAError
from qa.index.embedding import Embedder
from qa.index.intake import AddReport, IndexedDocument, Limits, RemoveReport, embedder_for, vet_files
from qa.index.local.build import HeldLock, build_lock, write_index
from qa.index.local.manifest import STORED_FILES, check_stored_files, read_manifest, stored_files
from qa.index.local.store import read_documents
from qa.index.local.vectors import DEFAULT_EXACT_MAX
from qa.index.location import Location
from qa.types import Document

logger = logging.getLogger(__name__)


def add(
    files: list[Path],
    target: Path,
    default: bool,
    model: str | Embedder | None,
    backend: str | None,
    limits: Limits,
    skipped: list[Skipped],
    ocr: OcrRun | None = None,
) -> AddReport:
    """:func:`qa.index.updates.add_documents` into the index folder ``target`` (the bundled article first when ``default`` and new)."""
    with build_lock(target) as held:
        try:
            manifest: dict | None = read_manifest(target)
        except IndexNotFoundError:
            manifest = None
        documents = read_documents(target, manifest) if manifest is not None else (default_documents() if default else [])
        stored = {name: target / STORED_FILES / name for name in (stored_files(manifest) if manifest else {})}
        kept = stored_files(manifest) if manifest else {}
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-upload-", dir=target.parent))
        try:
            added, unchanged, by_id = vet_files(files, staging, documents, kept, stored, limits, skipped, ocr)
            if added:
                order = [d.doc_id for d in documents] + [a.doc_id for a in added if a.doc_id not in {d.doc_id for d in documents}]
                _build(target, [by_id[i] for i in order], stored, manifest, embedder_for(manifest, model, backend), held)
                logger.info("added %d document(s) to %s", len(added), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return AddReport(target, tuple(added), tuple(unchanged), tuple(skipped), len(by_id))


def remove(wanted: list[str], target: Path, model: str | Embedder | None, backend: str | None) -> RemoveReport:
    """:func:`qa.index.updates.remove_documents` from the index folder ``target``."""
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
        _build(target, remaining, stored, manifest, embedder_for(manifest, model, backend), held, replace=True)
    logger.info("removed %d document(s) from %s", len(wanted), target)
    return RemoveReport(target, tuple(wanted), len(remaining))


def listed(target: Path) -> list[IndexedDocument]:
    """The documents of the index folder ``target``, read from its manifest."""
    manifest = read_manifest(target)
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
    ocr = OcrRun(Location("local", str(target)).ocr_cache)  # scans are read from the OCR cache, not again
    bundled = {doc.doc_id: doc for doc in default_documents()}
    documents = []
    for info in manifest["documents"]:
        doc_id = info["doc_id"]
        if doc_id in kept:
            doc = read_file(target / STORED_FILES / kept[doc_id], doc_id, ocr=ocr)
            documents.append(Document(doc_id, doc.title, doc.text, f"{STORED_FILES}/{kept[doc_id]}", doc.page_starts, doc.layout))
        elif doc_id in bundled and bundled[doc_id].sha256 == info["text_sha256"]:
            documents.append(bundled[doc_id])
        else:
            raise QAError(
                f"index {str(target)!r} is damaged and its document {doc_id!r} has no kept copy to rebuild it from; "
                "rebuild it with `qa index` and `qa add`"
            )
    return documents


def _build(
    target: Path, documents: list[Document], stored: dict[str, Path], manifest: dict | None, embedder: Embedder, held: HeldLock,
    replace: bool = False,
) -> None:
    """Write ``documents`` into ``target`` with the chunking and index settings it already has (``replace``: the kept
    files not ``stored`` are removed on purpose)."""
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
        replace=replace,
    )
