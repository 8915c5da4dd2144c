"""bf16 builds: chosen by the CPU's flags, vectors equal to fp32 to four decimals, exactly today's build without the flags."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.documents.chunking import split_sentences
from qa.documents.ingest import default_documents
from qa.index import bf16
from qa.index.bf16 import Bf16BuildEmbedder, native_bf16
from qa.index.embedding import encoder_of, load_embedder
from qa.onnx.session import OnnxEmbedder

SQUAD = Path(__file__).resolve().parents[2] / "eval" / "data" / "squad2_dev_sample.json"


@pytest.fixture(scope="module")
def bf16_embedder(onnx_embedder: OnnxEmbedder, st_model: object) -> Bf16BuildEmbedder:
    """The packaged model's bf16 build embedder, every call in bf16 (loaded and checked once per module)."""
    embedder = Bf16BuildEmbedder(onnx_embedder, lambda: st_model, min_texts=1, reason="test")
    assert embedder._ready()
    return embedder


def real_sentences() -> list[str]:
    """Every sentence of the SQuAD sample's paragraphs and of the bundled article."""
    docs = [qa.Document(f"p{i}", "p", p["context"]) for i, p in enumerate(
        p for a in json.loads(SQUAD.read_text(encoding="utf-8"))["data"] for p in a["paragraphs"])]
    docs += default_documents()
    return [d.text[s.start : s.end] for d in docs for s in split_sentences(d)]


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse avx512f avx512_bf16 amx_tile amx_bf16 amx_int8", "amx_bf16"),
    ("fpu sse avx512f avx512_bf16 avx512_vnni", "avx512_bf16"),
    ("fpu sse avx2 avx512f avx512_vnni", None),
])
def test_native_bf16_reads_the_cpu_flags(flags: str, expected: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n", encoding="utf-8")
    monkeypatch.setattr(bf16, "CPUINFO", cpuinfo)
    native_bf16.cache_clear()
    try:
        assert native_bf16() == expected
        monkeypatch.setattr(bf16, "CPUINFO", tmp_path / "missing")
        native_bf16.cache_clear()
        assert native_bf16() is None
    finally:
        native_bf16.cache_clear()


def test_bf16_vectors_equal_fp32_to_four_decimals(bf16_embedder: Bf16BuildEmbedder, onnx_embedder: OnnxEmbedder) -> None:
    texts = real_sentences()
    assert len(texts) > 300
    with onnx_embedder.without_table():  # every text through the model, none from the one-token table
        fp32 = onnx_embedder.encode(texts)
        bf16_vectors = bf16_embedder.encode(texts)
    cosines = (fp32 * bf16_vectors).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines.min()
    assert not np.array_equal(fp32, bf16_vectors)  # really another computation
    assert np.allclose(np.linalg.norm(bf16_vectors, axis=1), 1.0, atol=1e-5)
    assert bf16_embedder.encoder_for(len(texts)) == "torch-bf16-autocast"


def test_bf16_index_is_searched_by_the_fp32_query_encoder(bf16_embedder: Bf16BuildEmbedder, onnx_embedder: OnnxEmbedder,
                                                         tmp_path: Path) -> None:
    docs = default_documents()
    qa.build_index(docs, tmp_path / "bf16", model=bf16_embedder)
    qa.build_index(docs, tmp_path / "fp32", model=onnx_embedder)
    manifests = {name: json.loads((tmp_path / name / "manifest.json").read_text()) for name in ("bf16", "fp32")}
    assert manifests["bf16"]["model"] == manifests["fp32"]["model"]  # the same model identity
    assert manifests["bf16"]["build"]["encoder"]["sentences"] == "torch-bf16-autocast"
    assert manifests["fp32"]["build"]["encoder"]["sentences"] == "onnx-fp32"
    for name in ("passage_vectors.npy", "sentence_vectors.npy"):
        a, b = (np.load(tmp_path / folder / name).astype(np.float32) for folder in ("bf16", "fp32"))
        cosines = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cosines.min() >= 0.9999, (name, cosines.min())
    questions = ["What does the pact cover?", "When will the new fighter jet be airborne?", "Who is Japan's foreign minister?"]
    bots = {name: qa.load(tmp_path / name, model=onnx_embedder, reader=False) for name in ("bf16", "fp32")}
    for question in questions:
        answers = [bots[name].ask(question) for name in ("bf16", "fp32")]
        assert answers[0].text == answers[1].text and answers[0].abstained == answers[1].abstained


def test_without_bf16_units_the_build_is_exactly_todays(onnx_embedder: OnnxEmbedder, cache_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(bf16, "BF16_MIN_TEXTS", 1)  # so that the article alone would be encoded in bf16 where it can
    monkeypatch.setattr(bf16, "native_bf16", lambda: None)
    with caplog.at_level(logging.INFO, logger="qa.index.embedding"):
        embedder = load_embedder(build=True)
    assert isinstance(embedder, OnnxEmbedder) and embedder.backend == "onnx"
    assert "no bf16 units" in caplog.text
    docs = default_documents()
    qa.build_index(docs, tmp_path / "auto", model=embedder)
    qa.build_index(docs, tmp_path / "onnx", model=load_embedder(backend="onnx"))
    for name in ("passage_vectors.npy", "sentence_vectors.npy", "word_vectors.npy", "index.faiss"):
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "onnx" / name).read_bytes(), name
    monkeypatch.setattr(bf16, "native_bf16", lambda: "amx_bf16")
    with caplog.at_level(logging.INFO, logger="qa.index.embedding"):
        chosen = load_embedder(build=True)
    assert isinstance(chosen, Bf16BuildEmbedder) and chosen.min_texts == 1 and "runs bf16 natively (amx_bf16)" in caplog.text
    assert isinstance(load_embedder(), OnnxEmbedder)  # questions: never the bf16 path


def test_small_calls_stay_on_onnx(onnx_embedder: OnnxEmbedder) -> None:
    def no_torch() -> object:
        raise AssertionError("a small call loaded torch")

    embedder = Bf16BuildEmbedder(onnx_embedder, no_torch, min_texts=100, reason="test")
    texts = ["What does the pact cover?", "Japan and the EU signed a pact."]
    assert np.array_equal(embedder.encode(texts), onnx_embedder.encode(texts))
    assert embedder.encoder_for(2) == "onnx-fp32" and encoder_of(onnx_embedder, 5000) == "onnx-fp32"


def test_a_failed_check_keeps_fp32(onnx_embedder: OnnxEmbedder, st_model: object, monkeypatch: pytest.MonkeyPatch,
                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(bf16, "MIN_COSINE", 1.5)  # no bf16 vector can pass
    embedder = Bf16BuildEmbedder(onnx_embedder, lambda: st_model, min_texts=1, reason="test")
    texts = ["What does the pact cover?", "Japan and the EU signed a pact."]
    with caplog.at_level(logging.WARNING, logger="qa.index.bf16"):
        vectors = embedder.encode(texts)
    assert "not bf16: bf16 vectors reach only cosine" in caplog.text
    assert np.array_equal(vectors, onnx_embedder.encode(texts)) and embedder.encoder_for(5000) == "onnx-fp32"


def test_forced_bf16_backend(cache_dir: Path, onnx_embedder: OnnxEmbedder) -> None:
    embedder = load_embedder(backend="bf16")
    assert isinstance(embedder, Bf16BuildEmbedder) and embedder.backend == "bf16" and embedder.min_texts == 1
    assert embedder.name == onnx_embedder.name
