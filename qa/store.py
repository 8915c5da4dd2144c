"""The on-disk index: FAISS vectors, a BM25 index, passages and a checked manifest.

An index is a folder of plain files with fixed names (no pickle)::

    manifest.json          format version, model, dimension, chunking, hashes
    documents.jsonl        one cleaned document per line
    passages.jsonl         per document: doc_id, and start, end, first/last sentence of its passages
    sentences.jsonl        per document: doc_id, and start, end of its sentences
    index.faiss            passage vectors (inner product on unit vectors): exact
                           ``IndexFlatIP`` for small corpora, IVF with 8-bit scalar
                           quantisation above ``exact_max`` passages
    passage_vectors.npy    float32 passage vectors (pooled from their sentences', see
                           :func:`pool_passages`): re-ranking of IVF candidates, and
                           reuse by incremental builds
    sentence_vectors.npy   float16 sentence vectors, for answer selection
    words.json             corpus words with a vector (soft term matching)
    word_vectors.npy       float16 vectors of those words
    bm25/                  bm25s index of the passages

Builds write a new folder beside the target and swap it in, under a lock, so a
failed or killed build leaves the previous index loadable.  A build into a
folder that already holds an index made with the same model, chunking and qa
version embeds only new or changed documents (by content hash) and reuses the
stored vectors of the others, with the same result as a full build.

A loaded index does not read its large vector files into memory: sentence and
word vectors are memory-mapped (answers touch only the rows they score), and
passage vectors are read row by row when IVF candidates are re-ranked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from typing import IO
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa import __version__
from qa.bm25 import Bm25, load_bm25
from qa.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP, ChunkSpec, chunk_sentences, split_sentences
from qa.embedding import Embedder, canonical_model_name, normalize
from qa.errors import (
    CorruptIndexError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    ModelMismatchError,
    QAError,
    StaleIndexError,
)
from qa.lexical import content_words, tokenize
from qa.records import PASSAGE_FIELDS, SENTENCE_FIELDS, PassageRecord, RecordTable, parse_records, record_lines
from qa.types import Document, Sentence
from qa.versions import installed_versions

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
"""Version 2 added ``passage_vectors.npy``, the IVF-SQ8 index type and sampled digests of large files;
version 3 writes passage and sentence records one line per document (see :mod:`qa.records`)."""
READABLE_VERSIONS = (2, 3)
"""Versions this package loads (version 2's one record per line is read too)."""
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
PASSAGES = "passages.jsonl"
SENTENCES = "sentences.jsonl"
FAISS_INDEX = "index.faiss"
SENTENCE_VECTORS = "sentence_vectors.npy"
PASSAGE_VECTORS = "passage_vectors.npy"
WORDS = "words.json"
WORD_VECTORS = "word_vectors.npy"
MAX_WORDS_EMBEDDED = 200_000
"""At most this many distinct corpus words (the most frequent) get a vector for soft term matching."""
BM25_DIR = "bm25"
DEFAULT_EXACT_MAX = 20_000
"""Up to this many passages the index is exact (``IndexFlatIP``); above it, IVF-SQ8 (:func:`make_vector_index`).

One query on one thread: flat 1.4 ms at 10,000 and 3.7 ms at 20,000 passages, IVF-SQ8 0.6 ms at
100,000 (``eval/bench.py``, 384 dimensions, a 2-core machine shared with other work)."""
IVF_LISTS_PER_SQRT = 4
"""An IVF index has about ``4 * sqrt(n)`` lists (4,000 for a million passages)..."""
IVF_MIN_TRAIN_PER_LIST = 39
"""... and at most ``n / 39`` (k-means needs about 39 training vectors per centroid)."""
IVF_TRAIN_PER_LIST = 50
"""k-means trains on a fixed random sample of ``50 * nlist`` vectors (200,000 for a million passages)."""
IVF_NITER = 10
"""k-means iterations."""
NPROBE_CHOICES = (4, 8, 16, 32, 64, 128)
"""Lists searched per query: the smallest that reaches ``RECALL_TARGET`` on calibration queries, times ``NPROBE_MARGIN``."""
NPROBE_MARGIN = 2
"""Real questions were measured ~1.5 points of recall below the calibration queries at the same nprobe (100k passages)."""
RECALL_TARGET = 0.99
"""recall@10 against exact search that the calibration asks for (the goal is 0.95; the margin is for real questions)."""
CALIBRATION_QUERIES = 200
"""Calibration queries: midpoints of two random indexed vectors (their recall curve follows real questions')."""
REFINE_FACTOR = 4
"""An IVF search fetches ``4 * k`` candidates and re-ranks them by their exact float32 vectors."""
BATCH_THREADS_MIN = 16
"""Searches of fewer queries run on one OpenMP thread (waking idle threads costs more than it saves)."""
SEED = 1234
"""Seed of every random choice of a build (training sample, calibration queries): builds are reproducible."""
HASH_MAX_BYTES = 64 * 2**20
"""Files up to this size are checked against their SHA-256 on load; larger ones by size and a sampled
digest (:func:`verify_index` hashes everything)."""
SAMPLE_BLOCKS = 64
SAMPLE_BLOCK_BYTES = 64 * 1024
"""The sampled digest of a large file covers 64 evenly spaced blocks of 64 KiB, the first and last included."""


@dataclass
class Store:
    """A loaded index.

    Attributes:
        path: Folder it was loaded from.
        manifest: The parsed manifest.
        documents: Documents by id.
        passages: Passages by position (= FAISS id = BM25 id).
        sentences: Sentences by global index.
        vectors: The passage vectors' search index (a :class:`VectorIndex`).
        sentence_vectors: ``(len(sentences), dimension)`` unit vectors.
        bm25: The BM25 weights of the passages (read without bm25s, see :mod:`qa.bm25`).
        words: Row of each embedded corpus word in ``word_vectors``.
        word_vectors: ``(len(words), dimension)`` unit vectors.
    """

    path: Path
    manifest: dict
    documents: dict[str, Document]
    passages: RecordTable[PassageRecord]
    sentences: RecordTable[Sentence]
    vectors: object
    sentence_vectors: np.ndarray
    bm25: Bm25
    words: dict[str, int]
    word_vectors: np.ndarray
    sentence_cache: dict[int, object] = field(default_factory=dict, repr=False, compare=False)
    """Per-sentence term data computed on first use by :mod:`qa.answer` (filled lazily, thread-safe by replacement)."""

    @property
    def model(self) -> str:
        """Name of the embedding model the index was built with."""
        return str(self.manifest["model"]["name"])


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sampled_sha256(path: Path) -> str:
    """Hex SHA-256 of the size and ``SAMPLE_BLOCKS`` evenly spaced blocks of a file (cheap for huge files)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        last = max(0, size - SAMPLE_BLOCK_BYTES)
        for i in range(SAMPLE_BLOCKS):
            handle.seek(last * i // (SAMPLE_BLOCKS - 1))
            digest.update(handle.read(SAMPLE_BLOCK_BYTES))
    return digest.hexdigest()


@contextlib.contextmanager
def faiss_threads(threads: int | None) -> Iterator[None]:
    """Run FAISS with ``threads`` OpenMP threads in this thread (None: leave as is), then restore.

    The OpenMP thread count is per calling thread, so this is safe while other
    threads search.
    """
    import faiss

    if threads is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: ``4 * sqrt(n)``, at most ``n / 39``, at least 1."""
    return max(1, min(round(IVF_LISTS_PER_SQRT * math.sqrt(n)), n // IVF_MIN_TRAIN_PER_LIST))


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's ``k`` true neighbours found among its first ``k`` results (ids < 0 ignored)."""
    if len(truth) == 0:
        return 1.0
    hits = 0
    for got, true in zip(np.asarray(found)[:, :k], np.asarray(truth)[:, :k]):
        true_set = {int(t) for t in true if t >= 0}
        hits += len(true_set & {int(g) for g in got if g >= 0}) / max(1, len(true_set))
    return hits / len(truth)


def _npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` file open in ``handle``, which is left at the data."""
    version = np.lib.format.read_magic(handle)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return reader(handle)


class VectorRows:
    """Rows of a float32 ``.npy`` matrix, read on demand with ``pread`` from an open file.

    Unlike a memory map, the rows read do not stay mapped in the process (the
    operating system's page cache keeps the hot ones), so re-ranking does not
    grow the resident memory towards the file's size.  Thread-safe.

    Raises:
        ValueError: The file is not a C-ordered float32 matrix, or is shorter than its header says.
    """

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            shape, fortran, dtype = _npy_header(handle)
            offset = handle.tell()
        if len(shape) != 2 or fortran or dtype != np.dtype(np.float32):
            raise ValueError(f"{path.name} is not a float32 matrix")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = dtype
        self._offset = offset
        self._row_bytes = self.shape[1] * dtype.itemsize
        if path.stat().st_size < offset + self.shape[0] * self._row_bytes:
            raise ValueError(f"{path.name} is shorter than its header says")
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        """The rows with these (sorted, distinct) indices; runs of consecutive rows take one read each."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        start = 0
        while start < len(rows):
            end = start + 1
            while end < len(rows) and rows[end] == rows[end - 1] + 1:
                end += 1
            data = os.pread(self._fd, (end - start) * self._row_bytes, self._offset + int(rows[start]) * self._row_bytes)
            out[start:end] = np.frombuffer(data, dtype=self.dtype).reshape(end - start, self.shape[1])
            start = end
        return out


class VectorIndex:
    """A FAISS index of the passage vectors, searched with the manifest's parameters.

    * Searches of fewer than ``BATCH_THREADS_MIN`` queries run on one OpenMP
      thread (measured faster than two for one query, and concurrent requests
      do not fight over cores); batches use every core.
    * An IVF index is searched for ``REFINE_FACTOR * k`` candidates, which are
      re-ranked by their exact float32 vectors (read from
      ``passage_vectors.npy``, see :class:`VectorRows`): scores are exact cosines and the 8-bit
      quantisation error does not cost recall.
    * ``nprobe`` is set from the manifest, not trusted to the file.

    Attributes:
        index: The FAISS index.
        info: Its manifest entry.
        exact: ``(ntotal, d)`` float32 vectors for re-ranking (an array or :class:`VectorRows`), or None.
    """

    def __init__(self, index: object, info: dict, exact: np.ndarray | VectorRows | None = None) -> None:
        import faiss

        self.index = index
        self.info = dict(info)
        self.exact = exact
        self.refine = int(info.get("refine", 0)) if exact is not None else 0
        if "nprobe" in info:
            faiss.extract_index_ivf(index).nprobe = int(info["nprobe"])

    @property
    def ntotal(self) -> int:
        """Number of indexed vectors."""
        return int(self.index.ntotal)  # type: ignore[attr-defined]

    @property
    def d(self) -> int:
        """Dimension of the vectors."""
        return int(self.index.d)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:  # anything else: the FAISS index's own attribute
        if name in ("index", "info", "exact", "refine"):
            raise AttributeError(name)
        return getattr(self.index, name)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best vectors of each query, by inner product (FAISS's ``(scores, ids)``; missing ids are -1)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.d)
        threads = 1 if len(queries) < BATCH_THREADS_MIN else None
        depth = min(self.ntotal, k * self.refine) if self.refine else k
        with faiss_threads(threads):
            scores, ids = self.index.search(queries, max(depth, 1))  # type: ignore[attr-defined]
        if not self.refine:
            return scores, ids
        return self._rerank(queries, ids, k)

    def _rerank(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.exact is not None
        out_scores = np.full((len(queries), k), -np.finfo(np.float32).max, dtype=np.float32)
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, found) in enumerate(zip(queries, candidates)):
            ids = np.unique(found[found >= 0])  # sorted: read in file order
            if not len(ids):
                continue
            scores = np.asarray(self.exact[ids], dtype=np.float32) @ query
            order = np.lexsort((ids, -scores))[:k]
            out_scores[row, : len(order)] = scores[order]
            out_ids[row, : len(order)] = ids[order]
        return out_scores, out_ids


def make_vector_index(
    vectors: np.ndarray, exact_max: int = DEFAULT_EXACT_MAX, threads: int | None = None
) -> tuple[object, dict]:
    """Build the FAISS index suited to the number of vectors.

    Up to ``exact_max`` vectors: exact ``IndexFlatIP``.  Above: an inverted file
    of :func:`ivf_nlist` lists (spherical k-means on a seeded sample) holding
    8-bit scalar-quantised vectors (``IndexIVFScalarQuantizer``, 1 byte per
    dimension: 384 MB for a million 384-d vectors), searched with ``nprobe``
    lists: ``NPROBE_MARGIN`` times the smallest of ``NPROBE_CHOICES`` whose
    recall@10 (with the exact re-ranking of :class:`VectorIndex`) reaches
    ``RECALL_TARGET`` on calibration queries.  Deterministic: the same vectors give the same index.

    Args:
        vectors: ``(n, d)`` float32 unit vectors (a memory map is fine).
        exact_max: Largest ``n`` that gets an exact index.
        threads: OpenMP threads for the build; None uses every core.

    Returns:
        ``(index, description)``; the description goes into the manifest's ``"index"``.
    """
    import faiss

    n, dim = vectors.shape
    with faiss_threads(threads or os.cpu_count() or 1):
        if n <= exact_max:
            index = faiss.IndexFlatIP(dim)
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            return index, {"type": "flat", "metric": "inner_product"}
        nlist = ivf_nlist(n)
        rng = np.random.default_rng(SEED)
        train_size = min(n, IVF_TRAIN_PER_LIST * nlist)
        sample = np.sort(rng.choice(n, size=train_size, replace=False)) if train_size < n else np.arange(n)
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT, False
        )
        index.cp.niter = IVF_NITER
        index.cp.spherical = True
        index.cp.seed = SEED
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        for start in range(0, n, 1 << 16):  # adds in slices: no float32 copy of a memory-mapped whole
            index.add(np.ascontiguousarray(vectors[start : start + (1 << 16)], dtype=np.float32))
        calibrated, recall = calibrate_nprobe(index, vectors, rng)
        nprobe = min(nlist, calibrated * NPROBE_MARGIN)
        index.nprobe = nprobe
    info = {
        "type": "ivf_sq8",
        "metric": "inner_product",
        "nlist": nlist,
        "nprobe": nprobe,
        "refine": REFINE_FACTOR,
        "train_size": int(train_size),
        "niter": IVF_NITER,
        "calibration": {
            "queries": CALIBRATION_QUERIES, "k": 10, "target": RECALL_TARGET, "nprobe": calibrated, "recall": round(recall, 4),
            "margin": NPROBE_MARGIN,
        },
    }
    return index, info


def calibrate_nprobe(index: object, vectors: np.ndarray, rng: np.random.Generator) -> tuple[int, float]:
    """The smallest ``nprobe`` of ``NPROBE_CHOICES`` whose recall@10 reaches ``RECALL_TARGET``, and that recall.

    The queries are normalised midpoints of two random indexed vectors (an easy
    query lands inside one list; these fall between topics, like questions).
    The ground truth is an exact search; the recall counts the exact re-ranking
    of ``REFINE_FACTOR * 10`` candidates done by :class:`VectorIndex`.
    """
    import faiss

    n = len(vectors)
    pairs = rng.integers(0, n, size=(CALIBRATION_QUERIES, 2))
    queries = np.asarray(vectors[pairs[:, 0]], dtype=np.float32) + np.asarray(vectors[pairs[:, 1]], dtype=np.float32)
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    truth = np.full((len(queries), 10), -1, dtype=np.int64)
    best = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    for start in range(0, n, 1 << 16):  # exact search in slices (the vectors may be memory-mapped)
        block = np.ascontiguousarray(vectors[start : start + (1 << 16)], dtype=np.float32)
        scores, ids = faiss.knn(queries, block, min(10, len(block)), metric=faiss.METRIC_INNER_PRODUCT)
        merged_s = np.concatenate([best, scores], axis=1)
        merged_i = np.concatenate([truth, ids + start], axis=1)
        order = np.argsort(-merged_s, axis=1, kind="stable")[:, :10]
        best, truth = np.take_along_axis(merged_s, order, 1), np.take_along_axis(merged_i, order, 1)
    searcher = VectorIndex(index, {"refine": REFINE_FACTOR}, vectors)
    recall = 0.0
    for nprobe in NPROBE_CHOICES:
        index.nprobe = min(nprobe, index.nlist)  # type: ignore[attr-defined]
        recall = recall_at_k(searcher.search(queries, 10)[1], truth, 10)
        if recall >= RECALL_TARGET or nprobe >= index.nlist:  # type: ignore[attr-defined]
            return int(index.nprobe), recall  # type: ignore[attr-defined]
    logger.warning("IVF calibration reached recall@10 %.3f only (target %.2f) with nprobe %d", recall, RECALL_TARGET, NPROBE_CHOICES[-1])
    return NPROBE_CHOICES[-1], recall


def _bm25_index(passage_texts: Sequence[str]) -> object:
    import bm25s

    tokens = [tokenize(text) or ["\u2205"] for text in passage_texts]
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    return retriever


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock for building ``target`` (a lock file beside it).

    Raises:
        IndexLockedError: Another process is building the same folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"another build is writing {str(target)!r}; wait for it to finish, then try again"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _recover(target: Path) -> None:
    """Put back an index left aside by a build that died between its two renames."""
    if target.exists():
        return
    leftovers = sorted(target.parent.glob(f".{target.name}.old-*"))
    if leftovers:
        logger.warning("restoring %s from %s (a build was interrupted)", target, leftovers[-1])
        os.rename(leftovers[-1], target)


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by the finished folder ``tmp`` (two renames; see :func:`_recover`)."""
    old = None
    if target.exists():
        for name in (".gitignore", ".gitkeep"):  # keep a repository's placeholder files
            if (target / name).is_file() and not (tmp / name).exists():
                shutil.copy2(target / name, tmp / name)
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _source_info(doc: Document) -> dict:
    info: dict = {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "text_sha256": doc.sha256}
    path = Path(doc.source)
    if doc.source and not doc.source.startswith("<") and path.is_file():
        stat = path.stat()
        info.update(file_sha256=file_sha256(path), file_size=stat.st_size, file_mtime_ns=stat.st_mtime_ns)
    return info


@dataclass
class _Previous:
    """What a build can reuse from the index already in its target folder (all checked against its manifest).

    Attributes:
        by_hash: Old ``doc_id`` of each document text's SHA-256.
        passage_rows: Rows ``(first, end)`` of each old document's passages.
        sentence_rows: Rows ``(first, end)`` of each old document's sentences.
        passages: The old passage records (``passages.jsonl``).
        sentences: The old sentence records (``sentences.jsonl``).
        passage_vectors: Memory map of the old float32 passage vectors.
        sentence_vectors: Memory map of the old float16 sentence vectors.
        words: Row of each old corpus word.
        word_vectors: Memory map of the old float16 word vectors.
    """

    by_hash: dict[str, str]
    passage_rows: dict[str, tuple[int, int]]
    sentence_rows: dict[str, tuple[int, int]]
    passages: RecordTable[PassageRecord]
    sentences: RecordTable[Sentence]
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    words: dict[str, int]
    word_vectors: np.ndarray


@dataclass
class _Plan:
    """Where each document's passages and sentences come from in a build."""

    passages: list[PassageRecord] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    copies: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    """``(new passage row, old first, old end, new sentence row, old first, old end)`` of each reused document."""
    new_passages: list[int] = field(default_factory=list)
    new_sentences: list[int] = field(default_factory=list)
    reused_documents: int = 0


def chunking_settings(max_words: int = DEFAULT_MAX_WORDS, overlap: int = DEFAULT_OVERLAP) -> dict:
    """The manifest's ``"chunking"`` entry: a build reuses an index's vectors only when it is the same."""
    segmenter_version = installed_versions(("pysbd",))["pysbd"]
    return {
        "max_words": max_words,
        "overlap": overlap,
        "segmenter": "pysbd-en",
        "segmenter_version": segmenter_version,
        "passage_vectors": PASSAGE_POOLING,
    }


def write_index(
    documents: Sequence[Document],
    target: str | os.PathLike[str],
    embedder: Embedder,
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
    exact_max: int = DEFAULT_EXACT_MAX,
    batch_size: int = 64,
    reuse: bool = True,
) -> Path:
    """Chunk, embed and index documents, and save the index atomically to ``target``.

    With ``reuse``, when ``target`` holds an intact index made with the same
    model, chunking settings and qa version, the documents whose text is
    unchanged (same SHA-256) keep their stored sentences, passages and vectors;
    only new or changed documents are segmented and embedded (and only corpus
    words without a stored vector).  The result is the same as a full build with
    a deterministic model (with sentence-transformers, equal up to the float noise
    of batching).  Anything unusable in the old index means a full build.

    Args:
        documents: Documents with unique ``doc_id``.
        target: Index folder; replaced only when the new index is complete.
        embedder: Model used for passages and sentences.
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.
        exact_max: Largest passage count that gets an exact FAISS index.
        batch_size: Texts per encoder batch.
        reuse: Reuse the vectors of unchanged documents from the index in ``target``.

    Returns:
        The index folder.

    Raises:
        QAError: No documents, or no text to index.
        IndexLockedError: Another build holds the folder.
    """
    if not documents:
        raise QAError("no documents to index: pass files, folders or Document objects with text")
    target = Path(target)
    chunking = chunking_settings(max_words, overlap)
    previous = _previous_index(target, embedder, chunking) if reuse else None
    plan = _plan(documents, previous, max_words, overlap)
    if not plan.passages:
        raise QAError("the documents contain no sentences to index")
    by_id = {doc.doc_id: doc for doc in documents}
    sentence_texts = [by_id[s.doc_id].text[s.start : s.end] for s in plan.sentences]
    dim = int(embedder.dimension)
    passage_vectors = np.empty((len(plan.passages), dim), dtype=np.float32)
    sentence_vectors = np.empty((len(plan.sentences), dim), dtype=np.float16)
    if previous is not None:
        for new_p, p0, p1, new_s, s0, s1 in plan.copies:
            passage_vectors[new_p : new_p + p1 - p0] = previous.passage_vectors[p0:p1]
            sentence_vectors[new_s : new_s + s1 - s0] = previous.sentence_vectors[s0:s1]
    new_sentence_texts = [sentence_texts[i] for i in plan.new_sentences]
    logger.info(
        "embedding %d of %d sentences (for %d of %d passages) with %s (%d unchanged documents reused)",
        len(new_sentence_texts), len(plan.sentences), len(plan.new_passages), len(plan.passages), embedder.name, plan.reused_documents,
    )
    if new_sentence_texts:
        fresh = np.asarray(
            embedder.encode(new_sentence_texts, batch_size=batch_size, show_progress=len(new_sentence_texts) >= 256), dtype=np.float32
        )
        sentence_vectors[plan.new_sentences] = fresh
        passage_vectors[plan.new_passages] = pool_passages(plan, fresh)
    words = corpus_words(sentence_texts)
    word_vectors = np.empty((len(words), dim), dtype=np.float16)
    old_rows = [previous.words.get(w, -1) if previous is not None else -1 for w in words]
    kept = [i for i, row in enumerate(old_rows) if row >= 0]
    if kept and previous is not None:  # (kept is empty without a previous index)
        word_vectors[kept] = previous.word_vectors[[old_rows[i] for i in kept]]
    missing = [i for i, row in enumerate(old_rows) if row < 0]
    if missing:
        word_vectors[missing] = embedder.encode([words[i] for i in missing], batch_size=256, show_progress=len(missing) >= 2048)
    stats = {
        "reused_documents": plan.reused_documents,
        "embedded": {"passages": len(plan.new_passages), "sentences": len(new_sentence_texts), "words": len(missing)},
        "reused": {"passages": len(plan.passages) - len(plan.new_passages), "sentences": len(plan.sentences) - len(new_sentence_texts), "words": len(kept)},
    }
    return save_index(
        target, documents, plan.passages, plan.sentences, passage_vectors, sentence_vectors, embedder,
        chunking, exact_max, words, word_vectors, stats,
    )


PASSAGE_POOLING = "sentence-mean-by-chars"
"""How passage vectors are made (see :func:`pool_passages`); recorded in the manifest's chunking settings."""


def pool_passages(plan: _Plan, sentence_vectors: np.ndarray) -> np.ndarray:
    """Vectors of the plan's new passages: the length-weighted mean of their sentences' unit vectors, normalised.

    A passage is not encoded as a whole.  Its sentences must be encoded anyway
    (answers are sentences), and pooling their vectors, each weighted by its
    length in characters, approximates the model's own mean pooling over the
    passage's tokens.  It halves the encoding work of a build (sentences are
    shorter, so encoding them costs less than encoding the passages); on the
    SQuAD sample the hybrid engine's MRR is the same (0.840) and the dense-only
    MRR 0.003 lower than with encoded passages (``eval/run.py``).

    Args:
        plan: The build plan; the sentences of each new passage are all new.
        sentence_vectors: Unit vectors of ``plan.new_sentences``, in that order.

    Returns:
        ``(len(plan.new_passages), dimension)`` float32 unit vectors.
    """
    row_of = np.full(len(plan.sentences), -1, dtype=np.int64)
    row_of[plan.new_sentences] = np.arange(len(plan.new_sentences))
    lengths = np.array([s.end - s.start for s in plan.sentences], dtype=np.float32)
    out = np.zeros((len(plan.new_passages), sentence_vectors.shape[1]), dtype=np.float32)
    for i, p in enumerate(plan.new_passages):
        record = plan.passages[p]
        rows = row_of[record.first_sentence : record.last_sentence]
        if len(rows) == 0 or rows.min() < 0:
            raise QAError(f"passage {p} has sentences that were not embedded; this is a bug in the build plan")
        out[i] = lengths[record.first_sentence : record.last_sentence] @ sentence_vectors[rows]
    return normalize(out)


def _plan(documents: Sequence[Document], previous: _Previous | None, max_words: int, overlap: int) -> _Plan:
    """Segment and chunk the new or changed documents; take the others' records from the old index."""
    plan = _Plan()
    for doc in documents:
        old_id = previous.by_hash.get(doc.sha256) if previous is not None else None
        p_base, s_base = len(plan.passages), len(plan.sentences)
        if previous is not None and old_id is not None:
            p0, p1 = previous.passage_rows.get(old_id, (0, 0))
            s0, s1 = previous.sentence_rows.get(old_id, (0, 0))
            plan.sentences.extend(Sentence(doc.doc_id, r.start, r.end) for r in previous.sentences[s0:s1])
            plan.passages.extend(
                PassageRecord(doc.doc_id, r.start, r.end, r.first_sentence - s0 + s_base, r.last_sentence - s0 + s_base)
                for r in previous.passages[p0:p1]
            )
            plan.copies.append((p_base, p0, p1, s_base, s0, s1))
            plan.reused_documents += 1
            continue
        doc_sentences = split_sentences(doc)
        chunks: list[ChunkSpec] = chunk_sentences(doc, doc_sentences, max_words, overlap)
        plan.passages.extend(
            PassageRecord(doc.doc_id, c.start, c.end, s_base + c.first_sentence, s_base + c.last_sentence) for c in chunks
        )
        plan.sentences.extend(doc_sentences)
        plan.new_passages.extend(range(p_base, len(plan.passages)))
        plan.new_sentences.extend(range(s_base, len(plan.sentences)))
    return plan


def outdated(manifest: dict, chunking: dict) -> list[str]:
    """What differs between how an index was built and how this qa would build it with ``chunking`` (empty: nothing)."""
    reasons = []
    if manifest.get("qa_version") != __version__:
        reasons.append(f"qa version {manifest.get('qa_version')!r}")
    if manifest.get("chunking") != chunking:
        reasons.append(f"chunking {manifest.get('chunking')!r}")
    return reasons


def _previous_index(target: Path, embedder: Embedder, chunking: dict) -> _Previous | None:
    """The reusable parts of the index in ``target``, or None (no index, another model or settings, damage)."""
    try:
        manifest = read_manifest(target)
    except QAError as exc:
        if not isinstance(exc, IndexNotFoundError):
            logger.info("not reusing %s: %s", target, exc)
        return None
    model = manifest.get("model", {})
    reasons = outdated(manifest, chunking)
    if model.get("name") != embedder.name or model.get("dimension") != embedder.dimension:
        reasons.append(f"model {model.get('name')!r}")
    if reasons:
        logger.info("embedding every document: the index in %s was built with %s", target, ", ".join(reasons))
        return None
    try:
        files = manifest["files"]
        passages = parse_records(PassageRecord, _read_verified(target / PASSAGES, files[PASSAGES]))
        sentences = parse_records(Sentence, _read_verified(target / SENTENCES, files[SENTENCES]))
        words = json.loads(_read_verified(target / WORDS, files[WORDS]).decode("utf-8"))
        previous = _Previous(
            by_hash={},
            passage_rows=passages.doc_ranges(),
            sentence_rows=sentences.doc_ranges(),
            passages=passages,
            sentences=sentences,
            passage_vectors=_map_verified_npy(target / PASSAGE_VECTORS, files[PASSAGE_VECTORS]),
            sentence_vectors=_map_verified_npy(target / SENTENCE_VECTORS, files[SENTENCE_VECTORS]),
            words={w: i for i, w in enumerate(words)},
            word_vectors=_map_verified_npy(target / WORD_VECTORS, files[WORD_VECTORS]),
        )
        for info in manifest["documents"]:
            previous.by_hash.setdefault(info["text_sha256"], info["doc_id"])
        dim = embedder.dimension
        if (
            previous.passage_vectors.shape != (len(passages), dim)
            or previous.sentence_vectors.shape != (len(sentences), dim)
            or previous.word_vectors.shape != (len(words), dim)
        ):
            raise CorruptIndexError("counts or dimensions differ")
    except (QAError, OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("embedding every document: cannot reuse the index in %s (%s: %s)", target, type(exc).__name__, exc)
        return None
    return previous


def _read_verified(path: Path, info: dict) -> bytes:
    """A file's bytes, checked against its manifest entry (one read: what is checked is what is used)."""
    data = path.read_bytes()
    if len(data) != info["bytes"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CorruptIndexError(f"{path.name} does not match its checksum")
    return data


def _map_verified_npy(path: Path, info: dict) -> np.ndarray:
    """Memory-map a ``.npy`` file after checking its SHA-256, both through one open file (so the same bytes)."""
    with path.open("rb") as handle:
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        if handle.tell() != info["bytes"] or digest.hexdigest() != info["sha256"]:
            raise CorruptIndexError(f"{path.name} does not match its checksum")
        handle.seek(0)
        shape, fortran, dtype = _npy_header(handle)
        if dtype.hasobject:
            raise CorruptIndexError(f"{path.name} holds objects")
        if int(np.prod(shape)) == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(handle, dtype=dtype, mode="r", shape=shape, offset=handle.tell(), order="F" if fortran else "C")


def corpus_words(texts: Sequence[str], limit: int = MAX_WORDS_EMBEDDED) -> list[str]:
    """Distinct content words of the texts (no pure numbers), the ``limit`` most frequent, sorted."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in content_words(text):
            if not word.isdigit():
                counts[word] = counts.get(word, 0) + 1
    if len(counts) > limit:
        counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
    return sorted(counts)


def save_index(
    target: Path,
    documents: Sequence[Document],
    passages: Sequence[PassageRecord],
    sentences: Sequence[Sentence],
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    embedder: Embedder,
    chunking: dict,
    exact_max: int = DEFAULT_EXACT_MAX,
    words: Sequence[str] = (),
    word_vectors: np.ndarray | None = None,
    build_stats: dict | None = None,
) -> Path:
    """Write an index from embedded passages and sentences (see :func:`write_index`).

    ``build_stats`` (what was embedded and reused) is recorded as the manifest's ``"build"``.
    """
    import faiss

    texts_by_id = {doc.doc_id: doc.text for doc in documents}
    with build_lock(target):
        _recover(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
        try:
            index, index_info = make_vector_index(passage_vectors, exact_max)
            faiss.write_index(index, str(tmp / FAISS_INDEX))
            del index
            np.save(tmp / PASSAGE_VECTORS, np.asarray(passage_vectors, dtype=np.float32), allow_pickle=False)
            np.save(tmp / SENTENCE_VECTORS, sentence_vectors.astype(np.float16), allow_pickle=False)
            if word_vectors is None:
                word_vectors = np.zeros((0, passage_vectors.shape[1]), dtype=np.float32)
            np.save(tmp / WORD_VECTORS, word_vectors.astype(np.float16), allow_pickle=False)
            (tmp / WORDS).write_text(json.dumps(list(words), ensure_ascii=False), encoding="utf-8")
            _bm25_index([texts_by_id[p.doc_id][p.start : p.end] for p in passages]).save(
                str(tmp / BM25_DIR), show_progress=False
            )
            _write_jsonl(tmp / DOCUMENTS, ({"doc_id": d.doc_id, "title": d.title, "source": d.source, "text": d.text} for d in documents))
            _write_jsonl(tmp / PASSAGES, record_lines(passages, PASSAGE_FIELDS))
            _write_jsonl(tmp / SENTENCES, record_lines(sentences, SENTENCE_FIELDS))
            files = {}
            for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
                entry = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
                if entry["bytes"] > HASH_MAX_BYTES:
                    entry["sample_sha256"] = sampled_sha256(path)
                files[path.relative_to(tmp).as_posix()] = entry
            manifest = {
                "format_version": FORMAT_VERSION,
                "qa_version": __version__,
                "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "model": {"name": embedder.name, "dimension": int(passage_vectors.shape[1]), "normalized": True},
                "index": {**index_info, "exact_max": exact_max},
                "chunking": chunking,
                "counts": {"documents": len(documents), "passages": len(passages), "sentences": len(sentences)},
                "documents": [_source_info(doc) for doc in documents],
                "build": build_stats or {},
                "files": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            _fsync_tree(tmp)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("wrote index %s (%d passages, %s)", target, len(passages), index_info["type"])
    return target


def _write_jsonl(path: Path, rows: object) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:  # type: ignore[attr-defined]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def read_manifest(path: str | os.PathLike[str]) -> dict:
    """Read and check the manifest of an index folder, without loading the index.

    Raises:
        IndexNotFoundError: No index in the folder.
        CorruptIndexError: The manifest is unreadable.
        IndexVersionError: The format version is not this package's.
    """
    folder = Path(path)
    _recover(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise IndexNotFoundError(
            f"no index in {str(folder)!r} (missing {MANIFEST}); build one with `qa index PATH --index {folder}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = manifest["format_version"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptIndexError(f"unreadable {MANIFEST} in {str(folder)!r} ({exc}); rebuild the index with `qa index`") from None
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise IndexVersionError(
            f"index {str(folder)!r} has format version {version!r}, this qa reads versions "
            f"{' and '.join(map(str, READABLE_VERSIONS))}; "
            + ("upgrade qa, or " if newer else "")
            + "rebuild the index with `qa index`"
        )
    return manifest


def check_files(folder: Path, manifest: dict, full: bool = False) -> None:
    """Check every file listed in the manifest: it exists with its size, and its content is unchanged.

    Files up to ``HASH_MAX_BYTES`` are checked against their SHA-256; larger ones
    against a digest of 64 sampled blocks (so a load does not hash gigabytes;
    truncation, a damaged header and most overwrites are still caught).  With
    ``full``, every file is hashed whole (see :func:`verify_index`).

    Raises:
        CorruptIndexError: A file is missing, truncated or altered.
    """
    for name, info in manifest.get("files", {}).items():
        path = folder / name
        fix = "rebuild the index with `qa index`"
        if not path.is_file():
            raise CorruptIndexError(f"index file {name!r} is missing from {str(folder)!r}; {fix}")
        size = path.stat().st_size
        if size != info["bytes"]:
            raise CorruptIndexError(
                f"index file {name!r} in {str(folder)!r} has {size} bytes, expected {info['bytes']} (truncated or altered); {fix}"
            )
        if full or size <= HASH_MAX_BYTES:
            altered = file_sha256(path) != info["sha256"]
        else:
            altered = "sample_sha256" in info and sampled_sha256(path) != info["sample_sha256"]
        if altered:
            raise CorruptIndexError(f"index file {name!r} in {str(folder)!r} does not match its checksum; {fix}")


def verify_index(path: str | os.PathLike[str]) -> dict:
    """Check an index folder completely: manifest, and the full SHA-256 of every file, however large.

    Returns:
        The manifest.

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: See :func:`read_manifest` and :func:`check_files`.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    check_files(folder, manifest, full=True)
    return manifest


def stale_documents(manifest: dict) -> list[str]:
    """List the documents whose source file changed since the build.

    A source file that no longer exists is not stale: the index keeps its text.

    Returns:
        ``doc_id`` of each changed document.
    """
    changed = []
    for info in manifest["documents"]:
        if "file_sha256" not in info:
            continue
        path = Path(info["source"])
        try:
            stat = path.stat()
        except OSError:
            continue
        if stat.st_size == info["file_size"] and stat.st_mtime_ns == info["file_mtime_ns"]:
            continue
        if stat.st_size != info["file_size"] or file_sha256(path) != info["file_sha256"]:
            changed.append(info["doc_id"])
    return changed


def load_store(path: str | os.PathLike[str], model: str | None = None, check_sources: bool = True) -> Store:
    """Load and verify an index folder.

    Args:
        path: The index folder.
        model: Model the caller will query with; None accepts the index's own.
        check_sources: Refuse an index whose source files changed since the build.

    Returns:
        The loaded index.

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: See :func:`read_manifest` and :func:`check_files`.
        ModelMismatchError: ``model`` is not the index's model.
        StaleIndexError: A source document changed.
    """
    import faiss

    folder = Path(path)
    manifest = read_manifest(folder)
    built_with = manifest["model"]["name"]
    if model is not None and canonical_model_name(model) != built_with:
        raise ModelMismatchError(
            f"index {str(folder)!r} was built with model {built_with!r}, not {canonical_model_name(model)!r}; "
            f"query it with that model, or rebuild it with `qa index PATH --index {folder} --model {model}`"
        )
    if check_sources:
        changed = stale_documents(manifest)
        if changed:
            shown = ", ".join(repr(c) for c in changed[:5]) + (" ..." if len(changed) > 5 else "")
            raise StaleIndexError(
                f"{len(changed)} document(s) changed since index {str(folder)!r} was built ({shown}); "
                "rebuild it with `qa index` so that answers and citations match the files"
            )
    check_files(folder, manifest)
    try:
        documents = {}
        for row in _read_jsonl(folder / DOCUMENTS):
            documents[row["doc_id"]] = Document(row["doc_id"], row["title"], row["text"], row["source"])
        passages = parse_records(PassageRecord, (folder / PASSAGES).read_bytes())
        sentences = parse_records(Sentence, (folder / SENTENCES).read_bytes())
        index = faiss.read_index(str(folder / FAISS_INDEX))
        passage_vectors = VectorRows(folder / PASSAGE_VECTORS)
        vectors = VectorIndex(index, manifest["index"], passage_vectors)
        sentence_vectors = _map_npy(folder / SENTENCE_VECTORS)
        bm25 = load_bm25(folder / BM25_DIR)
        words = {w: i for i, w in enumerate(json.loads((folder / WORDS).read_text(encoding="utf-8")))}
        word_vectors = _map_npy(folder / WORD_VECTORS)
    except QAError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means a damaged index
        raise CorruptIndexError(f"cannot read index {str(folder)!r} ({type(exc).__name__}: {exc}); rebuild it with `qa index`") from None
    dimension = manifest["model"]["dimension"]
    counts = manifest["counts"]
    if (
        vectors.ntotal != len(passages)
        or len(passages) != counts["passages"]
        or vectors.d != dimension
        or passage_vectors.shape != (len(passages), dimension)
        or sentence_vectors.shape != (len(sentences), dimension)
        or len(documents) != counts["documents"]
        or word_vectors.shape != (len(words), dimension)
    ):
        raise CorruptIndexError(f"index {str(folder)!r} is inconsistent (counts or dimensions differ); rebuild it with `qa index`")
    return Store(folder, manifest, documents, passages, sentences, vectors, sentence_vectors, bm25, words, word_vectors)


def _map_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only (pages are read when rows are used; no pickle)."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.dtype.hasobject:
        raise CorruptIndexError(f"{path.name} holds objects")
    return array.view(np.ndarray)  # still backed by the map; plain-array indexing is cheaper than np.memmap's


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
