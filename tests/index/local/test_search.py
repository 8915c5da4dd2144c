from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.index.local.search import bm25_search, fuse
from qa.index.store import check_method
from qa.index.local.store import load_store


def test_fuse_hand_computed() -> None:
    fused = dict(fuse([[(1, 9.0), (2, 8.0)], [(2, 0.5), (3, 0.4)]], k=60))
    assert fused[2] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 61)
    assert fused[3] == pytest.approx(1 / 62)
    assert [item for item, _ in fuse([[(1, 9.0), (2, 8.0)], [(2, 0.5), (3, 0.4)]])] == [2, 1, 3]


def test_weighted_fuse_hand_computed_and_validated() -> None:
    fused = dict(fuse([[(1, 9.0), (2, 8.0)], [(3, 0.5), (2, 0.4)]], k=10, weights=[0.5, 1.0]))
    assert fused[1] == pytest.approx(0.5 / 11)
    assert fused[2] == pytest.approx(0.5 / 12 + 1 / 12)
    assert fused[3] == pytest.approx(1 / 11)
    assert [item for item, _ in fuse([[(1, 9.0), (2, 8.0)], [(3, 0.5), (2, 0.4)]], k=10, weights=[0.5, 1.0])] == [2, 3, 1]
    with pytest.raises(ValueError, match="one weight per ranking: 2 rankings, 1 weights"):
        fuse([[(1, 1.0)], [(2, 1.0)]], weights=[1.0])


def test_bm25_only_returns_matching_passages(fake_index: Path) -> None:
    store = load_store(fake_index)
    hits = bm25_search(store.bm25, ["kitten"], 10)
    assert [store.passages[i].doc_id for i, _ in hits] == ["cats.txt"]
    assert bm25_search(store.bm25, ["zzzunknown"], 10) == []


@pytest.mark.parametrize("method", ["hybrid", "dense", "bm25"])
def test_each_method_finds_the_right_document(fake_index: Path, fake_embedder: object, method: str) -> None:
    bot = qa.load(fake_index, model=fake_embedder)  # type: ignore[arg-type]
    top = bot.retrieve("When will the fighter jet fly?", top_k=2, retrieval=method)
    assert top[0].doc_id == "jets.txt"
    assert top[0].text == bot.document("jets.txt").text[top[0].start : top[0].end]


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="retrieval must be one of hybrid, dense, bm25. Currently, retrieval is 'magic'"):
        check_method("magic")
