"""The store seam: what the engine needs from an index, whatever holds it.

Two implementations, picked by the location string (:func:`qa.index.location.parse_location`)
in one function, :func:`qa.index.backend.open_store`:

* :class:`qa.index.local.store.Store`: a local folder (FAISS + bm25s files), searched by weighted
  reciprocal rank fusion in this process (:mod:`qa.index.local.search`);
* :class:`qa.index.milvus.store.MilvusStore`: a Milvus Lite directory or a Milvus server,
  searched by one ``hybrid_search`` call (dense + Milvus' BM25 function, RRF).

Both return the same :class:`Hit` objects and expose the same records,
so ranking, reading and citations above the seam do not change.  Retrieval is the
backend's own (as in Haystack 2): the contract names only its result.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from qa.index.records import PassageRecord
from qa.types import Document, Sentence

METHODS: tuple[str, ...] = ("hybrid", "dense", "bm25")
"""Retrieval methods every store offers."""
DENSE_WEIGHT = 0.5
"""Weight of the dense ranking in the hybrid fusion (BM25's is 1), the same in both backends.  Fitted on
the tune splits of ``eval/qa_article.jsonl`` and the SQuAD sample, where BM25 ranks the gold passage
first more often than the dense model (MRR 0.917 vs 0.811 on the article, 0.858 vs 0.697 on SQuAD);
weight 0.5 kept BM25's tune MRR (0.917, 0.856) and gained on the article's held-out split (0.887 vs 0.879)."""


@dataclass(frozen=True)
class Hit:
    """One retrieved passage.

    Attributes:
        passage: Position of the passage in the store.
        score: Fused (or single-method) score, higher is better.
        rank: 1-based rank in the result list.
    """

    passage: int
    score: float
    rank: int


def check_method(method: str) -> str:
    """Return ``method`` if it is a known retrieval method.

    Raises:
        ValueError: Unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"retrieval must be one of {', '.join(METHODS)}. Currently, retrieval is {method!r}.")
    return method


class TermStats(Protocol):
    """Document frequencies of the stemmed terms over the passages (for IDF weights)."""

    def doc_freq(self, term: str) -> int:
        """Number of passages that contain ``term``."""
        ...


@runtime_checkable
class IndexStore(Protocol):
    """What the engine reads from a loaded index.

    Attributes:
        location: Where it was loaded from (a folder, a ``.db`` path or a server URI).
        manifest: Model, dimension, chunking, counts, documents, build time.
        documents: Documents by id, in index order.
        passages: Passage records by position (the ``passage`` of a :class:`Hit`).
        sentences: Sentence records by global index.
        sentence_vectors: Rows indexable by a list of sentence indices (unit vectors).
        words: Row of each corpus word with a vector in ``word_vectors``.
        word_vectors: ``(len(words), dimension)`` unit vectors.
        bm25: Term statistics (``doc_freq``).
        sentence_cache: Per-sentence term data filled by :mod:`qa.answering.sentences`.
    """

    manifest: dict
    documents: Mapping[str, Document]
    passages: Sequence[PassageRecord]
    sentences: Sequence[Sentence]
    sentence_vectors: np.ndarray
    words: Mapping[str, int]
    word_vectors: np.ndarray
    bm25: TermStats
    sentence_cache: MutableMapping[int, object]

    @property
    def location(self) -> str:
        """Where the index was loaded from."""
        ...

    @property
    def model(self) -> str:
        """Name of the embedding model the index was built with."""
        ...

    def search(self, query_vector: np.ndarray, query_tokens: list[str], top_k: int, method: str, candidates: int) -> list[Hit]:
        """The ``top_k`` best passages for a question, best first."""
        ...

    def stamp(self) -> Hashable | None:
        """Identity of the build now at the location (changes when a build or an update is committed); None when there is none."""
        ...

