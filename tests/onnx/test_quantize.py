"""The int8 variant: quantised on first request, a model identity of its own.

Uses the real packaged model exported into the ONNX tests' own cache (see ``tests/onnx/support.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.onnx import export as onnx_export
from qa.index.embedding import DEFAULT_MODEL, canonical_model_name, default_model_path, load_embedder, with_backend
from qa.onnx.session import INT8_SUFFIX
from qa.documents.ingest import default_documents
from qa.onnx.session import OnnxEmbedder
from tests.onnx.support import cosines, entry_of


def test_int8_is_a_different_model_identity(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qa.index.embedding.load_sentence_transformer", lambda name: st_model)
    int8 = load_embedder(backend="onnx-int8")
    assert int8.name == DEFAULT_MODEL + INT8_SUFFIX and int8.backend == "onnx-int8"
    assert int8._table is not None and (entry_of(int8) / "words.int8.npy").is_file()  # type: ignore[attr-defined]
    assert load_embedder(DEFAULT_MODEL + INT8_SUFFIX).model_path == int8.model_path  # type: ignore[attr-defined]
    assert canonical_model_name(str(default_model_path()) + INT8_SUFFIX) == DEFAULT_MODEL + INT8_SUFFIX
    assert with_backend(None, "onnx-int8") == DEFAULT_MODEL + INT8_SUFFIX and with_backend(None, "onnx") == DEFAULT_MODEL
    texts = onnx_export.sample_texts()
    sims = cosines(int8.encode(texts), onnx_embedder.encode(texts))
    assert sims.min() >= 0.95 and sims.mean() >= 0.98
    with pytest.raises(ValueError, match="onnx-int8 backend only"):
        load_embedder(DEFAULT_MODEL + INT8_SUFFIX, backend="torch")
    docs = default_documents()
    qa.build_index(docs, tmp_path / "int8", model=int8)
    qa.build_index(docs, tmp_path / "fp32", model=onnx_embedder)
    assert json.loads((tmp_path / "int8" / "manifest.json").read_text())["model"]["name"] == DEFAULT_MODEL + INT8_SUFFIX
    with pytest.raises(qa.ModelMismatchError):
        qa.load(tmp_path / "int8", model=onnx_embedder)
    with pytest.raises(qa.ModelMismatchError):
        qa.load(tmp_path / "fp32", backend="onnx-int8")
    bot = qa.load(tmp_path / "int8")  # the manifest's name picks the int8 backend
    assert bot.info["backend"] == "onnx-int8" and "2035" in bot.ask("When will the new fighter jet be airborne?").text
