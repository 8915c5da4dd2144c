"""Export to ONNX and verification against sentence-transformers, and the fallbacks when either fails.

Uses the real packaged model exported into the ONNX tests' own cache (see ``tests/onnx/support.py``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.onnx import cache as onnx_cache
from qa.onnx import export as onnx_export
from qa.index.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder, default_model_path, load_embedder
from qa.documents.ingest import default_documents
from qa.onnx.cache import load_onnx_embedder
from qa.onnx.session import OnnxEmbedder, OnnxUnavailable
from tests.onnx.support import CountingLoader, copy_cache, cosines, entry_of


def test_export_matches_sentence_transformers(onnx_embedder: OnnxEmbedder, st_model: object) -> None:
    texts = onnx_export.sample_texts() + ["Who is Japan's foreign minister?", "word " * 1000]
    reference = st_model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)  # type: ignore[attr-defined]
    for vectors in (onnx_embedder.encode(texts), onnx_embedder.encode(texts, batch_size=3), np.concatenate([onnx_embedder.encode([t]) for t in texts])):
        assert vectors.shape == (len(texts), 384) and vectors.dtype == np.float32
        assert cosines(vectors, reference).min() >= 0.999
    ids = onnx_embedder.tokenize(texts)
    assert len(ids[-1]) == 256 and max(len(row) for row in ids) == 256  # truncated exactly like sentence-transformers
    features = st_model.preprocess(texts)  # type: ignore[attr-defined]
    st_ids = [[t for t, m in zip(row, keep) if m] for row, keep in zip(features["input_ids"].tolist(), features["attention_mask"].tolist())]
    assert ids == st_ids
    record = json.loads((entry_of(onnx_embedder) / "verify-fp32.json").read_text())
    assert record["ok"] and record["min_cosine"] >= 0.999 and record["max_tokens"] == 256
    assert onnx_embedder.name == DEFAULT_MODEL and onnx_embedder.backend == "onnx" and onnx_embedder.encode([]).shape == (0, 384)


def test_failed_verification_falls_back_to_torch_and_is_remembered(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    (entry / "verify-fp32.json").unlink()
    monkeypatch.setitem(onnx_export.MIN_COSINE, "fp32", 1.5)  # no export can pass this
    monkeypatch.setattr("qa.index.embedding.load_sentence_transformer", lambda name: st_model)
    with caplog.at_level(logging.INFO):
        embedder = load_embedder()
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.backend == "torch"
    assert "using sentence-transformers (torch)" in caplog.text and "min cosine" in caplog.text
    record = json.loads((entry / "verify-fp32.json").read_text())
    assert record["ok"] is False and "min cosine" in record["reason"]
    with pytest.raises(OnnxUnavailable, match="checked before"):  # not checked again
        load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", CountingLoader(None))


def test_export_failure_falls_back_to_torch(st_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "cache"))

    def broken_export(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated exporter crash")

    monkeypatch.setattr(onnx_export, "export", broken_export)
    monkeypatch.setattr("qa.index.embedding.load_sentence_transformer", lambda name: st_model)
    with caplog.at_level(logging.WARNING):
        embedder = load_embedder(backend="onnx")
    assert embedder.backend == "torch" and "simulated exporter crash" in caplog.text
    assert not [p for p in (tmp_path / "cache" / "onnx").iterdir() if p.is_dir()]  # no half-written entry left
    with pytest.raises(qa.ModelLoadError, match="onnx-int8 backend cannot run"):
        load_embedder(backend="onnx-int8")


def test_torch_and_onnx_indexes_are_interchangeable(onnx_embedder: OnnxEmbedder, st_model: object, tmp_path: Path) -> None:
    torch_embedder = SentenceTransformerEmbedder(None, loaded=st_model)
    docs = default_documents()
    report = qa.build_index(docs, tmp_path / "by-onnx", model=onnx_embedder)
    qa.build_index(docs, tmp_path / "by-torch", model=torch_embedder)
    assert report.backend == "onnx"
    questions = ["What does the pact cover?", "Who is Japan's foreign minister?", "What is the population of Japan?"]
    for path in ("by-onnx", "by-torch"):
        answers = {}
        for name, embedder in (("onnx", onnx_embedder), ("torch", torch_embedder)):
            bot = qa.load(tmp_path / path, model=embedder)
            assert bot.info["backend"] == name
            answers[name] = [(a.text, a.abstained, round(a.confidence, 3)) for a in map(bot.ask, questions)]
        assert answers["onnx"] == answers["torch"]
