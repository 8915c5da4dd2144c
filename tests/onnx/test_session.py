"""The ONNX runtime layer: sessions, tokenizers, the embedder's one-token table and threads, the torch-free query path.

Uses the real packaged model exported into the ONNX tests' own cache (see ``tests/onnx/support.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import qa
from qa.onnx import session as onnx_session
from qa.index.embedding import default_model_path
from qa.documents.ingest import default_documents
from qa.onnx.session import OnnxEmbedder, batches, load_tokenizer, new_session
from tests.conftest import in_threads
from tests.onnx.support import cosines, entry_of


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
    assert np.isnan(table[ids["tokyo"], 0])  # beyond the tests' TABLE_LIMIT: encoded by the model
    assert np.isnan(table[onnx_embedder._tokenizer.get_vocab()["##ing"], 0])  # no text starts with a word piece
    texts = ["What is the navy doing?", "navy", "Ships", "tokyo", "the", "Borrell"]
    assert cosines(onnx_embedder.encode(texts), direct(onnx_embedder, texts)).min() >= 0.99999
    together = onnx_embedder.encode(texts)
    apart = np.concatenate([onnx_embedder.encode([t]) for t in texts])
    assert cosines(together, apart).min() >= 0.99999
    record = json.loads((entry_of(onnx_embedder) / "verify-fp32.json").read_text())
    assert record["table"]["bytes"] == (entry_of(onnx_embedder) / "words.npy").stat().st_size and record["table_min_cosine"] >= 0.99999


def test_without_table_encodes_with_the_model(onnx_embedder: OnnxEmbedder) -> None:
    assert onnx_embedder.has_table
    with onnx_embedder.without_table():
        assert not onnx_embedder.has_table
        alone = onnx_embedder.encode(["navy"])
    assert onnx_embedder.has_table
    assert cosines(alone, onnx_embedder.encode(["navy"]))[0] >= 0.99999


def test_new_session_serves_any_graph_with_the_package_settings(onnx_embedder: OnnxEmbedder) -> None:
    ids = np.array([onnx_embedder.tokenize(["What does the pact cover?"])[0]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    outputs = []
    for threads, optimize in ((None, True), (1, False), (onnx_session.BATCH_THREADS, True)):
        session = new_session(onnx_embedder.model_path, threads, optimize)
        assert sorted(i.name for i in session.get_inputs()) == ["attention_mask", "input_ids", "token_type_ids"]
        outputs.append(session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})[0])
    assert outputs[0].shape == (1, ids.shape[1], 384)
    assert all(np.allclose(o, outputs[0], atol=1e-4) for o in outputs)


def test_load_tokenizer_truncates_without_padding() -> None:
    tokenizer_json = default_model_path() / "tokenizer.json"
    tokenizer = load_tokenizer(tokenizer_json, 8)
    assert [len(e.ids) for e in tokenizer.encode_batch(["Hi", "word " * 50])] == [3, 8]
    pair = load_tokenizer(tokenizer_json, 12, strategy="only_second").encode("Who signed the pact?", "word " * 50)
    assert len(pair.ids) == 12 and pair.ids[:7] == load_tokenizer(tokenizer_json, 64).encode("Who signed the pact?").ids


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


QUERY_SCRIPT = """
import json, sys
import qa
bot = qa.load(sys.argv[1])
answer = bot.ask("When will the new fighter jet be airborne?")
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
    assert "2035" in result["text"]


def test_import_qa_is_light() -> None:
    code = "import sys, qa; print(sorted(m for m in ('numpy', 'faiss', 'bm25s', 'onnxruntime', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_runtime_modules_import_no_torch() -> None:
    code = (
        "import sys, qa.onnx.session, qa.onnx.cache, qa.onnx.quantize, qa.index.embedding, qa.index.bf16; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'tokenizers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
