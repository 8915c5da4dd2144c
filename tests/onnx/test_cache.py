"""The ONNX cache: reuse, damaged entries, the lock, unwritable folders and model eligibility.

Uses the real packaged model exported into the ONNX tests' own cache (see ``tests/onnx/support.py``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from qa.onnx import cache as onnx_cache
from qa.index.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder, default_model_path, load_embedder
from qa.onnx.cache import check_pipeline, load_onnx_embedder
from qa.onnx.session import IneligibleModel, OnnxEmbedder, OnnxUnavailable
from tests.onnx.support import CountingLoader, copy_cache, cosines, entry_of, make_model_copy


def test_cache_is_reused_without_export_or_verification(onnx_embedder: OnnxEmbedder) -> None:
    entry = entry_of(onnx_embedder)
    stamp = {p.name: p.stat().st_mtime_ns for p in entry.iterdir()}
    loader = CountingLoader(None)  # fails if sentence-transformers is asked for
    again = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", loader)
    assert loader.calls == 0
    assert {p.name: p.stat().st_mtime_ns for p in entry.iterdir()} == stamp
    assert np.array_equal(again.encode(["What does the pact cover?"]), onnx_embedder.encode(["What does the pact cover?"]))
    via_api = load_embedder(backend="auto")
    assert isinstance(via_api, OnnxEmbedder) and via_api.model_path == onnx_embedder.model_path


def test_damaged_cache_is_exported_again(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    with (entry / "model.onnx").open("r+b") as handle:  # same size, garbage inside
        handle.seek(1000)
        handle.write(os.urandom(4096))
    (entry / "meta.json").write_text("{not json", encoding="utf-8")
    loader = CountingLoader(st_model)
    with caplog.at_level(logging.INFO, logger="qa.onnx.cache"):
        embedder = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", loader)
    assert loader.calls >= 1 and "exporting" in caplog.text
    assert json.loads((entry / "meta.json").read_text())["graph"] == "fused"
    text = ["The navy will hold joint exercises."]
    assert cosines(embedder.encode(text), onnx_embedder.encode(text))[0] >= 0.99999


def test_damaged_table_is_ignored(onnx_embedder: OnnxEmbedder, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    (entry / "words.npy").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="qa.onnx.cache"):
        embedder = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", CountingLoader(None))
    assert embedder._table is None and "one-token vectors" in caplog.text
    texts = ["navy", "What does the pact cover?"]
    assert cosines(embedder.encode(texts), onnx_embedder.encode(texts)).min() >= 0.99999


def test_damaged_verification_record_is_checked_again_not_exported(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    model_mtime = (entry / "model.onnx").stat().st_mtime_ns
    (entry / "verify-fp32.json").write_bytes(b"\x00\xff garbage")
    loader = CountingLoader(st_model)
    embedder = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", loader)
    assert loader.calls == 1 and (entry / "model.onnx").stat().st_mtime_ns == model_mtime
    assert json.loads((entry / "verify-fp32.json").read_text())["ok"] and embedder.backend == "onnx"


def test_unwritable_cache_falls_back_to_torch(st_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(blocker))
    monkeypatch.setattr("qa.index.embedding.load_sentence_transformer", lambda name: st_model)
    assert load_embedder().backend == "torch"


def test_lock_timeout_is_reported_not_raised_raw(tmp_path: Path) -> None:
    root = tmp_path / "onnx"
    root.mkdir()
    with (root / ".entry.lock").open("a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(OnnxUnavailable, match="timed out"):
            with onnx_cache._entry_lock(root, "entry", timeout=0.3):
                pass


def test_ineligible_model_falls_back_to_torch(tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_model_copy(tmp_path, {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    assert check_pipeline(folder) == "pooling is cls, not mean"
    with caplog.at_level(logging.INFO, logger="qa.index.embedding"):
        embedder = load_embedder(str(folder))
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.backend == "torch"
    assert "pooling is cls" in caplog.text
    assert embedder.name == str(folder.resolve())
    with pytest.raises(IneligibleModel):
        load_onnx_embedder(embedder.name, folder, "fp32", CountingLoader(None))


@pytest.mark.parametrize(
    ("pooling", "modules", "reason"),
    [
        (None, None, None),
        ({"pooling_mode": "mean"}, None, None),
        ({"pooling_mode_max_tokens": True}, None, "pooling is max+mean, not mean"),
        (None, [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}], "pipeline is Transformer -> Pooling -> Dense"),
        (None, [], "no readable modules.json"),
    ],
)
def test_pipeline_check_variants(tmp_path: Path, pooling: dict | None, modules: list | None, reason: str | None) -> None:
    folder = make_model_copy(tmp_path, pooling, modules)
    found = check_pipeline(folder)
    assert (found is None) if reason is None else (found is not None and found.startswith(reason))
