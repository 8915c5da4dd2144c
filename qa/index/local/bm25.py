"""Score questions against a saved bm25s index with NumPy alone.

Builds use bm25s (``qa.index.local.store``), which writes the BM25 weight of every
(term, passage) pair as a sparse CSC matrix in plain ``.npy`` files plus a JSON
vocabulary and parameters.  Answering needs only a sum of columns of that
matrix, so the query path reads the files itself: it never imports bm25s or
SciPy (about 0.3 s of a 0.9 s cold start), and loads nothing with pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import CorruptIndexError

DATA, INDICES, INDPTR = "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"
VOCAB, PARAMS = "vocab.index.json", "params.index.json"
EAGER_METHODS = ("robertson", "lucene", "atire")
"""bm25s variants whose score is the sum of the stored weights (BM25L and BM25+ add a
per-term score for passages without the term, which these files do not hold)."""


@dataclass(frozen=True)
class Bm25:
    """The BM25 weights of a saved index.

    Attributes:
        vocab: Column of each term.
        data: Weight of each stored (term, passage) pair, column by column.
        indices: Passage of each stored pair.
        indptr: Column ``t`` spans ``data[indptr[t]:indptr[t + 1]]``.
        num_docs: Number of passages.
    """

    vocab: dict[str, int]
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    num_docs: int

    def doc_freq(self, term: str) -> int:
        """Number of passages that contain ``term`` (0 when it is not in the vocabulary)."""
        column = self.vocab.get(term)
        return 0 if column is None else int(self.indptr[column + 1] - self.indptr[column])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage: the sum of the weights of the query's tokens (each occurrence counts).

        Tokens not in the vocabulary add nothing, as in bm25s.
        """
        out = np.zeros(self.num_docs, dtype=np.float32)
        for token in tokens:
            column = self.vocab.get(token)
            if column is not None:
                start, end = self.indptr[column], self.indptr[column + 1]
                out[self.indices[start:end]] += self.data[start:end]  # a column holds each passage once
        return out


def load_bm25(folder: Path) -> Bm25:
    """Read the bm25s files in ``folder`` (no pickle).

    Raises:
        CorruptIndexError: A file is missing or unreadable, the arrays disagree, or the
            index uses a BM25 variant these files cannot score.
    """
    try:
        params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))
        vocab = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
        data = np.load(folder / DATA, allow_pickle=False)
        indices = np.load(folder / INDICES, allow_pickle=False)
        indptr = np.load(folder / INDPTR, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CorruptIndexError(f"cannot read the BM25 index in {str(folder)!r} ({exc}); rebuild it with `qa index`") from None
    method = params.get("method")
    if method not in EAGER_METHODS:
        raise CorruptIndexError(f"the BM25 index in {str(folder)!r} uses method {method!r}; rebuild it with `qa index`")
    num_docs = params.get("num_docs")
    if not isinstance(vocab, dict) or not isinstance(num_docs, int) or indptr.ndim != 1 or len(indptr) < 1:
        raise CorruptIndexError(f"the BM25 index in {str(folder)!r} is inconsistent; rebuild it with `qa index`")
    columns = len(indptr) - 1
    # bm25s gives the empty token an id past the last column; such terms occur in no passage
    terms = {str(term): int(column) for term, column in vocab.items() if int(column) < columns}
    if (
        len(terms) < columns
        or data.shape != indices.shape
        or len(data) != int(indptr[-1])
        or (len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= num_docs))
    ):
        raise CorruptIndexError(f"the BM25 index in {str(folder)!r} is inconsistent; rebuild it with `qa index`")
    return Bm25(terms, data, indices, indptr.astype(np.int64), num_docs)
