"""The store seam: what the engine needs from an index, whatever holds it.

Two implementations, picked by the location string (:func:`qa.location.parse_location`)
in one function, :func:`open_store`:

* :class:`qa.store.Store`: a local folder (FAISS + bm25s files), searched by weighted
  reciprocal rank fusion in this process;
* :class:`qa.milvus_store.MilvusStore`: a Milvus Lite directory or a Milvus server,
  searched by one ``hybrid_search`` call (dense + Milvus' BM25 function, RRF).

Both return the same :class:`qa.retrieve.Hit` objects and expose the same records,
so ranking, reading and citations above the seam do not change.  Retrieval is the
backend's own (as in Haystack 2): the contract names only its result.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from qa.location import Location, parse_location
from qa.records import PassageRecord
from qa.types import Document, Sentence

if TYPE_CHECKING:
    from qa.retrieve import Hit


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
        passages: Passage records by position (the ``passage`` of a :class:`qa.retrieve.Hit`).
        sentences: Sentence records by global index.
        sentence_vectors: Rows indexable by a list of sentence indices (unit vectors).
        words: Row of each corpus word with a vector in ``word_vectors``.
        word_vectors: ``(len(words), dimension)`` unit vectors.
        bm25: Term statistics (``doc_freq``).
        sentence_cache: Per-sentence term data filled by :mod:`qa.answer`.
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


def open_store(location: str | os.PathLike[str] | Location | None, model: str | None = None) -> IndexStore:
    """Load the index at a location: a local folder, Milvus Lite (``.db``) or a Milvus server (``http(s)://``).

    Args:
        location: See :func:`qa.location.parse_location` (None: the default folder).
        model: Model the caller will query with; None accepts the index's own.

    Raises:
        QAError: The index is missing, damaged, of another version or model, or the server cannot be reached.
    """
    where = parse_location(location)
    if where.is_milvus:
        from qa.milvus_store import load_milvus_store

        return load_milvus_store(where, model)
    from qa.store import load_store

    return load_store(where.path, model)
