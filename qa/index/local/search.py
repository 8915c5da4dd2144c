"""The local index's own search: dense (FAISS), lexical (BM25) and their weighted reciprocal rank fusion."""

from __future__ import annotations

import numpy as np

from qa.index.local.bm25 import Bm25
from qa.index.local.vectors import VectorIndex
from qa.index.store import DENSE_WEIGHT, Hit

RRF_K = 60
"""Rank offset of reciprocal rank fusion (Cormack et al., 2009)."""


def dense_search(vectors: VectorIndex, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Nearest passages by inner product of unit vectors.

    Returns:
        ``(passage, cosine)`` pairs, best first.
    """
    k = min(k, vectors.ntotal)
    if k <= 0:
        return []
    scores, ids = vectors.search(query_vector.reshape(1, -1), k)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def bm25_search(bm25: Bm25, query_tokens: list[str], k: int) -> list[tuple[int, float]]:
    """Best passages by BM25; passages that share no term with the query are left out.

    Returns:
        ``(passage, bm25 score)`` pairs, best first.
    """
    scores = bm25.scores(query_tokens)
    k = min(k, len(scores))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


def fuse(
    rankings: list[list[tuple[int, float]]], k: int = RRF_K, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: each list adds ``weight / (k + rank)`` to an item's score.

    Args:
        rankings: Ranked lists of ``(item, score)``; scores are ignored.
        k: Rank offset.
        weights: One weight per list; None weighs all lists 1.

    Returns:
        ``(item, fused score)``, best first; ties keep first-seen order.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"fuse needs one weight per ranking: {len(rankings)} rankings, {len(weights)} weights")
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (item, _) in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])



def search(
    vectors: VectorIndex,
    bm25: Bm25,
    query_vector: np.ndarray,
    query_tokens: list[str],
    top_k: int,
    method: str = "hybrid",
    candidates: int = 50,
) -> list[Hit]:
    """The ``top_k`` best passages of a local index: FAISS and BM25 fused by weighted RRF.

    Args:
        vectors: The passages' vector index.
        bm25: The passages' BM25 index.
        query_vector: Unit vector of the question.
        query_tokens: Tokens of the question (see :func:`qa.documents.lexical.tokenize`).
        top_k: Passages to return.
        method: ``"hybrid"`` (weighted RRF of dense and BM25), ``"dense"`` or ``"bm25"``.
        candidates: Depth of each ranked list before fusion.

    Returns:
        Hits, best first.
    """
    depth = max(candidates, top_k)
    if method == "dense":
        ranked = dense_search(vectors, query_vector, top_k)
    elif method == "bm25":
        ranked = bm25_search(bm25, query_tokens, top_k)
    else:
        ranked = fuse([dense_search(vectors, query_vector, depth), bm25_search(bm25, query_tokens, depth)], weights=[DENSE_WEIGHT, 1.0])
    return [Hit(passage, score, rank) for rank, (passage, score) in enumerate(ranked[:top_k], start=1)]
