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
    files/                 copies of the files added with qa.add_documents (see qa.index.updates)

The code is split by concern: :mod:`qa.files` (hashing), :mod:`qa.index.local.manifest`
(file names, the manifest and the checks made on load), :mod:`qa.index.local.vectors` (the
FAISS index), :mod:`qa.index.local.bm25` (BM25 scores), :mod:`qa.index.local.search` (the
fused search), :mod:`qa.index.local.build` (the incremental build plan and the atomic write)
and this module (loading).

A loaded index does not read its large vector files into memory: sentence
vectors are read row by row when answers score them, and passage vectors when
IVF candidates are re-ranked (with ``pread``, :class:`qa.index.local.vectors.VectorRows`).
Nothing is memory-mapped, so a vector file truncated under a running server
gives a :class:`qa.CorruptIndexError`, not a bus error that kills the process.
Word vectors (at most ``MAX_WORDS_EMBEDDED`` rows, 150 MB at 384 dimensions) are
read into memory: answers look up many scattered rows of them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.index.local.bm25 import Bm25, load_bm25
from qa.index.embedding import canonical_model_name
from qa.errors import CorruptIndexError, ModelMismatchError, QAError, StaleIndexError
from qa.index.local.manifest import (
    BM25_DIR,
    DOCUMENTS,
    FAISS_INDEX,
    MANIFEST,
    PASSAGE_VECTORS,
    PASSAGES,
    SENTENCE_VECTORS,
    SENTENCES,
    WORD_VECTORS,
    WORDS,
    check_files,
    read_jsonl,
    read_manifest,
    read_verified,
    stale_documents,
)
from qa.index.records import PassageRecord, RecordTable, parse_records
from qa.index.local.search import search
from qa.index.store import Hit
from qa.types import Document, Sentence
from qa.index.local.vectors import (
    VectorIndex,
    VectorRows,
)

logger = logging.getLogger(__name__)

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
        sentence_vectors: ``(len(sentences), dimension)`` float16 unit vectors, read by row (:class:`VectorRows`).
        bm25: The BM25 weights of the passages (read without bm25s, see :mod:`qa.index.local.bm25`).
        words: Row of each embedded corpus word in ``word_vectors``.
        word_vectors: ``(len(words), dimension)`` unit vectors.
    """

    path: Path
    manifest: dict
    documents: dict[str, Document]
    passages: RecordTable[PassageRecord]
    sentences: RecordTable[Sentence]
    vectors: VectorIndex
    sentence_vectors: VectorRows
    bm25: Bm25
    words: dict[str, int]
    word_vectors: np.ndarray
    sentence_cache: dict[int, object] = field(default_factory=dict, repr=False, compare=False)
    """Per-sentence term data computed on first use by :mod:`qa.answering.sentences` (filled lazily, thread-safe by replacement)."""

    @property
    def model(self) -> str:
        """Name of the embedding model the index was built with."""
        return str(self.manifest["model"]["name"])

    @property
    def location(self) -> str:
        """The folder it was loaded from, as a location string (see :mod:`qa.index.location`)."""
        return str(self.path)

    def search(
        self, query_vector: np.ndarray, query_tokens: list[str], top_k: int, method: str = "hybrid", candidates: int = 50
    ) -> list[Hit]:
        """The ``top_k`` best passages: FAISS and BM25 fused by weighted RRF (see :func:`qa.index.local.search.search`)."""
        return search(self.vectors, self.bm25, query_vector, query_tokens, top_k, method, candidates)

    def stamp(self) -> tuple[int, int, int] | None:
        """Identity of the manifest file now in the folder (a build swaps in a new one); None when there is none."""
        try:
            stat = (self.path / MANIFEST).stat()
        except OSError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


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
        for row in read_jsonl(folder / DOCUMENTS):
            doc = document_of(row)
            documents[doc.doc_id] = doc
        passages = parse_records(PassageRecord, (folder / PASSAGES).read_bytes())
        sentences = parse_records(Sentence, (folder / SENTENCES).read_bytes())
        index = faiss.read_index(str(folder / FAISS_INDEX))
        passage_vectors = VectorRows(folder / PASSAGE_VECTORS)
        vectors = VectorIndex(index, manifest["index"], passage_vectors)
        sentence_vectors = VectorRows(folder / SENTENCE_VECTORS, np.float16)
        bm25 = load_bm25(folder / BM25_DIR)
        words = {w: i for i, w in enumerate(json.loads((folder / WORDS).read_text(encoding="utf-8")))}
        word_vectors = _read_npy(folder / WORD_VECTORS)
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


def document_of(row: dict) -> Document:
    """The :class:`Document` of one line of ``documents.jsonl``.

    Raises:
        CorruptIndexError: The page offsets are not non-decreasing integers inside the text.
    """
    doc = Document(row["doc_id"], row["title"], row["text"], row["source"], tuple(row.get("page_starts", ())), str(row.get("layout", "")))
    starts = doc.page_starts
    if starts and (
        any(not isinstance(x, int) for x in starts)
        or starts[0] != 0
        or any(b < a for a, b in zip(starts, starts[1:]))
        or starts[-1] > len(doc.text)
    ):
        raise CorruptIndexError(f"document {doc.doc_id!r} has invalid page offsets; rebuild the index with `qa index`")
    return doc


def read_documents(path: str | os.PathLike[str], manifest: dict | None = None) -> list[Document]:
    """The documents of an index, in index order, checked against the manifest (without loading the rest).

    Args:
        path: The index folder.
        manifest: Its manifest, when already read.

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: No readable, intact index in ``path``.
    """
    folder = Path(path)
    manifest = read_manifest(folder) if manifest is None else manifest
    try:
        data = read_verified(folder / DOCUMENTS, manifest["files"][DOCUMENTS])
        docs = [document_of(json.loads(line)) for line in data.decode("utf-8").splitlines() if line.strip()]
    except QAError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptIndexError(f"cannot read the documents of index {str(folder)!r} ({type(exc).__name__}: {exc}); rebuild it with `qa index`") from None
    if len(docs) != manifest["counts"]["documents"]:
        raise CorruptIndexError(f"index {str(folder)!r} is inconsistent (document count differs); rebuild it with `qa index`")
    return docs


def _read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file read into memory (no pickle; never memory-mapped, see the module's docstring)."""
    array = np.load(path, allow_pickle=False)
    if array.dtype.hasobject:
        raise CorruptIndexError(f"{path.name} holds objects")
    return array
