"""The store seam: one protocol, two implementations, picked by the location string."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qa
from qa.documents.lexical import tokenize
from qa.index.milvus.store import MilvusStore
from qa.index.local.search import search
from qa.index.store import Hit
from qa.index.backend import open_store
from qa.index.store import IndexStore
from qa.index.local.store import Store
from tests.conftest import HashingEmbedder


def test_both_backends_follow_the_protocol_and_search_alike(fake_index: Path, small_docs: list[qa.Document], tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    qa.build_index(small_docs, str(tmp_path / "same.db"), model=embedder)
    local, milvus = open_store(fake_index), open_store(str(tmp_path / "same.db"))
    assert isinstance(local, Store) and isinstance(milvus, MilvusStore)
    assert isinstance(local, IndexStore) and isinstance(milvus, IndexStore)
    assert local.location == str(fake_index) and milvus.location == str(tmp_path / "same.db")
    assert local.stamp() is not None and milvus.stamp() is not None
    question = "Where do ships unload cargo?"
    vector = embedder.encode([question])[0]
    for method in ("hybrid", "dense", "bm25"):
        a = local.search(vector, tokenize(question), 3, method)
        b = milvus.search(vector, tokenize(question), 3, method)
        assert all(isinstance(h, Hit) for h in a + b)
        assert a[0].passage == b[0].passage and {h.passage for h in a} == {h.passage for h in b}, method  # ties may swap
        if method != "bm25":  # Milvus' BM25 uses its own scale; dense and fused scores match
            assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-6)
    assert search(local.vectors, local.bm25, vector, tokenize(question), 3) == local.search(vector, tokenize(question), 3)


def test_a_question_without_content_words_ranks_and_scores_alike(fake_index: Path, small_docs: list[qa.Document], tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    qa.build_index(small_docs, str(tmp_path / "nowords.db"), model=embedder)
    local, milvus = open_store(fake_index), open_store(str(tmp_path / "nowords.db"))
    vector = embedder.encode(["the of and"])[0]
    a, b = local.search(vector, [], 3), milvus.search(vector, [], 3)
    assert [h.score for h in a] == pytest.approx([h.score for h in b]) and len(a) == len(b) == 3
