"""The default local index: the bundled article, (re)built on first use, never losing a document added to it."""

from __future__ import annotations

import logging
from pathlib import Path

from qa.documents.ingest import default_documents
from qa.errors import IndexVersionError, ModelMismatchError, QAError
from qa.index.embedding import Embedder, load_embedder
from qa.index.local.build import write_index
from qa.index.local.manifest import STORED_FILES, chunking_settings, has_user_documents, outdated, read_manifest, stored_files
from qa.index.local.store import Store, load_store

logger = logging.getLogger(__name__)


def open_default(target: Path, requested: str | None, model: str | Embedder | None, backend: str | None) -> tuple[Store, Embedder | None]:
    """Load the default index folder; when it holds no index, or an index of the bundled article that is
    damaged or was built by another qa version or chunking, index the bundled article there first.

    Returns:
        The store, and the embedder it was just built with (None when nothing was built).
    """
    try:
        store = load_store(target, requested)
        reasons = outdated(store.manifest, chunking_settings()) if is_default_corpus(store.manifest) else []
        if reasons:
            raise IndexVersionError(f"the bundled article's index was built with {', '.join(reasons)}")
        return store, None
    except QAError as exc:
        embedder = rebuild_default_index(target, exc, model, backend)
        return load_store(target, requested), embedder


def is_default_corpus(manifest: dict) -> bool:
    """Whether an index holds the bundled article alone (then :func:`qa.load` may rebuild it; never one with added documents)."""
    if has_user_documents(manifest):
        return False
    docs = default_documents()
    recorded = manifest.get("documents", [])
    return [d["text_sha256"] for d in recorded] == [d.sha256 for d in docs] or (
        len(recorded) == 1 and recorded[0]["doc_id"] == docs[0].doc_id and recorded[0]["source"] == docs[0].source
    )


def rebuild_default_index(target: Path, error: QAError, model: str | Embedder | None, backend: str | None) -> Embedder:
    """Rebuild the default index folder after ``error``, never losing a document added to it.

    * No index, or the bundled article alone: the article is indexed again.
    * Documents added with :func:`qa.add_documents` (the manifest's ``"library"``):
      rebuilt from its documents file, else from the kept copies in ``files/``,
      only when it cannot be loaded as it is (damaged or stale, not merely built by another
      qa version); another model or a newer format raise ``error``.
    * Any other corpus, or an unreadable manifest beside kept files: ``error`` is raised.

    Returns:
        The embedder the index was built with.
    """
    manifest = None
    try:
        manifest = read_manifest(target)
    except QAError:
        if (target / STORED_FILES).is_dir():
            raise error from None  # its added documents cannot be listed: never rebuild them away
    if manifest is not None and not is_default_corpus(manifest):
        if not has_user_documents(manifest) or isinstance(error, (ModelMismatchError, IndexVersionError)):
            raise error
        from qa.index.local.updates import stored_documents

        bundled = default_documents()[0]
        docs = [bundled if (d.doc_id, d.source) == (bundled.doc_id, bundled.source) else d for d in stored_documents(target, manifest)]
        logger.warning("rebuilding index %s from its %d documents (%s)", target, len(docs), error)
        embedder = load_embedder(manifest["model"]["name"] if model is None else model, backend, build=True)
        kept = {name: target / STORED_FILES / name for name in stored_files(manifest)}
        write_index(docs, target, embedder, stored=kept)
        return embedder
    logger.info("building the default index in %s (%s)", target, error)
    embedder = load_embedder(model, backend, build=True)
    write_index(default_documents(), target, embedder)
    return embedder
