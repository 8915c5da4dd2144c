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
from qa.index.local.manifest import FAISS_INDEX, FORMAT_VERSION, MANIFEST, PASSAGE_VECTORS, SENTENCE_VECTORS, chunking_settings, file_entry, read_manifest, verify_index
from qa.index.local.build import build_lock, write_index
from qa.index.local.store import load_store
from qa.index.local.vectors import VectorRows
from tests.conftest import HashingEmbedder


def test_round_trip_plain_files(fake_index: Path, small_docs: list[qa.Document]) -> None:
    names = sorted(p.relative_to(fake_index).as_posix() for p in fake_index.rglob("*") if p.is_file())
    assert {"manifest.json", "index.faiss", "passages.jsonl", "documents.jsonl", "sentences.jsonl", "sentence_vectors.npy", "passage_vectors.npy"} <= set(names)
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)
    for npy in fake_index.rglob("*.npy"):
        np.load(npy, allow_pickle=False)  # would raise on pickled object arrays
    manifest = json.loads((fake_index / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 3
    assert manifest["model"] == {"name": "test/hashing-64", "dimension": 64, "normalized": True}
    assert manifest["chunking"] == chunking_settings() and manifest["chunking"]["max_words"] == 100 and manifest["chunking"]["overlap"] == 1
    assert manifest["chunking"]["segmenter"] == "pysbd-en"
    assert [d["text_sha256"] for d in manifest["documents"]] == [d.sha256 for d in small_docs]
    store = load_store(fake_index)
    assert list(store.documents) == ["cats.txt", "ships.txt", "jets.txt"]
    for p in store.passages:
        doc = store.documents[p.doc_id]
        assert doc.text[p.start : p.end].startswith(doc.text[store.sentences[p.first_sentence].start : store.sentences[p.first_sentence].end])


def test_exact_index_when_small_ivf_when_large(tmp_path: Path, small_docs: list[qa.Document], fake_embedder: HashingEmbedder) -> None:
    qa.build_index(small_docs, tmp_path / "flat", model=fake_embedder)
    qa.build_index(small_docs, tmp_path / "ivf", model=fake_embedder, exact_max=1)
    assert read_manifest(tmp_path / "flat")["index"]["type"] == "flat"
    info = read_manifest(tmp_path / "ivf")["index"]
    assert info["type"] == "ivf_sq8" and info["exact_max"] == 1 and info["nlist"] >= 1 and info["nprobe"] >= 1
    assert info["refine"] >= 1 and 0.0 <= info["calibration"]["recall"] <= 1.0
    bot = qa.load(tmp_path / "ivf", model=fake_embedder)
    assert bot.store.vectors.nprobe == info["nprobe"]  # search parameters restored from the manifest
    assert bot.retrieve("container ships at the port", top_k=1)[0].doc_id == "ships.txt"
    flat = qa.load(tmp_path / "flat", model=fake_embedder)
    for question in ["Do cats sleep?", "When will the jet fly?", "ships unload cargo"]:  # re-ranked: exact scores
        got = sorted((-round(p.score, 5), p.passage_id) for p in bot.retrieve(question, top_k=3, retrieval="dense"))
        assert got == sorted((-round(p.score, 5), p.passage_id) for p in flat.retrieve(question, top_k=3, retrieval="dense"))


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
    manifest["files"][FAISS_INDEX] = file_entry(faiss_file)  # a matching checksum: the reader itself must fail cleanly
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
        changed = qa.Document("cats.txt", "Cats", "Cats now sleep all night. Dogs bark.", "<memory>")  # must be embedded
        qa.build_index([changed], fake_index, model=HashingEmbedder(fail_after=1))
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
        sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
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


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, recording every text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts, batch_size=64, show_progress=False):  # type: ignore[no-untyped-def]
        self.texts.extend(texts)
        return super().encode(texts)


def _corpus(n: int = 12) -> list[qa.Document]:
    docs = []
    for i in range(n):
        body = " ".join(f"Sentence {j} of report {i} covers topic{i} and harbour{j % 3} with {j + i} ships." for j in range(9))
        docs.append(qa.Document(f"d{i:02}.txt", f"Report {i}", f"{body}\nA second paragraph of report {i} names jets and ports.", "<memory>"))
    return docs


def _texts(store_path: Path, doc_ids: set[str]) -> tuple[list[str], list[str]]:
    store = load_store(store_path)
    text = {d: store.documents[d].text for d in store.documents}
    passages = [text[p.doc_id][p.start : p.end] for p in store.passages if p.doc_id in doc_ids]
    sentences = [text[s.doc_id][s.start : s.end] for s in store.sentences if s.doc_id in doc_ids]
    return passages, sentences


SAME_FILES = (
    "documents.jsonl", "passages.jsonl", "sentences.jsonl", "words.json",
    "passage_vectors.npy", "sentence_vectors.npy", "word_vectors.npy", "index.faiss",
)


@pytest.mark.parametrize("exact_max", [20_000, 20])  # flat, and IVF-SQ8 (trained and calibrated on every build)
def test_incremental_build_embeds_only_changed_documents_and_equals_full_rebuild(tmp_path: Path, exact_max: int) -> None:
    docs = _corpus()
    qa.build_index(docs, tmp_path / "inc", model=CountingEmbedder(), exact_max=exact_max)
    old_words = set(json.loads((tmp_path / "inc" / "words.json").read_text()))
    new_docs = list(docs)
    new_docs[3] = qa.Document("d03.txt", "Report 3", "Report 3 was rewritten. It now covers submarines and frigates.\nNothing else.", "<memory>")
    del new_docs[7]  # a removed document
    new_docs.append(qa.Document("new.txt", "New", "A new report about airports. Planes land at night.", "<memory>"))
    counter = CountingEmbedder()
    report = qa.build_index(new_docs, tmp_path / "inc", model=counter, exact_max=exact_max)
    full_counter = CountingEmbedder()
    full = qa.build_index(new_docs, tmp_path / "full", model=full_counter, exact_max=exact_max, incremental=False)

    changed_passages, changed_sentences = _texts(tmp_path / "inc", {"d03.txt", "new.txt"})
    assert report.reused_documents == len(new_docs) - 2 and full.reused_documents == 0
    assert report.embedded_passages == len(changed_passages) < report.passages
    assert full.embedded_passages == full.passages == report.passages
    assert set(changed_sentences) <= set(counter.texts)
    allowed = set(changed_sentences)  # passages are pooled from their sentences, never encoded whole
    assert all(t in allowed or t not in old_words and " " not in t for t in counter.texts)  # else only new words
    assert len(counter.texts) < len(full_counter.texts) / 4
    manifest = read_manifest(tmp_path / "inc")
    assert manifest["build"]["embedded"]["passages"] == len(changed_passages)
    assert manifest["index"]["type"] == ("flat" if exact_max > 1000 else "ivf_sq8")
    for name in SAME_FILES:
        assert (tmp_path / "inc" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    inc_bot = qa.load(tmp_path / "inc", model=HashingEmbedder())
    full_bot = qa.load(tmp_path / "full", model=HashingEmbedder())
    for question in ["Which report covers submarines?", "What lands at night?", "harbour1 ships in report 5", "topic11"]:
        assert inc_bot.ask(question) == full_bot.ask(question)
        assert inc_bot.retrieve(question, top_k=8) == full_bot.retrieve(question, top_k=8)


def test_unchanged_rebuild_embeds_nothing(tmp_path: Path) -> None:
    docs = _corpus(4)
    qa.build_index(docs, tmp_path / "idx", model=HashingEmbedder())
    counter = CountingEmbedder()
    report = qa.build_index(list(reversed(docs)), tmp_path / "idx", model=counter)  # new order: rows move, vectors follow
    assert counter.texts == [] and report.embedded_passages == 0 and report.reused_documents == 4
    assert list(load_store(tmp_path / "idx").documents) == [d.doc_id for d in reversed(docs)]
    qa.build_index(list(reversed(docs)), tmp_path / "full", model=HashingEmbedder(), incremental=False)
    for name in SAME_FILES:
        assert (tmp_path / "idx" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


def test_other_model_or_chunking_or_damage_embeds_everything(tmp_path: Path, fake_index: Path, small_docs: list[qa.Document]) -> None:
    class Other(CountingEmbedder):
        name = "test/other-64"

    other = Other()
    assert qa.build_index(small_docs, fake_index, model=other).embedded_passages == len(load_store(fake_index).passages)
    counter = CountingEmbedder()
    report = qa.build_index(small_docs, fake_index, model=counter, max_words=5)
    assert report.reused_documents == 0 and report.embedded_passages == report.passages
    # same size, other bytes: the stored vectors are not trusted
    vectors = fake_index / PASSAGE_VECTORS
    data = bytearray(vectors.read_bytes())
    data[-1] ^= 0xFF
    vectors.write_bytes(bytes(data))
    with pytest.raises(qa.CorruptIndexError, match="passage_vectors.npy.*checksum"):
        load_store(fake_index)
    counter = CountingEmbedder()
    report = qa.build_index(small_docs, fake_index, model=counter, max_words=5)
    assert report.reused_documents == 0 and counter.texts
    load_store(fake_index)


def test_old_format_index_is_refused_on_load_and_rebuilt_in_full(fake_index: Path, small_docs: list[qa.Document]) -> None:
    manifest = json.loads((fake_index / MANIFEST).read_text())
    manifest["format_version"] = 1
    (fake_index / PASSAGE_VECTORS).unlink()
    del manifest["files"][PASSAGE_VECTORS]
    (fake_index / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(qa.IndexVersionError, match="format version 1, this qa reads versions 2 and 3.*rebuild the index"):
        load_store(fake_index)
    counter = CountingEmbedder()
    report = qa.build_index(small_docs, fake_index, model=counter)
    assert report.reused_documents == 0 and report.embedded_passages == report.passages
    assert read_manifest(fake_index)["format_version"] == FORMAT_VERSION


def test_vectors_are_memory_mapped_and_large_files_checked_by_sample(
    tmp_path: Path, small_docs: list[qa.Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.index.local.manifest

    monkeypatch.setattr(qa.index.local.manifest, "HASH_MAX_BYTES", 100)  # every file counts as "large"
    path = tmp_path / "idx"
    qa.build_index(small_docs, path, model=HashingEmbedder())
    manifest = read_manifest(path)
    assert all("sample_sha256" in info for info in manifest["files"].values() if info["bytes"] > 100)
    store = load_store(path)
    assert isinstance(store.sentence_vectors, VectorRows) and isinstance(store.word_vectors, np.ndarray)  # never mapped
    assert np.array_equal(store.sentence_vectors[[2, 0]], np.load(path / SENTENCE_VECTORS)[[2, 0]])
    exact = store.vectors.exact  # read with pread, not mapped
    assert exact.shape == (len(store.passages), 64)
    assert np.array_equal(exact[np.array([0, 1, 2])], np.load(path / PASSAGE_VECTORS)[:3])
    assert verify_index(path) == manifest
    faiss_file = path / FAISS_INDEX
    data = faiss_file.read_bytes()
    faiss_file.write_bytes(bytes(b ^ 0xFF for b in data))
    with pytest.raises(qa.CorruptIndexError, match="index.faiss.*checksum"):
        load_store(path)
    with pytest.raises(qa.CorruptIndexError, match="index.faiss.*checksum"):
        verify_index(path)
    faiss_file.write_bytes(data[:-10])
    with pytest.raises(qa.CorruptIndexError, match="truncated or altered"):
        load_store(path)


def test_ivf_index_choice_parameters_recall_and_determinism(tmp_path: Path) -> None:
    import faiss

    from qa.index.local.vectors import VectorIndex, VectorRows, ivf_nlist, make_vector_index

    assert ivf_nlist(1) == 1 and ivf_nlist(3_000) == 3_000 // 39 and ivf_nlist(1_000_000) == 4_000
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 32)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, 3_000)] + 0.4 * rng.standard_normal((3_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index, info = make_vector_index(vectors, exact_max=1_000)
    again, info_again = make_vector_index(vectors, exact_max=1_000)
    assert info == info_again and faiss.serialize_index(index).tobytes() == faiss.serialize_index(again).tobytes()
    assert info["type"] == "ivf_sq8" and info["nlist"] == ivf_nlist(3_000) and info["nprobe"] <= info["nlist"]
    assert info["calibration"]["recall"] >= 0.95 or info["nprobe"] == info["nlist"]
    np.save(tmp_path / "v.npy", vectors)
    rows = VectorRows(tmp_path / "v.npy")
    assert np.array_equal(rows[np.array([0, 1, 2, 7, 2999])], vectors[[0, 1, 2, 7, 2999]])
    searcher = VectorIndex(faiss.deserialize_index(faiss.serialize_index(index)), info, rows)
    queries = vectors[:50] + 0.5 * rng.standard_normal((50, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    single = np.vstack([searcher.search(q[None], 10)[1] for q in queries])
    assert np.array_equal(single, searcher.search(queries, 10)[1])  # one thread or all: same answers
    from qa.index.local.vectors import recall_at_k

    assert recall_at_k(single, truth, 10) >= 0.95
    scores, ids = searcher.search(queries[:1], 10)
    assert np.allclose(scores[0], vectors[ids[0]] @ queries[0], atol=1e-5)  # re-ranked: exact cosines


def test_passage_vectors_are_length_weighted_means_of_their_sentence_vectors(tmp_path: Path) -> None:
    docs = _corpus(3)
    counter = CountingEmbedder()
    qa.build_index(docs, tmp_path / "ix", model=counter)
    store = load_store(tmp_path / "ix")
    passages, sentences = _texts(tmp_path / "ix", {d.doc_id for d in docs})
    assert not set(passages) & set(counter.texts) - set(sentences)  # no passage was encoded whole
    stored = np.load(tmp_path / "ix" / "passage_vectors.npy")
    plain = HashingEmbedder()
    multi = 0
    for row, record in enumerate(store.passages):
        members = store.sentences[record.first_sentence : record.last_sentence]
        multi += len(members) > 1
        texts = [store.documents[s.doc_id].text[s.start : s.end] for s in members]
        weighted = np.array([len(t) for t in texts], dtype=np.float32) @ plain.encode(texts)
        np.testing.assert_allclose(stored[row], weighted / np.linalg.norm(weighted), atol=1e-6)
    assert multi >= 3
    assert read_manifest(tmp_path / "ix")["chunking"]["passage_vectors"] == "sentence-mean-by-chars"


TRUNCATE_UNDER_A_LOADED_ENGINE = """
import os, sys
import qa
from tests.conftest import HashingEmbedder
bot = qa.load(sys.argv[1], model=HashingEmbedder(), reader=False)
bot.auto_reload = False
assert not bot.ask("What does document 3 say about harbour ships?").abstained
for names in (["sentence_vectors.npy"], ["passage_vectors.npy", "word_vectors.npy"]):
    for name in names:
        os.truncate(os.path.join(sys.argv[1], name), 200)
    bot.store.sentence_cache.clear()
    try:
        bot.ask("Which cargo number does sentence 71 of document 7 name?")
    except qa.QAError as exc:
        print(type(exc).__name__, exc)
print("alive")
"""


def test_a_vector_file_truncated_under_a_loaded_engine_is_an_error_not_a_dead_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    docs = [
        qa.Document(f"d{i}.txt", f"D{i}", " ".join(f"Sentence {j} of document {i} names harbour ships and cargo number {j}." for j in range(80)), "<memory>")
        for i in range(8)
    ]
    path = tmp_path / "idx"
    qa.build_index(docs, path, model=HashingEmbedder(), exact_max=20)  # IVF: passage vectors are read to re-rank
    assert read_manifest(path)["index"]["type"] == "ivf_sq8" and (path / SENTENCE_VECTORS).stat().st_size > 50_000
    done = subprocess.run(
        [sys.executable, "-c", TRUNCATE_UNDER_A_LOADED_ENGINE, str(path)],
        cwd=Path(__file__).parents[3], capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    errors = done.stdout.splitlines()
    assert len(errors) == 3 and errors[-1] == "alive", done.stdout
    for line in errors[:2]:
        assert line.startswith("CorruptIndexError index file ") and "was cut short while the index was loaded" in line
        assert line.endswith("rebuild the index with `qa index`")
    assert "sentence_vectors.npy" in errors[0] and "passage_vectors.npy" in errors[1]
