"""The one place that chooses an index's backend from its location: a local folder or Milvus.

The location string is parsed by :func:`qa.index.location.parse_location`; the functions
here open or describe the index with the backend it names (see :mod:`qa.index.store` for the
contract both backends meet).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.documents.ocr import DEFAULT_BUDGET_S, OcrRun
from qa.documents.ingest import IngestReport, Skipped, default_documents, load_documents
from qa.types import Document
from qa.index.embedding import Embedder
from qa.index.intake import AddReport, IndexedDocument, Limits, RemoveReport
from qa.index.location import Location, parse_location
from qa.index.store import IndexStore

logger = logging.getLogger(__name__)


def open_store(location: str | os.PathLike[str] | Location | None, model: str | None = None) -> IndexStore:
    """Load the index at a location: a local folder, Milvus Lite (``.db``) or a Milvus server (``http(s)://``).

    Args:
        location: See :func:`qa.index.location.parse_location` (None: the default folder).
        model: Model the caller will query with; None accepts the index's own.

    Raises:
        QAError: The index is missing, damaged, of another version or model, or the server cannot be reached.
    """
    where = parse_location(location)
    if where.is_milvus:
        from qa.index.milvus.store import load_milvus_store

        return load_milvus_store(where, model)
    from qa.index.local.build import clean_leftovers
    from qa.index.local.store import load_store

    clean_leftovers(where.path)
    return load_store(where.path, model)


def read_index_manifest(location: str | os.PathLike[str] | Location | None) -> dict:
    """The manifest of the index at a location (a folder's ``manifest.json`` or Milvus' manifest row), without its model.

    Raises:
        QAError: No readable index there, or the server cannot be reached.
    """
    where = parse_location(location)
    if where.is_milvus:
        from qa.index.milvus.store import load_milvus_store

        return load_milvus_store(where).manifest
    from qa.index.local.manifest import read_manifest

    return read_manifest(where.path)


def add_files(
    where: Location,
    default: bool,
    files: list[Path],
    model: str | Embedder | None,
    backend: str | None,
    limits: Limits,
    skipped: list[Skipped],
) -> AddReport:
    """Add checked files to the index at ``where`` (see :func:`qa.index.updates.add_documents`)."""
    ocr = OcrRun(where.ocr_cache, limits.ocr_budget_s)
    if where.is_milvus:
        from qa.index.milvus import updates as milvus_updates

        return milvus_updates.add(files, where, default, model, backend, limits, skipped, ocr)
    from qa.index.local import updates as local_updates

    return local_updates.add(files, where.path, default, model, backend, limits, skipped, ocr)


def remove_ids(where: Location, wanted: list[str], model: str | Embedder | None, backend: str | None) -> RemoveReport:
    """Remove documents from the index at ``where`` (see :func:`qa.index.updates.remove_documents`)."""
    if where.is_milvus:
        from qa.index.milvus import updates as milvus_updates

        return milvus_updates.remove(wanted, where)
    from qa.index.local import updates as local_updates

    return local_updates.remove(wanted, where.path, model, backend)


def indexed_documents(where: Location) -> list[IndexedDocument]:
    """The documents of the index at ``where``, in index order (see :func:`qa.index.updates.list_documents`)."""
    if where.is_milvus:
        from qa.index.milvus import updates as milvus_updates

        return milvus_updates.listed(where)
    from qa.index.local import updates as local_updates

    return local_updates.listed(where.path)


def open_default(where: Location, requested: str | None, model: str | Embedder | None, backend: str | None) -> tuple[IndexStore, Embedder | None]:
    """Open the default index (``$QA_INDEX_DIR`` or ``./index``), indexing the bundled article there first when needed.

    Returns:
        The store, and the embedder it was just built with (None when nothing was built).
    """
    if not where.is_milvus:
        from qa.index.local.build import clean_leftovers
        from qa.index.local.default_index import open_default as open_default_folder

        clean_leftovers(where.path)
        return open_default_folder(where.path, requested, model, backend)
    from qa.errors import IndexNotFoundError

    try:
        return open_store(where, requested), None
    except IndexNotFoundError as exc:
        logger.info("building the default index in %s (%s)", where, exc)
        from qa.index.embedding import load_embedder
        from qa.index.milvus.build import write_documents

        embedder = load_embedder(model, backend, build=True)
        write_documents(default_documents(), where, embedder)
        return open_store(where, requested), embedder


def read_inputs(
    inputs: Sequence[str | os.PathLike[str] | Document],
    where: Location,
    shard: str | tuple[int, int] | None,
    dense_index: str,
    ocr_budget_s: float = DEFAULT_BUDGET_S,
) -> tuple[IngestReport, list | None]:
    """Read a build's inputs: all of them, or one worker's share (``shard``, Milvus only).

    Returns:
        What was read and skipped, and the documents' order in the whole set of inputs (None without a shard).

    Raises:
        ValueError: ``shard`` for a local folder, or an unknown ``dense_index``.
    """
    if where.is_milvus:
        from qa.index.milvus.build import check_dense_index, parse_shard, read_shard

        check_dense_index(dense_index)
        if shard is not None:
            return read_shard(list(inputs), parse_shard(shard), OcrRun(where.ocr_cache, ocr_budget_s))
    elif shard is not None:
        raise ValueError(
            f"shard needs a Milvus location (a .db path or http://host:port), not the folder {str(where)!r}: "
            "workers of a sharded build write one Milvus collection"
        )
    return load_documents(list(inputs), ocr_cache=where.ocr_cache, ocr_budget_s=ocr_budget_s), None


def check_build(where: Location, replace: bool, prune: bool = True) -> list[str]:
    """Before a build reads anything: refuse it when it would remove documents added to the index at ``where``
    (unless ``replace``) or write over a folder that is not an index.  The write checks again (under the lock).

    Args:
        where: The index location.
        replace: Remove the added documents.
        prune: The build replaces the whole index (False: a shard of a Milvus build, checked by the write).

    Returns:
        The added documents the build will remove (empty unless ``replace``).

    Raises:
        ReplaceRefusedError: See :func:`qa.index.local.folder.check_replace`.
    """
    if not where.is_milvus:
        from qa.index.local.folder import check_replace

        lost = check_replace(where.path, (), replace)
    elif not prune or (where.kind == "lite" and not where.path.exists()):
        lost = []
    else:
        lost = _milvus_added(where, replace)
    if lost:
        logger.warning("replacing index %s: removing %d added document(s) and their kept copies: %s", where, len(lost), ", ".join(lost))
    return lost


def _milvus_added(where: Location, replace: bool) -> list[str]:
    """:func:`check_build` of a Milvus index."""
    from qa.errors import QAError
    from qa.index.local.folder import refuse_losing
    from qa.index.milvus.build import added_ids, read_heads
    from qa.index.milvus.client import Connection
    from qa.index.milvus.store import read_manifest_row

    try:
        conn = Connection(where)
        try:
            read_manifest_row(conn)
            added = added_ids(conn, read_heads(conn))
        finally:
            conn.close()
    except QAError as exc:  # no index yet, or one the write will report on
        logger.info("no added documents found in %s (%s)", where, exc)
        return []
    return refuse_losing(str(where), sorted(added), replace)


@dataclass(frozen=True)
class Written:
    """What a build wrote.

    Attributes:
        location: The index folder, or the Milvus location string.
        passages: Passages in the documents written.
        embedded_passages: Passages embedded by this build (the others' vectors were reused).
        reused_documents: Unchanged documents whose stored vectors were reused.
    """

    location: Path | str
    passages: int
    embedded_passages: int
    reused_documents: int


def write(
    documents: list[Document],
    where: Location,
    embedder: Embedder,
    max_words: int,
    overlap: int,
    exact_max: int,
    incremental: bool = True,
    dense_index: str = "HNSW",
    orders: list | None = None,
    prune: bool = True,
    replace: bool = False,
) -> Written:
    """Write documents into the index at ``where``: a local folder atomically, Milvus document by document.

    Raises:
        ReplaceRefusedError: The write would remove documents added to the index, without ``replace``.
    """
    if where.is_milvus:
        from qa.index.milvus.build import write_documents

        written = write_documents(
            documents, where, embedder, max_words, overlap, orders=orders, prune=prune, dense_index=dense_index, replace=replace
        )
        return Written(str(where), written.passages, written.embedded_passages, len(written.unchanged))
    from qa.index.local.build import write_index
    from qa.index.local.manifest import read_manifest

    write_index(documents, where.path, embedder, max_words, overlap, exact_max, reuse=incremental, replace=replace)
    manifest = read_manifest(where.path)
    build = manifest.get("build", {})
    passages = manifest["counts"]["passages"]
    return Written(where.path, passages, int(build.get("embedded", {}).get("passages", passages)), int(build.get("reused_documents", 0)))


_VERIFIED: dict[tuple[str, int, int], str] = {}
"""Files whose SHA-256 was checked: (path, size, mtime_ns) → the digest found (so a page view hashes a file once)."""


def original_file(store: IndexStore, doc: Document) -> Path | bytes:
    """The file a document was read from, checked against the SHA-256 recorded when it was indexed.

    For a file added with :func:`qa.add_documents`, its copy kept with the index (``files/NAME`` of a
    folder, or its rows in Milvus); otherwise :attr:`Document.source`.  Only paths recorded in the
    index are opened, never one given by a caller.

    Returns:
        The file's path (a local file), or its bytes (a copy kept in Milvus).

    Raises:
        QAError: No file was recorded (a document given as text), or it is gone or changed.
    """
    from qa.errors import QAError
    from qa.files import file_sha256
    from qa.index.local.manifest import stored_files

    kept = {info.get("doc_id"): (name, info) for name, info in stored_files(store.manifest).items() if isinstance(info, dict)}
    where = parse_location(store.location)
    if doc.doc_id in kept:
        name, info = kept[doc.doc_id]
        expected = str(info.get("sha256", ""))
        if where.is_milvus:
            data = _milvus_kept_file(store, doc.doc_id)
            import hashlib

            if data is None or hashlib.sha256(data).hexdigest() != expected:
                raise QAError(f"the copy of {name!r} kept in index {str(where)!r} is missing or damaged; add the file again")
            return data
        path = where.path / "files" / name
        label = f"the copy of {name!r} kept in index {str(where)!r}"
    else:
        info = next((d for d in store.manifest.get("documents", []) if isinstance(d, dict) and d.get("doc_id") == doc.doc_id), {})
        expected = str(info.get("file_sha256", ""))
        if not expected or doc.source.startswith("<"):
            raise QAError(f"{doc.doc_id!r} was not read from a file the index recorded, so its pages cannot be shown; add the file with `qa add`")
        path = Path(doc.source)
        label = f"the file {doc.source!r} that {doc.doc_id!r} was read from"
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        digest = _VERIFIED.get(key) or file_sha256(path)
    except OSError:
        raise QAError(f"{label} is gone, so its page cannot be shown; put it back, or add the document again") from None
    if digest != expected:
        raise QAError(f"{label} has changed since it was indexed, so its page is not shown (it would not be the page quoted); add it again")
    if len(_VERIFIED) > 256:
        _VERIFIED.clear()
    _VERIFIED[key] = digest
    return path


def _milvus_kept_file(store: IndexStore, doc_id: str) -> bytes | None:
    """The bytes of a document's copy kept in Milvus (None when its rows are incomplete)."""
    from qa.index.milvus.build import read_heads, read_kept_file
    from qa.index.milvus.client import quote

    conn = getattr(store, "conn", None)
    if conn is None:
        return None
    head = read_heads(conn).get(doc_id)
    if head is None:
        return None
    rows = conn.call("query", conn.names["documents"], filter=f'doc_id == {quote(doc_id)} and version == {quote(head["version"])} and kind == "file"', output_fields=["chunk"])
    try:
        return read_kept_file(conn, doc_id, head["version"], len(rows))  # type: ignore[arg-type]
    except (KeyError, ValueError):
        return None
