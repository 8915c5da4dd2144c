from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.store import FAISS_INDEX, MANIFEST, build_lock, load_store, read_manifest, write_index
from tests.conftest import HashingEmbedder


def test_round_trip_plain_files(fake_index: Path, small_docs: list[qa.Document]) -> None:
    names = sorted(p.relative_to(fake_index).as_posix() for p in fake_index.rglob("*") if p.is_file())
    assert {"manifest.json", "index.faiss", "passages.jsonl", "documents.jsonl", "sentences.jsonl", "sentence_vectors.npy"} <= set(names)
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    for npy in fake_index.rglob("*.npy"):
        np.load(npy, allow_pickle=False)  # would raise on pickled object arrays
    manifest = json.loads((fake_index / MANIFEST).read_text())
    assert manifest["format_version"] == 1 and manifest["model"] == {"name": "test/hashing-64", "dimension": 64, "normalized": True}
    assert manifest["chunking"] == {"max_words": 100, "overlap": 1, "segmenter": "pysbd-en"}
    assert [d["text_sha256"] for d in manifest["documents"]] == [d.sha256 for d in small_docs]
    store = load_store(fake_index)
    assert list(store.documents) == ["cats.txt", "ships.txt", "jets.txt"]
    for p in store.passages:
        doc = store.documents[p.doc_id]
        assert doc.text[p.start : p.end].startswith(doc.text[store.sentences[p.first_sentence].start : store.sentences[p.first_sentence].end])


def test_exact_index_when_small_hnsw_when_large(tmp_path: Path, small_docs: list[qa.Document], fake_embedder: HashingEmbedder) -> None:
    qa.build_index(small_docs, tmp_path / "flat", model=fake_embedder)
    qa.build_index(small_docs, tmp_path / "hnsw", model=fake_embedder, exact_max=1)
    assert read_manifest(tmp_path / "flat")["index"]["type"] == "flat"
    assert read_manifest(tmp_path / "hnsw")["index"]["type"] == "hnsw"
    bot = qa.load(tmp_path / "hnsw", model=fake_embedder)
    assert bot.retrieve("container ships at the port", top_k=1)[0].doc_id == "ships.txt"


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(qa.IndexNotFoundError, match="no index in .*qa index"):
        load_store(tmp_path / "none")


def test_corrupt_and_truncated_files(fake_index: Path) -> None:
    faiss_file = fake_index / FAISS_INDEX
    data = faiss_file.read_bytes()
    faiss_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(qa.CorruptIndexError, match="index.faiss.*truncated or altered.*qa index"):
        load_store(fake_index)
    faiss_file.write_bytes(bytes(b ^ 0xFF for b in data))
    with pytest.raises(qa.CorruptIndexError, match="checksum"):
        load_store(fake_index)
    faiss_file.unlink()
    with pytest.raises(qa.CorruptIndexError, match="'index.faiss' is missing"):
        load_store(fake_index)


def test_garbage_faiss_with_matching_manifest_is_corrupt_not_raw(fake_index: Path) -> None:
    faiss_file = fake_index / FAISS_INDEX
    faiss_file.write_bytes(b"garbage" * 10)
    manifest = json.loads((fake_index / MANIFEST).read_text())
    del manifest["files"][FAISS_INDEX]  # bypass the checksum: the reader itself must fail cleanly
    (fake_index / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(qa.CorruptIndexError, match="cannot read index"):
        load_store(fake_index)


def test_future_format_and_bad_manifest(fake_index: Path) -> None:
    manifest = json.loads((fake_index / MANIFEST).read_text())
    manifest["format_version"] = 99
    (fake_index / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(qa.IndexVersionError, match="format version 99.*upgrade qa"):
        load_store(fake_index)
    (fake_index / MANIFEST).write_text("{not json")
    with pytest.raises(qa.CorruptIndexError, match="unreadable manifest.json"):
        load_store(fake_index)


def test_model_mismatch_refused(fake_index: Path) -> None:
    with pytest.raises(qa.ModelMismatchError, match="built with model 'test/hashing-64', not 'sentence-transformers/all-MiniLM-L6-v2'"):
        load_store(fake_index, model="sentence-transformers/all-MiniLM-L6-v2")


def test_changed_document_is_stale(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text("Alpha text about harbours.", encoding="utf-8")
    (src / "b.txt").write_text("Beta text about jets.", encoding="utf-8")
    qa.build_index([src], tmp_path / "idx", model=fake_embedder)
    load_store(tmp_path / "idx")  # fresh: fine
    os.utime(src / "a.txt", ns=(1, 1))  # touched but unchanged content: still fine
    load_store(tmp_path / "idx")
    (src / "b.txt").write_text("Beta text about jets, changed.", encoding="utf-8")
    with pytest.raises(qa.StaleIndexError, match=r"1 document\(s\) changed .*'b.txt'.*qa index"):
        load_store(tmp_path / "idx")
    (src / "b.txt").unlink()  # a removed source is not stale: the index keeps the text
    load_store(tmp_path / "idx")


def test_failed_build_keeps_previous_index(fake_index: Path, small_docs: list[qa.Document]) -> None:
    before = (fake_index / MANIFEST).read_text()
    with pytest.raises(RuntimeError, match="simulated failure"):
        qa.build_index(small_docs[:1], fake_index, model=HashingEmbedder(fail_after=1))
    assert (fake_index / MANIFEST).read_text() == before
    assert len(load_store(fake_index).documents) == 3
    assert not list(fake_index.parent.glob(".idx.build-*"))  # temporary folder cleaned up


def test_concurrent_build_is_refused(fake_index: Path, small_docs: list[qa.Document]) -> None:
    with build_lock(fake_index):
        with pytest.raises(qa.IndexLockedError, match="another build is writing"):
            qa.build_index(small_docs, fake_index, model=HashingEmbedder())
    assert len(load_store(fake_index).documents) == 3


def test_killed_build_leaves_old_index_loadable(fake_index: Path, tmp_path: Path) -> None:
    """SIGKILL a build in a child process while it writes; the old index must still load."""
    corpus = tmp_path / "big"
    corpus.mkdir()
    for i in range(300):
        (corpus / f"doc{i:03}.txt").write_text(f"Document {i} talks about topic {i}. " * 40, encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from tests.conftest import HashingEmbedder
        import qa

        class Slow(HashingEmbedder):
            def encode(self, texts, batch_size=64, show_progress=False):
                print("encoding", flush=True)
                time.sleep(0.05)
                return super().encode(texts)

        qa.build_index([{str(corpus)!r}], {str(fake_index)!r}, model=Slow())
        print("done", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "encoding"
    time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    store = load_store(fake_index)
    assert list(store.documents) == ["cats.txt", "ships.txt", "jets.txt"]
    # and a new build into the same folder works afterwards
    qa.build_index([corpus], fake_index, model=HashingEmbedder())
    assert len(load_store(fake_index).documents) == 300


def test_interrupted_swap_is_recovered(fake_index: Path) -> None:
    """A build that died between its two renames left the old index aside; loading puts it back."""
    aside = fake_index.parent / f".{fake_index.name}.old-12345"
    fake_index.rename(aside)
    assert len(load_store(fake_index).documents) == 3
    assert not aside.exists()


def test_write_index_requires_documents(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    with pytest.raises(qa.QAError, match="no documents to index"):
        write_index([], tmp_path / "x", fake_embedder)
