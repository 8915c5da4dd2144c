"""The ONNX Runtime backend: export, verification, cache, fallbacks, identity and the torch-free query path.

Every test here uses the real packaged model and a cache folder of its own
(``QA_CACHE_DIR`` points at a temporary folder for this module), so nothing is
written to ``~/.cache``.  The export (~5-10 s) runs once per module.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import qa
from qa import onnx_backend
from qa.embedding import (
    DEFAULT_MODEL,
    INT8_SUFFIX,
    SentenceTransformerEmbedder,
    canonical_model_name,
    default_model_path,
    load_embedder,
    load_sentence_transformer,
    with_backend,
)
from qa.ingest import default_documents
from tests.conftest import in_threads
from qa.onnx_backend import IneligibleModel, OnnxEmbedder, OnnxUnavailable, batches, check_pipeline, load_onnx_embedder


TABLE_LIMIT = 4000
"""One-token vectors precomputed in this module's cache: the first 4,000 word-start tokens ("the", "navy", "ships" ...)."""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh ``QA_CACHE_DIR`` for this module (restored afterwards)."""
    path = tmp_path_factory.mktemp("qa-cache")
    before = os.environ.get(onnx_backend.CACHE_ENV)
    os.environ[onnx_backend.CACHE_ENV] = str(path)
    limit = onnx_backend.WORD_TABLE_LIMIT
    onnx_backend.WORD_TABLE_LIMIT = TABLE_LIMIT  # the whole vocabulary takes ~20 s; this part ~3 s
    yield path
    onnx_backend.WORD_TABLE_LIMIT = limit
    if before is None:
        os.environ.pop(onnx_backend.CACHE_ENV, None)
    else:
        os.environ[onnx_backend.CACHE_ENV] = before


@pytest.fixture(scope="module")
def st_model() -> object:
    return load_sentence_transformer(DEFAULT_MODEL)


class CountingLoader:
    """Stands in for the SentenceTransformer loader; counts calls (export and verification need it)."""

    def __init__(self, model: object | None = None) -> None:
        self.model = model
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        if self.model is None:
            raise AssertionError("sentence-transformers was needed but should not have been")
        return self.model


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path, st_model: object) -> OnnxEmbedder:
    loader = CountingLoader(st_model)
    embedder = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", loader)
    assert loader.calls >= 1  # a fresh cache: exported and verified
    return embedder


def entry_of(embedder: OnnxEmbedder) -> Path:
    return embedder.model_path.parent


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_export_matches_sentence_transformers(onnx_embedder: OnnxEmbedder, st_model: object) -> None:
    texts = onnx_backend.sample_texts() + ["Who is Japan's foreign minister?", "word " * 1000]
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


def direct(embedder: OnnxEmbedder, texts: list[str]) -> np.ndarray:
    """Encode without the one-token table."""
    table, embedder._table = embedder._table, None
    try:
        return embedder.encode(texts)
    finally:
        embedder._table = table


def test_one_token_texts_come_from_the_table_and_equal_the_model(onnx_embedder: OnnxEmbedder) -> None:
    table = onnx_embedder._table
    assert table is not None and table.shape == (30522, 384)
    ids = {w: onnx_embedder.tokenize([w])[0][1] for w in ("the", "navy", "ships", "tokyo")}
    assert not np.isnan(table[[ids["the"], ids["navy"], ids["ships"]], 0]).any()
    assert np.isnan(table[ids["tokyo"], 0])  # beyond this module's TABLE_LIMIT: encoded by the model
    assert np.isnan(table[onnx_embedder._tokenizer.get_vocab()["##ing"], 0])  # no text starts with a word piece
    texts = ["What is the navy doing?", "navy", "Ships", "tokyo", "the", "Borrell"]
    assert cosines(onnx_embedder.encode(texts), direct(onnx_embedder, texts)).min() >= 0.99999
    together = onnx_embedder.encode(texts)
    apart = np.concatenate([onnx_embedder.encode([t]) for t in texts])
    assert cosines(together, apart).min() >= 0.99999
    record = json.loads((entry_of(onnx_embedder) / "verify-fp32.json").read_text())
    assert record["table"]["bytes"] == (entry_of(onnx_embedder) / "words.npy").stat().st_size and record["table_min_cosine"] >= 0.99999


