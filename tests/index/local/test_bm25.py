"""The NumPy reader of saved bm25s indexes gives bm25s's own scores."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np
import pytest

from qa.index.local.bm25 import DATA, INDPTR, PARAMS, load_bm25
from qa.errors import CorruptIndexError
from qa.documents.lexical import tokenize

CORPUS = [
    "Japan and the European Union signed a security and defence partnership in Tokyo.",
    "The partnership covers joint military drills, the defence industry and space security.",
    "Japan is developing a new fighter jet with Italy and Britain.",
    "Borrell heads to South Korea, where North Korea tops the agenda.",
    "Naval cooperation includes port calls and joint exercises with third countries.",
]


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, bm25s.BM25]:
    retriever = bm25s.BM25()
    retriever.index([tokenize(text) for text in CORPUS], show_progress=False)
    retriever.save(str(tmp_path / "bm25"))
    return tmp_path / "bm25", retriever


@pytest.mark.parametrize(
    "question",
    ["Who signed the defence partnership?", "joint joint drills", "fighter jet Italy", "nothing matches zebra", "Korea"],
)
def test_scores_equal_bm25s(saved: tuple[Path, bm25s.BM25], question: str) -> None:
    folder, retriever = saved
    ours = load_bm25(folder)
    tokens = tokenize(question)
    known = [t for t in tokens if t in retriever.vocab_dict and t]
    expected = retriever.get_scores(known) if known else np.zeros(len(CORPUS))
    np.testing.assert_allclose(ours.scores(tokens), expected, rtol=1e-6, atol=1e-7)
    assert ours.num_docs == len(CORPUS)


def test_doc_freq_counts_passages(saved: tuple[Path, bm25s.BM25]) -> None:
    ours = load_bm25(saved[0])
    assert ours.doc_freq(tokenize("joint")[0]) == 2
    assert ours.doc_freq(tokenize("Japan")[0]) == 2
    assert ours.doc_freq("zebra") == 0 and ours.doc_freq("") == 0


def test_missing_file_is_named(saved: tuple[Path, bm25s.BM25]) -> None:
    (saved[0] / DATA).unlink()
    with pytest.raises(CorruptIndexError, match="cannot read the BM25 index"):
        load_bm25(saved[0])


def test_other_bm25_variant_is_refused(saved: tuple[Path, bm25s.BM25]) -> None:
    params = json.loads((saved[0] / PARAMS).read_text())
    (saved[0] / PARAMS).write_text(json.dumps({**params, "method": "bm25+"}))
    with pytest.raises(CorruptIndexError, match="uses method 'bm25\\+'"):
        load_bm25(saved[0])


def test_inconsistent_arrays_are_refused(saved: tuple[Path, bm25s.BM25]) -> None:
    indptr = np.load(saved[0] / INDPTR)
    np.save(saved[0] / INDPTR, indptr[:-1] if len(indptr) > 2 else indptr * 2, allow_pickle=False)
    with pytest.raises(CorruptIndexError, match="inconsistent"):
        load_bm25(saved[0])
