"""The FAISS vector index of the passages: exact for small corpora, IVF-SQ8 above, with exact re-ranking.

:func:`make_vector_index` builds the index suited to the number of vectors and
measures its search parameters; :class:`VectorIndex` searches it the way the
engine does; :class:`VectorRows` reads exact vectors row by row for re-ranking.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qa.errors import CorruptIndexError
from qa.index.local.manifest import npy_header

logger = logging.getLogger(__name__)

DEFAULT_EXACT_MAX = 20_000
"""Up to this many passages the index is exact (``IndexFlatIP``); above it, IVF-SQ8 (:func:`make_vector_index`).

One query on one thread: flat 1.4 ms at 10,000 and 3.7 ms at 20,000 passages, IVF-SQ8 0.6 ms at
100,000 (``eval/bench/run.py``, 384 dimensions, a 2-core machine shared with other work)."""
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


class VectorRows:
    """Rows of a ``.npy`` matrix (float32 passage vectors, float16 sentence vectors), read on demand with
    ``pread`` from an open file.

    Unlike a memory map, the rows read do not stay mapped in the process (the
    operating system's page cache keeps the hot ones), so reading does not
    grow the resident memory towards the file's size; and a file truncated or
    replaced under a running server gives a :class:`qa.CorruptIndexError`, where
    a memory map would kill the process with a bus error.  Thread-safe.

    Raises:
        ValueError: The file is not a C-ordered matrix of ``dtype``, or is shorter than its header says.
    """

    def __init__(self, path: Path, dtype: np.dtype | type = np.float32) -> None:
        with path.open("rb") as handle:
            shape, fortran, found = npy_header(handle)
            offset = handle.tell()
        if len(shape) != 2 or fortran or found != np.dtype(dtype):
            raise ValueError(f"{path.name} is not a {np.dtype(dtype).name} matrix")
        self.path = path
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = found
        self._offset = offset
        self._row_bytes = self.shape[1] * found.itemsize
        if path.stat().st_size < offset + self.shape[0] * self._row_bytes:
            raise ValueError(f"{path.name} is shorter than its header says")
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def sha256(self) -> tuple[int, str]:
        """Size and SHA-256 of the whole file, read through the descriptor the rows are read from (the same bytes)."""
        digest, offset = hashlib.sha256(), 0
        while block := os.pread(self._fd, 1 << 20, offset):
            digest.update(block)
            offset += len(block)
        return offset, digest.hexdigest()

    def __getitem__(self, rows: int | slice | np.ndarray | list[int]) -> np.ndarray:
        """The rows with these indices, in the order given (one row for an int); runs of consecutive rows take one read each.

        Raises:
            IndexError: A row outside the matrix.
            CorruptIndexError: The file was cut short since it was opened (rebuild the index).
        """
        if isinstance(rows, (int, np.integer)):
            return self[np.array([rows])][0]
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.shape[0]))
        wanted = np.asarray(rows, dtype=np.int64).ravel()
        if not len(wanted):
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        if (wanted.min() < 0 or wanted.max() >= self.shape[0]):
            raise IndexError(f"row out of range for {self.path.name} of {self.shape[0]} rows")
        order = np.argsort(wanted, kind="stable")
        ids = wanted[order]
        found = np.empty((len(ids), self.shape[1]), dtype=self.dtype)
        cuts = (np.flatnonzero(np.diff(ids) != 1) + 1).tolist()
        for start, end in zip([0, *cuts], [*cuts, len(ids)]):
            size = (end - start) * self._row_bytes
            data = os.pread(self._fd, size, self._offset + int(ids[start]) * self._row_bytes)
            if len(data) != size:
                raise CorruptIndexError(
                    f"index file {self.path.name} was cut short while the index was loaded (truncated or altered); "
                    "rebuild the index with `qa index`"
                )
            found[start:end] = np.frombuffer(data, dtype=self.dtype).reshape(end - start, self.shape[1])
        out = np.empty_like(found)
        out[order] = found
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
