"""Add documents to a Milvus index and remove them: the same checks as a local index, each file kept in the documents collection."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.documents.ocr import OcrRun
from qa.documents.ingest import Skipped, default_documents
from qa.errors import DocumentNotFoundError, IndexNotFoundError, QAError
from qa.index.embedding import Embedder
from qa.index.intake import AddReport, IndexedDocument, Limits, RemoveReport, embedder_for, vet_files
from qa.index.location import Location
from qa.index.milvus.build import bump_generation, delete_documents, write_documents
from qa.index.milvus.client import Connection
from qa.index.milvus.store import read_documents as read_milvus_documents
from qa.index.milvus.store import read_heads_ids, read_manifest_row

logger = logging.getLogger(__name__)

STAGING_PREFIX = "qa-milvus-add-"
"""Prefix of the temporary folder (in the system's temp folder) where an update to Milvus checks its files,
followed by the process id: ``qa-milvus-add-PID-XXXX``."""


def remove_stale_staging(folder: Path | None = None) -> list[Path]:
    """Delete the staging folders of Milvus updates whose process is gone (killed: it could not clean up).

    Returns:
        The folders deleted.
    """
    removed = []
    for path in sorted(Path(folder or tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*")):
        pid = path.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)) or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        logger.warning("removed %d staging folder(s) of killed updates: %s", len(removed), ", ".join(p.name for p in removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def add(
    files: list[Path],
    where: Location,
    default: bool,
    model: str | Embedder | None,
    backend: str | None,
    limits: Limits,
    skipped: list[Skipped],
    ocr: OcrRun | None = None,
) -> AddReport:
    """:func:`qa.index.updates.add_documents` into a Milvus index: the same checks; each file kept in the documents collection.

    Each added document is written under a new version and becomes visible at once when
    its head row is written (see :mod:`qa.index.milvus.build`); there is no lock: two writers of the
    same ``doc_id`` at once leave the one that committed last.
    """
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
    remove_stale_staging()
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-"))
    try:
        added, unchanged, by_id = vet_files(files, staging, documents, kept, stored, limits, skipped, ocr)
        if added:
            chunking = (manifest or {}).get("chunking", {})
            new = [by_id[a.doc_id] for a in added]
            if manifest is None:  # a new index: the bundled article first when it is the default location
                new = [d for d in documents if d.doc_id not in stored] + new
            write_documents(
                new, where, embedder_for(manifest, model, backend),
                max_words=int(chunking.get("max_words", DEFAULT_MAX_WORDS)), overlap=int(chunking.get("overlap", DEFAULT_OVERLAP)),
                prune=False, kept={name: stored[name] for name in stored},
            )
            logger.info("added %d document(s) to %s", len(added), where)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AddReport(str(where), tuple(added), tuple(unchanged), tuple(skipped), len(by_id))


def remove(wanted: list[str], where: Location) -> RemoveReport:
    """:func:`qa.index.updates.remove_documents` from a Milvus index: heads first (readers stop seeing them), then the rows."""
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


def listed(where: Location) -> list[IndexedDocument]:
    """The documents of a Milvus index, read from its documents collection (no vectors)."""
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