def copy_cache(cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the module's cache (so a test may damage it); returns the copied entry."""
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path / "cache"))
    shutil.copytree(cache_dir, tmp_path / "cache", copy_function=shutil.copy2)
    entries = [p for p in (tmp_path / "cache" / "onnx").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(entries) == 1
    return entries[0]


def test_damaged_cache_is_exported_again(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    with (entry / "model.onnx").open("r+b") as handle:  # same size, garbage inside
        handle.seek(1000)
        handle.write(os.urandom(4096))
    (entry / "meta.json").write_text("{not json", encoding="utf-8")
    loader = CountingLoader(st_model)
    with caplog.at_level(logging.INFO, logger="qa.onnx_backend"):
        embedder = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", loader)
    assert loader.calls >= 1 and "exporting" in caplog.text
    assert json.loads((entry / "meta.json").read_text())["graph"] == "fused"
    text = ["The navy will hold joint exercises."]
    assert cosines(embedder.encode(text), onnx_embedder.encode(text))[0] >= 0.99999


def test_damaged_table_is_ignored(onnx_embedder: OnnxEmbedder, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    (entry / "words.npy").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="qa.onnx_backend"):
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


def test_failed_verification_falls_back_to_torch_and_is_remembered(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    entry = copy_cache(cache_dir, tmp_path, monkeypatch)
    (entry / "verify-fp32.json").unlink()
    monkeypatch.setitem(onnx_backend.MIN_COSINE, "fp32", 1.5)  # no export can pass this
    monkeypatch.setattr("qa.embedding.load_sentence_transformer", lambda name: st_model)
    with caplog.at_level(logging.INFO):
        embedder = load_embedder()
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.backend == "torch"
    assert "using sentence-transformers (torch)" in caplog.text and "min cosine" in caplog.text
    record = json.loads((entry / "verify-fp32.json").read_text())
    assert record["ok"] is False and "min cosine" in record["reason"]
    with pytest.raises(OnnxUnavailable, match="checked before"):  # not checked again
        load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", CountingLoader(None))


def test_export_failure_falls_back_to_torch(st_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(tmp_path / "cache"))

    def broken_export(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated exporter crash")

    monkeypatch.setattr(onnx_backend, "export", broken_export)
    monkeypatch.setattr("qa.embedding.load_sentence_transformer", lambda name: st_model)
    with caplog.at_level(logging.WARNING):
        embedder = load_embedder(backend="onnx")
    assert embedder.backend == "torch" and "simulated exporter crash" in caplog.text
    assert not [p for p in (tmp_path / "cache" / "onnx").iterdir() if p.is_dir()]  # no half-written entry left
    with pytest.raises(qa.ModelLoadError, match="onnx-int8 backend cannot run"):
        load_embedder(backend="onnx-int8")


def test_unwritable_cache_falls_back_to_torch(st_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(onnx_backend.CACHE_ENV, str(blocker))
    monkeypatch.setattr("qa.embedding.load_sentence_transformer", lambda name: st_model)
    assert load_embedder().backend == "torch"


def test_lock_timeout_is_reported_not_raised_raw(tmp_path: Path) -> None:
    root = tmp_path / "onnx"
    root.mkdir()
    with (root / ".entry.lock").open("a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(OnnxUnavailable, match="timed out"):
            with onnx_backend._entry_lock(root, "entry", timeout=0.3):
                pass


def make_model_copy(tmp_path: Path, pooling: dict | None = None, modules: list | None = None) -> Path:
    """A model folder linking to the packaged model's files, with its pooling or module list replaced."""
    source = default_model_path()
    folder = tmp_path / "model"
    folder.mkdir()
    for item in source.iterdir():
        if item.is_file():
            (folder / item.name).symlink_to(item)
    (folder / "1_Pooling").mkdir()
    config = json.loads((source / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({**config, **(pooling or {})}))
    if modules is not None:
        (folder / "modules.json").unlink()
        (folder / "modules.json").write_text(json.dumps(modules))
    return folder


def test_ineligible_model_falls_back_to_torch(tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_model_copy(tmp_path, {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    assert check_pipeline(folder) == "pooling is cls, not mean"
    with caplog.at_level(logging.INFO, logger="qa.embedding"):
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


def test_threads_share_one_embedder(onnx_embedder: OnnxEmbedder) -> None:
    texts = [f"Question number {i} about the {'navy' if i % 2 else 'fighter jet'} and the partnership?" for i in range(16)]
    serial = [onnx_embedder.encode([t]) for t in texts]
    results = in_threads(lambda: [onnx_embedder.encode([t]) for t in texts], timeout=120)
    assert len(results) == 8
    for vectors in results:
        assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(vectors, serial))


def test_batches_limit_padding() -> None:
    lengths = np.array([3, 40, 3, 38, 12, 4, 39, 200])
    groups = [list(g) for g in batches(lengths, batch_size=2)]
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert groups[0] == [7] and all(len(g) <= 2 for g in groups)
    for g in groups:
        assert lengths[g[0]] == max(lengths[g]) and lengths[g[0]] <= 1.25 * min(lengths[g]) + 2
    assert [list(g) for g in batches(np.array([8, 3, 3]), batch_size=64)] == [[0], [1, 2]]


def test_int8_is_a_different_model_identity(onnx_embedder: OnnxEmbedder, st_model: object, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("qa.embedding.load_sentence_transformer", lambda name: st_model)
    int8 = load_embedder(backend="onnx-int8")
    assert int8.name == DEFAULT_MODEL + INT8_SUFFIX and int8.backend == "onnx-int8"
    assert int8._table is not None and (entry_of(int8) / "words.int8.npy").is_file()  # type: ignore[attr-defined]
    assert load_embedder(DEFAULT_MODEL + INT8_SUFFIX).model_path == int8.model_path  # type: ignore[attr-defined]
    assert canonical_model_name(str(default_model_path()) + INT8_SUFFIX) == DEFAULT_MODEL + INT8_SUFFIX
    assert with_backend(None, "onnx-int8") == DEFAULT_MODEL + INT8_SUFFIX and with_backend(None, "onnx") == DEFAULT_MODEL
    texts = onnx_backend.sample_texts()
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
    assert bot.info["backend"] == "onnx-int8" and "joint military drills" in bot.ask("What does the pact cover?").text


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


QUERY_SCRIPT = """
import json, sys
import qa
bot = qa.load(sys.argv[1])
answer = bot.ask("What does the pact cover?")
print(json.dumps({"text": answer.text, "backend": bot.info["backend"],
                  "heavy": sorted(m for m in ("torch", "sentence_transformers", "transformers", "trafilatura", "gradio", "bm25s", "scipy") if m in sys.modules)}))
"""


def test_query_path_imports_no_torch(onnx_embedder: OnnxEmbedder, cache_dir: Path, tmp_path: Path) -> None:
    qa.build_index(default_documents(), tmp_path / "index", model=onnx_embedder)
    env = dict(os.environ, HF_HUB_OFFLINE="1", QA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", QUERY_SCRIPT, str(tmp_path / "index")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "onnx" and result["heavy"] == []
    assert "joint military drills" in result["text"]


def test_import_qa_is_light() -> None:
    code = "import sys, qa; print(sorted(m for m in ('numpy', 'faiss', 'bm25s', 'onnxruntime', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
