"""Helpers of eval/bench/encoders.py (the benchmark itself is run by hand: `python -m eval.bench.encoders`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.bench import encoders
from qa.documents.chunking import chunk_sentences, split_sentences


def test_build_corpus_reaches_the_passages_wanted() -> None:
    docs = encoders.build_corpus(60)
    passages = sum(len(chunk_sentences(d, split_sentences(d))) for d in docs)
    assert passages >= 60 and len({d.text for d in docs}) == len(docs)


def test_phases_time_the_build_parts_and_restore_them(fake_embedder: object, small_docs: list, tmp_path: Path) -> None:
    import qa.index.local.build as build

    original = build.make_vector_index
    seconds, cpu, passages, parts = encoders.one_build(small_docs, tmp_path / "index", fake_embedder)
    assert passages > 0 and seconds > 0 and cpu > 0
    assert {"encode_sentences", "faiss", "bm25", "pool_passages", "other"} <= set(parts)
    assert build.make_vector_index is original and "encode" not in vars(fake_embedder)


def test_cosines_of_stored_vectors(tmp_path: Path) -> None:
    for name, rows in (("a", [[1.0, 0.0], [0.0, 2.0]]), ("b", [[1.0, 0.0], [1.0, 1.0]])):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "v.npy", np.array(rows, dtype=np.float32))
    out = encoders.cosines(tmp_path / "a", tmp_path / "b", "v.npy")
    assert out["n"] == 2 and abs(out["min"] - 2 ** -0.5) < 1e-6
