"""The public engine: build an index, load it, ask questions."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.answer import (
    DEFAULT_PARAMS,
    AnswerParams,
    ScoredSentence,
    confidence_of,
    make_citations,
    make_passages,
    make_query,
    score_sentences,
    select,
)
from qa.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.embedding import DEFAULT_MODEL, Embedder, canonical_model_name, check_backend, load_embedder, with_backend
from qa.errors import IndexVersionError, IngestError, ModelMismatchError, QAError
from qa.ingest import Skipped, default_documents, load_documents
from qa.decide import backs_a_span, choose, hits_to_read, nothing_relevant
from qa.extract import read_passages
from qa.lexical import tokenize
from qa.location import INDEX_ENV, Location, default_index_dir, parse_location
from qa.retrieve import check_method, retrieve
from qa.seam import IndexStore, open_store
from qa.store import (
    DEFAULT_EXACT_MAX,
    MANIFEST,
    STORED_FILES,
    Store,
    chunking_settings,
    has_user_documents,
    load_store,
    outdated,
    read_manifest,
    stored_files,
    write_index,
)
from qa.types import Answer, Candidate, Document, Passage

if TYPE_CHECKING:
    from qa.reader import Reader

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 5
MAX_QUESTION_CHARS = 2000
"""Longer questions are cut to this many characters (the model reads at most 256 tokens)."""
DEFAULT_CORPUS_TAG = "default"
RELOAD_CHECK_SECONDS = 1.0
"""A loaded :class:`QA` looks at most this often whether its index folder was rebuilt (see :meth:`QA.reload`)."""


def _check_top_k(top_k: int) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise ValueError(f"top_k must be an integer. Currently, top_k is {top_k!r}.")
    if top_k < 1:
        raise ValueError(f"top_k must be greater than 0. Currently, top_k is {top_k}.")
    return top_k


def clean_question(question: str) -> str:
    """Validate and normalise a question.

    Raises:
        ValueError: The question is not a string, or is empty or only white space.
    """
    if not isinstance(question, str):
        raise ValueError(f"question must be a string. Currently, question is {type(question).__name__}.")
    text = question.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become '?'
    text = " ".join(text.split())
    if not text:
        raise ValueError("question is empty: ask a question with at least one word")
    if len(text) > MAX_QUESTION_CHARS:
        logger.warning("question of %d characters cut to %d", len(text), MAX_QUESTION_CHARS)
        text = text[:MAX_QUESTION_CHARS]
    return text


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_index` did.

    Attributes:
        path: The index folder written, or the Milvus location string (see :mod:`qa.location`).
        documents: Number of documents indexed (by this build; a Milvus index may hold more, see ``shard``).
        passages: Number of passages indexed.
        skipped: Files passed over, with the reason.
        backend: What ran the model: ``"onnx"``, ``"onnx-int8"``, ``"torch"``, or ``"custom"`` for an :class:`Embedder` object.
        embedded_passages: Passages embedded by this build (the others' vectors were reused).
        reused_documents: Unchanged documents whose stored vectors were reused.
    """

    path: Path | str
    documents: int
    passages: int
    skipped: list[Skipped] = field(default_factory=list)
    backend: str = "custom"
    embedded_passages: int = 0
    reused_documents: int = 0


