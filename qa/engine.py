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
from qa.answering.conversation import turns_of
from qa.answering.decision import DecisionModel, decision_of
from qa.answering.topic import SHARES, search_shares
from qa.answering.sentences import DEFAULT_PARAMS, AnswerParams, make_query
from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.documents.ocr import DEFAULT_BUDGET_S
from qa.documents.ingest import Skipped
from qa.documents.lexical import tokenize
from qa.errors import DocumentNotFoundError, IngestError, ModelMismatchError, QAError
from qa.index.backend import check_build, open_default, open_store, original_file, read_inputs, write
from qa.index.embedding import DEFAULT_MODEL, Embedder, canonical_model_name, check_backend, load_embedder, with_backend
from qa.index.local.vectors import DEFAULT_EXACT_MAX
from qa.index.location import parse_location
from qa.index.store import IndexStore, check_method
from qa.types import Answer, Citation, Document, PageView, Passage, Span

if TYPE_CHECKING:
    from qa.answering.reader import Reader

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 5
MAX_QUESTION_CHARS = 2000
"""Longer questions are cut to this many characters (the model reads at most 256 tokens)."""
PAGE_CACHE = 32
"""Page views kept by a :class:`QA` (the last ones shown; a view asked again costs a dictionary lookup)."""
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
        removed_added: Documents that had been added with :func:`qa.add_documents` (or uploaded) and that this
            build removed, with their kept copies (only with ``replace=True``).
    """

    path: Path | str
    documents: int
    passages: int
    skipped: list[Skipped] = field(default_factory=list)
    backend: str = "custom"
    embedded_passages: int = 0
    reused_documents: int = 0
    removed_added: tuple[str, ...] = ()


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
        self._pages: dict[tuple, PageView] = {}
        self._pages_lock = threading.Lock()

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
        with self._pages_lock:
            self._pages.clear()
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
            DocumentNotFoundError: No such document (the message names a few of the index's ids).
        """
        store = self.store
        try:
            return store.documents[doc_id]
        except (KeyError, TypeError):
            known = list(store.documents)
            shown = ", ".join(repr(d) for d in known[:10]) + (" ..." if len(known) > 10 else "")
            raise DocumentNotFoundError(
                f"no document with doc_id {doc_id!r} in index {store.location!r}; its documents are {shown} (see `qa list`)"
            ) from None

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
                as returned before, or a ``(question, answer_text)`` pair.  The last 8 give the
                conversation's document (:mod:`qa.answering.topic`), the last 3 words.  A question that
                depends on them ("and who is building it?") is searched with the earlier questions' topic
                words, in the conversation's document (see :mod:`qa.answering.conversation`); the answer's
                ``follow_up`` says what was used.  None or ``[]`` answers the question on its own.

        Returns:
            The answer, with citations and evidence passages (or related passages when abstained).

        Raises:
            ValueError: Empty question, ``top_k`` < 1, unknown method, or a bad ``history`` item (named).
        """
        text = clean_question(question)
        question = question if len(question) <= MAX_QUESTION_CHARS else text  # the answer echoes what was read, not 60 KB
        k = _check_top_k(self.top_k if top_k is None else top_k)
        method = check_method(retrieval or self.retrieval)
        turns = turns_of(history)
        store = self._current_store()  # one index for the whole question, even if another is swapped in meanwhile
        if not turns:
            query = make_query(store, text, self.embedder.encode)
            hits = store.search(query.vector, query.tokens, k, method)
            SHARES.put(store, text, search_shares(store, hits))  # a later follow-up's evidence, without a second search
            return answer(store, question, query, hits, self.params, self.reader, self.decision, self.read_depth)
        return answer_in_conversation(
            store, question, text, turns, self.embedder.encode, k, method, self.params, self.reader, self.decision, self.read_depth
        )

    def page_view(self, citation: Citation, *, phrase: Span | None = None, dpi: int = 150) -> PageView:
        """The page a citation quotes, as an image with the quoted sentence boxed (one rectangle per line).

        Works for an answer's citations and for an unconfirmed candidate's.  The boxes come from the
        mapping kept at ingest (the PDF's characters, or the words tesseract read on a scan), and the
        page is rendered from the file the index was built from, checked against its SHA-256.

        Args:
            citation: A citation of :meth:`ask` (``answer.citations[i]`` or ``answer.candidate.citation``).
            phrase: The answer phrase inside it (``answer.phrase``), marked more strongly; None for none.
            dpi: Resolution of the image, 72 to 300.

        Returns:
            The page: PNG bytes with the quote highlighted, its size, and the boxes in its pixels.

        Raises:
            ValueError: ``dpi`` out of range, or ``phrase`` is not inside the citation.
            QAError: The document has no pages (Word, HTML, Markdown, text), its file is gone or changed,
                the index predates page layouts (add the file again, or rebuild), or the page is too large.
        """
        if not isinstance(citation, Citation):
            raise ValueError(f"citation must be a qa.Citation from an answer. Currently, citation is {type(citation).__name__}.")
        if phrase is not None and (phrase.doc_id != citation.doc_id or phrase.start < citation.start or phrase.end > citation.end):
            raise ValueError(f"phrase must lie inside the citation ({citation.start}-{citation.end}). Currently, phrase is {phrase.start}-{phrase.end}.")
        if citation.page is None:
            raise QAError(f"{citation.doc_id!r} has no pages (only PDFs, scans and images do), so there is no page to show")
        return self.page(citation.doc_id, citation.page, start=citation.start, end=citation.end,
                         phrase=None if phrase is None else (phrase.start, phrase.end), dpi=dpi)

    def page(
        self, doc_id: str, page: int, *, start: int | None = None, end: int | None = None,
        phrase: tuple[int, int] | None = None, dpi: int = 150,
    ) -> PageView:
        """A page of a PDF, scan or image of the index, with the text ``[start, end)`` of the document boxed.

        The same as :meth:`page_view`, by document id and page (the HTTP API's and the CLI's way in).
        Without ``start`` and ``end`` the page is shown without boxes.

        Raises:
            ValueError: A bad page number, range or dpi (the message names it).
            QAError: No such document, no pages, its file gone or changed, no layout kept, or the page too large.
        """
        from qa.documents.pages import check_dpi

        check_dpi(dpi)
        for name, value in (("page", page), ("start", start), ("end", end), *zip(("phrase start", "phrase end"), phrase or ())):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole number. Currently, {name} is {value!r}.")
        store = self._current_store()
        key = (doc_id, page, start, end, phrase, dpi)
        with self._pages_lock:
            cached = self._pages.get(key)
        if cached is not None:
            return cached
        view = show_page(store, doc_id, page, start=start, end=end, phrase=phrase, dpi=dpi)
        with self._pages_lock:
            if len(self._pages) >= PAGE_CACHE:
                self._pages.pop(next(iter(self._pages)))
            self._pages[key] = view
        return view


def show_page(
    store: IndexStore, doc_id: str, page: int, *, start: int | None = None, end: int | None = None,
    phrase: tuple[int, int] | None = None, dpi: int = 150,
) -> PageView:
    """:meth:`QA.page` on a loaded index, without the model or a cache (``qa page`` needs no model).

    Raises:
        ValueError: A bad page number, range or dpi (the message names it).
        QAError: No such document, no pages, its file gone or changed, no layout kept, or the page too large.
    """
    from qa.documents.page_map import decode
    from qa.documents.pages import check_dpi, render_image_page, render_pdf_page
    from qa.documents.scan_images import IMAGE_SUFFIXES

    check_dpi(dpi)
    doc = store.documents.get(doc_id) if isinstance(doc_id, str) else None
    if doc is None:
        raise QAError(f"no document with doc_id {doc_id!r} in this index")
    if not doc.page_starts:
        raise QAError(f"{doc_id!r} has no pages (only PDFs, scans and images do), so there is no page to show")
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= len(doc.page_starts):
        raise ValueError(f"page must be from 1 to {len(doc.page_starts)} for {doc_id!r}. Currently, page is {page!r}.")
    ranges = {}
    for name, pair in (("quote", None if start is None and end is None else (start, end)), ("phrase", phrase)):
        if pair is None:
            continue
        a, b = pair
        if any(isinstance(x, bool) or not isinstance(x, int) for x in (a, b)) or not 0 <= a < b <= len(doc.text):  # type: ignore[operator]
            raise ValueError(f"{name} range must be two offsets 0 <= start < end <= {len(doc.text)} of {doc_id!r}. Currently, it is {a!r}-{b!r}.")
        ranges[name] = (a, b)
    if not doc.layout:
        raise QAError(f"the index holds no page layout for {doc_id!r} (it was indexed by an older qa); add the file again or rebuild the index to see its pages")
    try:
        layout = decode(doc.layout)
    except ValueError as exc:
        raise QAError(f"the page layout of {doc_id!r} is damaged ({exc}); add the file again or rebuild the index") from None
    source = original_file(store, doc)
    is_image = Path(doc.source).suffix.lower() in IMAGE_SUFFIXES
    return (render_image_page if is_image else render_pdf_page)(source, doc_id, layout, page, ranges, dpi)


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
    replace: bool = False,
) -> BuildReport:
    """Read documents, embed them and write an index folder (atomically), or a Milvus index.

    A build replaces what ``path`` held, but never documents added to it with :func:`qa.add_documents`
    (or uploaded) unless ``replace=True``: without it, such a build raises :class:`qa.ReplaceRefusedError`
    naming them, before anything is read.  A folder that is not a qa index and holds other files is
    never written into.

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
        replace: Remove the documents added to the index at ``path`` (and their kept copies) when this build
            does not hold them; they are named in ``BuildReport.removed_added``.

    Returns:
        What was indexed, embedded and skipped.

    Raises:
        IngestError: Nothing usable was found in ``inputs``.
        IndexLockedError: Another build is writing ``path``.
        ReplaceRefusedError: ``path`` holds added documents (without ``replace``), or is a folder that is not an index.
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
    removed_added = check_build(where, replace, shard is None)
    report, orders = read_inputs(inputs, where, shard, dense_index, ocr_budget_s)
    if not report.documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in report.skipped[:5]) or "no .txt, .md, .html, .pdf, .docx or image files found"
        raise IngestError(
            f"nothing to index ({reasons}); pass files or folders of .txt, .md, .html, .pdf, .docx or scanned .png, .jpg, .tif documents"
        )
    embedder = load_embedder(model, backend, build=True)
    written = write(
        report.documents, where, embedder, max_words, overlap, exact_max, incremental, dense_index, orders, prune=shard is None, replace=replace
    )
    return BuildReport(
        written.location, len(report.documents), written.passages, report.skipped,
        getattr(embedder, "backend", "custom"), embedded_passages=written.embedded_passages, reused_documents=written.reused_documents,
        removed_added=tuple(removed_added),
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
