"""The public engine: build an index, load it, ask questions."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.answering.answers import answer, answer_in_conversation, make_passages
from qa.answering.conversation import resolve, turns_of
from qa.answering.decision import DecisionModel, decision_of
from qa.answering.sentences import DEFAULT_PARAMS, AnswerParams, make_query
from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.documents.ocr import DEFAULT_BUDGET_S
from qa.documents.ingest import Skipped
from qa.documents.lexical import tokenize
from qa.errors import IngestError, ModelMismatchError, QAError
from qa.index.backend import open_default, open_store, read_inputs, write
from qa.index.embedding import DEFAULT_MODEL, Embedder, canonical_model_name, check_backend, load_embedder, with_backend
from qa.index.local.vectors import DEFAULT_EXACT_MAX
from qa.index.location import parse_location
from qa.index.store import IndexStore, check_method
from qa.types import Answer, Document, Passage

if TYPE_CHECKING:
    from qa.answering.reader import Reader

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 5
MAX_QUESTION_CHARS = 2000
"""Longer questions are cut to this many characters (the model reads at most 256 tokens)."""
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
        path: The index folder written, or the Milvus location string (see :mod:`qa.index.location`).
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
        reader: The answer reader (:class:`qa.answering.reader.Reader`); None answers with the sentence scorer alone.
            Its fitted decision (:func:`qa.answering.decision.decision_of`) is the engine's ``decision``.
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
        self.decision: DecisionModel | None = decision_of(reader) if reader is not None else None
        """The answer decision fitted with the reader (None without one)."""
        if read_depth is None:
            read_depth = self.decision.depth if self.decision is not None else 1
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
        hits = store.search(self._encode(text), tokenize(text), _check_top_k(top_k), check_method(retrieval or self.retrieval))
        return make_passages(store, hits)

    def ask(
        self, question: str, top_k: int | None = None, retrieval: str | None = None, history: Sequence[object] | None = None
    ) -> Answer:
        """Answer a question with sentences taken verbatim from the documents, or abstain.

        Args:
            question: The question.
            top_k: Passages retrieved as evidence; None uses the engine's default.
            retrieval: Method; None uses the engine's default.
            history: The earlier turns of this conversation, oldest first: each a :class:`qa.Answer`
                as returned before, or a ``(question, answer_text)`` pair.  Only the last
                ``MAX_TURNS`` (3) count.  A question that depends on them ("and who is building it?")
                is searched with the earlier questions' topic words, in the documents the earlier
                answers cited (see :mod:`qa.answering.conversation`); the answer's ``follow_up`` says
                what was used.  None or ``[]`` answers the question on its own.

        Returns:
            The answer, with citations and evidence passages (or related passages when abstained).

        Raises:
            ValueError: Empty question, ``top_k`` < 1, unknown method, or a bad ``history`` item (named).
        """
        text = clean_question(question)
        k = _check_top_k(self.top_k if top_k is None else top_k)
        method = check_method(retrieval or self.retrieval)
        turns = turns_of(history)
        store = self._current_store()  # one index for the whole question, even if another is swapped in meanwhile
        resolution = resolve(store, text, turns) if turns else None
        if resolution is None:
            query = make_query(store, text, self.embedder.encode)
            hits = store.search(query.vector, query.tokens, k, method)
            return answer(store, question, query, hits, self.params, self.reader, self.decision, self.read_depth)
        return answer_in_conversation(
            store, question, text, resolution, self.embedder.encode, k, method, self.params, self.reader, self.decision, self.read_depth
        )

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
    ocr_budget_s: float = DEFAULT_BUDGET_S,
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
        path: Index location (see :mod:`qa.index.location`): a folder, a Milvus Lite ``.db`` path, or
            ``http(s)://host:port`` of a Milvus server, each Milvus one optionally ``#COLLECTION``;
            None means :func:`default_index_dir`.  A Milvus index is written document by document
            (see :mod:`qa.index.milvus.build`): unchanged documents are kept, the others replaced, and
            documents not among ``inputs`` removed.
        model: Model name or folder, an :class:`Embedder`, or None for the bundled default.
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.
        exact_max: Largest passage count that gets an exact FAISS index (IVF-SQ8 above; see
            :func:`qa.index.local.vectors.make_vector_index`).
        backend: What runs the model (see :func:`qa.index.embedding.load_embedder`): None or
            ``"auto"`` (ONNX Runtime when possible, else torch), ``"torch"``, ``"onnx"``
            or ``"onnx-int8"`` (recorded as model ``NAME#int8``).  Ignored for an :class:`Embedder`.
        incremental: Reuse the vectors of unchanged documents from the index in ``path``.
        dense_index: Dense index type of a new Milvus index: ``"HNSW"``, ``"IVF_SQ8"`` or ``"FLAT"``.
        shard: ``"I/N"`` or ``(I, N)``: index only this worker's share of the files (every N-th,
            from the I-th) into a Milvus index, keeping the other workers' documents; N workers
            given the same inputs build the index one build would (see :func:`qa.index.milvus.build.read_shard`).
        ocr_budget_s: Seconds of OCR the build may spend on scanned pages and images (see :mod:`qa.documents.ocr`);
            their text is cached beside the index (:attr:`qa.index.location.Location.ocr_cache`), so an unchanged
            scan is not read again.

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
    if isinstance(ocr_budget_s, bool) or not isinstance(ocr_budget_s, (int, float)) or not ocr_budget_s > 0:
        raise ValueError(f"ocr_budget_s must be a number of seconds greater than 0. Currently, ocr_budget_s is {ocr_budget_s!r}.")
    report, orders = read_inputs(inputs, where, shard, dense_index, ocr_budget_s)
    if not report.documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped[:5]) or "no .txt, .md, .html, .pdf, .docx or image files found"
        raise IngestError(
            f"nothing to index ({reasons}); pass files or folders of .txt, .md, .html, .pdf, .docx or scanned .png, .jpg, .tif documents"
        )
    embedder = load_embedder(model, backend, build=True)
    written = write(report.documents, where, embedder, max_words, overlap, exact_max, incremental, dense_index, orders, prune=shard is None)
    return BuildReport(
        written.location, len(report.documents), written.passages, report.skipped,
        getattr(embedder, "backend", "custom"), embedded_passages=written.embedded_passages, reused_documents=written.reused_documents,
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
        backend: What runs the model (see :func:`qa.index.embedding.load_embedder`); None or
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
    if path is None:
        store, embedder_built = open_default(where, requested, model, backend)
        embedder = embedder or embedder_built
    else:
        store = open_store(where, requested)
    if embedder is None:
        embedder = load_embedder(store.model if model is None else model, backend)
    if canonical_model_name(embedder.name) != store.model or embedder.dimension != store.manifest["model"]["dimension"]:
        raise ModelMismatchError(
            f"model {embedder.name!r} ({embedder.dimension} dimensions) does not match the index's "
            f"{store.model!r} ({store.manifest['model']['dimension']}); rebuild the index with that model"
        )
    return QA(store, embedder, top_k=top_k, retrieval=retrieval, reader=answer_reader, read_depth=read_depth)


def _load_reader(reader: bool | str | os.PathLike[str]) -> Reader | None:
    """The reader asked for by :func:`load`'s ``reader`` argument.

    Raises:
        ValueError: ``reader`` is not a bool or a path.
        ModelLoadError: The reader folder is missing or does not match its card.
    """
    if reader is False:
        return None
    from qa.answering.reader import Reader

    if reader is True:
        return Reader()
    if isinstance(reader, (str, os.PathLike)):
        return Reader(Path(reader))
    raise ValueError(f"reader must be True, False or a reader folder. Currently, reader is {reader!r}.")