class QA:
    """A loaded index and model, ready to answer questions.

    Create one with :func:`load`.  Safe to share between threads.

    Reloading: :meth:`reload` loads the index folder again and swaps it in; and
    with ``auto_reload`` (the default) :meth:`ask` and :meth:`retrieve` look at
    most once a second (``RELOAD_CHECK_SECONDS``) whether the folder's manifest
    was replaced (a build, :func:`qa.add_documents`, :func:`qa.remove_documents`,
    in this process or another) and reload it then.  A question reads the
    index it started with from start to end, so questions in flight during a
    reload finish on the old index.

    Args:
        store: The loaded index.
        embedder: The model the index was built with.
        top_k: Default number of passages retrieved per question.
        retrieval: Default retrieval method: ``"hybrid"``, ``"dense"`` or ``"bm25"``.
        params: Sentence scoring and abstention weights.
        reader: The answer reader (:class:`qa.reader.Reader`); None answers with the sentence scorer alone.
        read_depth: Retrieved passages the reader reads per question (the rest are only shown as
            evidence); None uses the depth fitted with the reader's calibration.
        auto_reload: Reload the index when its folder was rebuilt (checked at most once a second).
    """

    def __init__(
        self,
        store: IndexStore,
        embedder: Embedder,
        top_k: int = DEFAULT_TOP_K,
        retrieval: str = "hybrid",
        params: AnswerParams = DEFAULT_PARAMS,
        reader: Reader | None = None,
        read_depth: int | None = None,
        auto_reload: bool = True,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = _check_top_k(top_k)
        self.retrieval = check_method(retrieval)
        self.params = params
        self.reader = reader
        if read_depth is None:
            read_depth = reader.read_depth if reader is not None else 1
        if isinstance(read_depth, bool) or not isinstance(read_depth, int) or read_depth < 1:
            raise ValueError(f"read_depth must be an integer greater than 0. Currently, read_depth is {read_depth!r}.")
        self.read_depth = read_depth
        self.auto_reload = auto_reload
        self._reload_lock = threading.Lock()
        self._stamp = store.stamp()
        self._checked = time.monotonic()

    def reload(self) -> bool:
        """Load the index folder again and swap it in (thread-safe; questions in flight finish on the old index).

        Returns:
            True when the folder held another build than the one loaded.

        Raises:
            QAError: The folder holds no loadable index now, or one built with another
                model (the engine keeps answering from the index it had).
        """
        with self._reload_lock:
            return self._reload()

    def _reload(self) -> bool:
        stamp = self.store.stamp()
        store = open_store(self.store.location, self.embedder.name)
        if store.manifest["model"]["dimension"] != self.embedder.dimension:
            raise ModelMismatchError(
                f"index {str(store.path)!r} now has {store.manifest['model']['dimension']} dimensions, not "
                f"{self.embedder.dimension}; load it again with qa.load()"
            )
        changed = store.manifest != self.store.manifest
        self.store, self._stamp = store, stamp
        if changed:
            logger.info("reloaded index %s (built %s)", store.path, store.manifest.get("built_at"))
        return changed

    def _current_store(self) -> IndexStore:
        """The store to answer from: reloaded first when the folder's manifest was replaced (checked once a second)."""
        now = time.monotonic()
        if not self.auto_reload or now - self._checked < RELOAD_CHECK_SECONDS:
            return self.store
        self._checked = now
        stamp = self.store.stamp()
        if stamp is not None and stamp != self._stamp and self._reload_lock.acquire(blocking=False):
            try:
                self._reload()
            except QAError as exc:
                logger.warning("keeping the loaded index: cannot reload %s (%s)", self.store.path, exc)
            finally:
                self._reload_lock.release()
        return self.store

    @property
    def documents(self) -> list[Document]:
        """The indexed documents, in index order."""
        return list(self.store.documents.values())

    @property
    def info(self) -> dict:
        """What is indexed: documents, passages, model, index type, build time, folder, and the backend running the model."""
        manifest = self.store.manifest
        return {
            "path": str(self.store.path),
            "documents": [{"doc_id": d.doc_id, "title": d.title} for d in self.documents],
            "passages": manifest["counts"]["passages"],
            "sentences": manifest["counts"]["sentences"],
            "model": manifest["model"]["name"],
            "dimension": manifest["model"]["dimension"],
            "index": manifest["index"]["type"],
            "built_at": manifest["built_at"],
            "backend": getattr(self.embedder, "backend", "custom"),
        }

    def document(self, doc_id: str) -> Document:
        """The indexed document with this id.

        Raises:
            KeyError: No such document.
        """
        try:
            return self.store.documents[doc_id]
        except KeyError:
            raise KeyError(f"no document with doc_id {doc_id!r} in this index") from None

    def _encode(self, question: str) -> np.ndarray:
        return self.embedder.encode([question])[0]

    def retrieve(self, question: str, top_k: int = DEFAULT_TOP_K, retrieval: str | None = None) -> list[Passage]:
        """The passages that best match a question.

        Args:
            question: The question.
            top_k: Passages to return.
            retrieval: Method; None uses the engine's default.

        Returns:
            Passages, best first.

        Raises:
            ValueError: Empty question, ``top_k`` < 1, or unknown method.
        """
        text = clean_question(question)
        store = self._current_store()
        hits = retrieve(store, self._encode(text), tokenize(text), _check_top_k(top_k), check_method(retrieval or self.retrieval))
        return make_passages(store, hits)

    def ask(self, question: str, top_k: int | None = None, retrieval: str | None = None) -> Answer:
        """Answer a question with sentences taken verbatim from the documents, or abstain.

        Args:
            question: The question.
            top_k: Passages retrieved as evidence; None uses the engine's default.
            retrieval: Method; None uses the engine's default.

        Returns:
            The answer, with citations and evidence passages (or related passages when abstained).

        Raises:
            ValueError: Empty question, ``top_k`` < 1, or unknown method.
        """
        text = clean_question(question)
        k = _check_top_k(self.top_k if top_k is None else top_k)
        method = check_method(retrieval or self.retrieval)
        store = self._current_store()  # one index for the whole question, even if another is swapped in meanwhile
        query = make_query(store, text, self.embedder.encode)
        hits = retrieve(store, query.vector, query.tokens, k, method)
        scored = score_sentences(store, hits, query, self.params)
        passages = make_passages(store, hits)
        phrase = None
        if self.reader is not None:
            decision = self.reader.decision
            reads = read_passages(store, self.reader, text, hits_to_read(hits, scored, self.read_depth),
                                    scored[0].sentence if scored else -1)
            if nothing_relevant(scored, reads, self.params.threshold):
                return Answer(question, "", True, 0.0, [], passages)
            choice = choose(decision, scored, reads, verifier_for(self.reader, store, text))
            if choice is None:
                return Answer(question, "", True, 0.0, [], passages)
            confidence = round(choice.confidence, 4)
            by_id = {s.sentence: s for s in scored}
            picked = by_id.get(choice.sentence, ScoredSentence(choice.sentence, choice.passage, choice.rank, 0.0, 0.0, -10.0))
            if confidence < decision.threshold:
                candidate = None
                if choice.phrase is not None and backs_a_span(reads):
                    cited = make_citations(store, [picked])[0]
                    candidate = Candidate(cited.quote, cited, choice.phrase, confidence)
                return Answer(question, "", True, confidence, [], passages, None, candidate)
            chosen = [picked]
            phrase = choice.phrase
        else:
            best = scored[0] if scored else None
            confidence = round(confidence_of(best, self.params), 4)
            if best is None or confidence < self.params.threshold:
                return Answer(question, "", True, confidence, [], passages)
            chosen = select(scored, self.params)
        if not chosen:
            return Answer(question, "", True, confidence, [], passages)
        citations = make_citations(store, chosen)
        used = {c.passage_id for c in citations}
        evidence = [p for p in passages if p.passage_id in used] + [p for p in passages if p.passage_id not in used]
        return Answer(question, " ".join(c.quote for c in citations), False, confidence, citations, evidence, phrase)


def verifier_for(reader: Reader, store: Store, question: str) -> Callable[[Sequence[int]], list[float]] | None:
    """The reader's verifier as a map from sentence indices to logits (None when the reader has none)."""
    if not reader.has_verifier:
        return None

    def verify(sentences: Sequence[int]) -> list[float]:
        texts = []
        for sid in sentences:
            s = store.sentences[sid]
            texts.append(store.documents[s.doc_id].text[s.start : s.end])
        return reader.verify(question, texts)

    return verify


def build_index(
    inputs: Sequence[str | os.PathLike[str] | Document],
    path: str | os.PathLike[str] | None = None,
    model: str | Embedder | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
    exact_max: int = DEFAULT_EXACT_MAX,
    backend: str | None = None,
    incremental: bool = True,
    dense_index: str = "HNSW",
    shard: str | tuple[int, int] | None = None,
) -> BuildReport:
    """Read documents, embed them and write an index folder (atomically), or a Milvus index.

    When ``path`` already holds an index built with the same model, chunking
    settings and qa version, only new or changed documents (by content hash) are
    embedded; the stored vectors of the others are reused (``incremental=False``
    embeds everything).  The index is the same either way (bit for bit with a
    deterministic embedder; a transformer's vectors can differ in the last float
    bits with the batch a text was encoded in).

    Args:
        inputs: Files, folders (recursive) and/or :class:`Document` objects.
        path: Index location (see :mod:`qa.location`): a folder, a Milvus Lite ``.db`` path, or
            ``http(s)://host:port`` of a Milvus server, each Milvus one optionally ``#COLLECTION``;
            None means :func:`default_index_dir`.  A Milvus index is written document by document
            (see :mod:`qa.milvus_build`): unchanged documents are kept, the others replaced, and
            documents not among ``inputs`` removed.
        model: Model name or folder, an :class:`Embedder`, or None for the bundled default.
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.
        exact_max: Largest passage count that gets an exact FAISS index (IVF-SQ8 above; see
            :func:`qa.store.make_vector_index`).
        backend: What runs the model (see :func:`qa.embedding.load_embedder`): None or
            ``"auto"`` (ONNX Runtime when possible, else torch), ``"torch"``, ``"onnx"``
            or ``"onnx-int8"`` (recorded as model ``NAME#int8``).  Ignored for an :class:`Embedder`.
        incremental: Reuse the vectors of unchanged documents from the index in ``path``.
        dense_index: Dense index type of a new Milvus index: ``"HNSW"``, ``"IVF_SQ8"`` or ``"FLAT"``.
        shard: ``"I/N"`` or ``(I, N)``: index only this worker's share of the files (every N-th,
            from the I-th) into a Milvus index, keeping the other workers' documents; N workers
            given the same inputs build the index one build would (see :func:`qa.milvus_build.read_shard`).

    Returns:
        What was indexed, embedded and skipped.

    Raises:
        IngestError: Nothing usable was found in ``inputs``.
        IndexLockedError: Another build is writing ``path``.
    """
    if isinstance(inputs, (str, os.PathLike, Document)):
        inputs = [inputs]
    if max_words < 1:
        raise ValueError(f"max_words must be greater than 0. Currently, max_words is {max_words}.")
    if overlap < 0:
        raise ValueError(f"overlap must be 0 or more. Currently, overlap is {overlap}.")
    check_backend(backend)
    where = parse_location(path)
    orders = None
    if where.is_milvus:
        from qa.milvus_build import check_dense_index, parse_shard, read_shard

        check_dense_index(dense_index)
        if shard is not None:
            report, orders = read_shard(list(inputs), parse_shard(shard))
    elif shard is not None:
        raise ValueError(
            f"shard needs a Milvus location (a .db path or http://host:port), not the folder {str(where)!r}: "
            "workers of a sharded build write one Milvus collection"
        )
    if orders is None:
        report = load_documents(list(inputs))
    if not report.documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped[:5]) or "no .txt, .md, .html, .pdf or .docx files found"
        raise IngestError(f"nothing to index ({reasons}); pass files or folders of .txt, .md, .html, .pdf or .docx documents")
    embedder = load_embedder(model, backend)
    if where.is_milvus:
        from qa.milvus_build import write_documents

        written = write_documents(
            report.documents, where, embedder, max_words, overlap, orders=orders, prune=shard is None, dense_index=dense_index
        )
        return BuildReport(
            str(where), len(report.documents), written.passages, report.skipped, getattr(embedder, "backend", "custom"),
            embedded_passages=written.embedded_passages, reused_documents=len(written.unchanged),
        )
    target = where.path
    write_index(report.documents, target, embedder, max_words, overlap, exact_max, reuse=incremental)
    manifest = read_manifest(target)
    build = manifest.get("build", {})
    return BuildReport(
        target, len(report.documents), manifest["counts"]["passages"], report.skipped, getattr(embedder, "backend", "custom"),
        embedded_passages=int(build.get("embedded", {}).get("passages", manifest["counts"]["passages"])),
        reused_documents=int(build.get("reused_documents", 0)),
    )


def _manifest_stamp(folder: Path) -> tuple[int, int, int] | None:
    """Identity of the manifest file now in ``folder`` (a build swaps in a new one); None when there is none."""
    try:
        stat = (folder / MANIFEST).stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _is_default_corpus(manifest: dict) -> bool:
    """Whether an index holds the bundled article alone (then :func:`load` may rebuild it; never one with added documents)."""
    if has_user_documents(manifest):
        return False
    docs = default_documents()
    recorded = manifest.get("documents", [])
    return [d["text_sha256"] for d in recorded] == [d.sha256 for d in docs] or (
        len(recorded) == 1 and recorded[0]["doc_id"] == docs[0].doc_id and recorded[0]["source"] == docs[0].source
    )


def load(
    path: str | os.PathLike[str] | None = None,
    model: str | Embedder | None = None,
    top_k: int = DEFAULT_TOP_K,
    retrieval: str = "hybrid",
    backend: str | None = None,
    reader: bool | str | os.PathLike[str] = True,
    read_depth: int | None = None,
) -> QA:
    """Load an index and its model.

    With no ``path``, the default folder (``$QA_INDEX_DIR`` or ``./index``) is
    used; when it holds no index, or an index of the bundled article that is
    damaged or was built by another qa version or chunking, the bundled article
    is (re)indexed there first.

    Args:
        path: Index folder made by :func:`build_index` or ``qa index``.
        model: Model to query with; None uses the index's own model.  A
            different model than the index's raises :class:`qa.ModelMismatchError`.
        top_k: Default passages retrieved per question.
        retrieval: Default retrieval method.
        backend: What runs the model (see :func:`qa.embedding.load_embedder`); None or
            ``"auto"`` uses ONNX Runtime when possible (no torch import), else torch.
            ``"onnx-int8"`` is a different model identity (``NAME#int8``): it needs an
            index built with it.  Ignored when ``model`` is an :class:`Embedder`.
        reader: True (the default) reads the retrieved passages with the shipped answer reader
            (``qa/models/reader``); a folder path uses another reader folder; False answers with
            the sentence scorer alone (the engine of qa 0.2, kept for comparison and as a fallback).
        read_depth: Retrieved passages the reader reads per question; None uses the reader's fitted depth.

    Returns:
        The engine.

    Raises:
        QAError: The index is missing, damaged, stale or built with another model.
    """
    _check_top_k(top_k)
    check_method(retrieval)
    check_backend(backend)
    answer_reader = _load_reader(reader)
    requested = model if isinstance(model, str) or model is None else model.name
    embedder = None if isinstance(model, str) or model is None else model
    if embedder is None and backend == "onnx-int8" and (requested is not None or path is None):
        requested = with_backend(requested or DEFAULT_MODEL, backend)
    where = parse_location(path)
    if where.is_milvus:
        store = _open_milvus(where, requested, path is None, model, backend)
    elif path is None:
        target = where.path
        try:
            store = load_store(target, requested)
            reasons = outdated(store.manifest, chunking_settings()) if _is_default_corpus(store.manifest) else []
            if reasons:
                raise IndexVersionError(f"the bundled article's index was built with {', '.join(reasons)}")
        except QAError as exc:
            embedder = _rebuild_default_index(target, exc, model, backend)
            store = load_store(target, requested)
    else:
        store = load_store(where.path, requested)
    if embedder is None:
        embedder = load_embedder(store.model if model is None else model, backend)
    if canonical_model_name(embedder.name) != store.model or embedder.dimension != store.manifest["model"]["dimension"]:
        raise ModelMismatchError(
            f"model {embedder.name!r} ({embedder.dimension} dimensions) does not match the index's "
            f"{store.model!r} ({store.manifest['model']['dimension']}); rebuild the index with that model"
        )
    return QA(store, embedder, top_k=top_k, retrieval=retrieval, reader=answer_reader, read_depth=read_depth)


def _open_milvus(where: Location, requested: str | None, default: bool, model: str | Embedder | None, backend: str | None) -> IndexStore:
    """Open a Milvus index; the default location (``$QA_INDEX_DIR``) without one gets the bundled article first."""
    from qa.errors import IndexNotFoundError

    try:
        return open_store(where, requested)
    except IndexNotFoundError as exc:
        if not default:
            raise
        logger.info("building the default index in %s (%s)", where, exc)
        from qa.milvus_build import write_documents

        write_documents(default_documents(), where, load_embedder(model, backend))
        return open_store(where, requested)


def _rebuild_default_index(target: Path, error: QAError, model: str | Embedder | None, backend: str | None) -> Embedder:
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
    if manifest is not None and not _is_default_corpus(manifest):
        if not has_user_documents(manifest) or isinstance(error, (ModelMismatchError, IndexVersionError)):
            raise error
        from qa.library import stored_documents

        bundled = default_documents()[0]
        docs = [bundled if (d.doc_id, d.source) == (bundled.doc_id, bundled.source) else d for d in stored_documents(target, manifest)]
        logger.warning("rebuilding index %s from its %d documents (%s)", target, len(docs), error)
        embedder = load_embedder(manifest["model"]["name"] if model is None else model, backend)
        kept = {name: target / STORED_FILES / name for name in stored_files(manifest)}
        write_index(docs, target, embedder, stored=kept)
        return embedder
    logger.info("building the default index in %s (%s)", target, error)
    embedder = load_embedder(model, backend)
    write_index(default_documents(), target, embedder)
    return embedder


def _load_reader(reader: bool | str | os.PathLike[str]) -> Reader | None:
    """The reader asked for by :func:`load`'s ``reader`` argument.

    Raises:
        ValueError: ``reader`` is not a bool or a path.
        ModelLoadError: The reader folder is missing or does not match its card.
    """
    if reader is False:
        return None
    from qa.reader import Reader

    if reader is True:
        return Reader()
    if isinstance(reader, (str, os.PathLike)):
        return Reader(Path(reader))
    raise ValueError(f"reader must be True, False or a reader folder. Currently, reader is {reader!r}.")
