"""The Milvus store with real Milvus Lite in this process: the bundled article answers as the local index does,
loading checks the index as a local one is checked, and failures are clear :class:`qa.QAError` s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import qa
from qa.errors import CorruptIndexError, IndexNotFoundError, IndexVersionError, ModelMismatchError
from qa.documents.ingest import default_documents
from qa.index.location import parse_location
from qa.index.milvus.build import write_documents
from qa.index.milvus.client import Connection
from qa.index.milvus.store import MANIFEST_KEY, MilvusStore, load_milvus_store
from qa.index.backend import open_store
from qa.index.store import IndexStore
from tests.conftest import HashingEmbedder

QUESTIONS = [json.loads(line)["question"] for line in (Path(__file__).parents[3] / "eval" / "qa_article.jsonl").read_text().splitlines()]
SMALL = [
    qa.Document("cats.txt", "Cats", "Cats sleep most of the day. A cat purrs when it is content.\nKittens drink milk.", "<memory>"),
    qa.Document("ships.txt", "Ships", "The harbour hosts large container ships. Ships unload cargo at the port.", "<memory>"),
    qa.Document("jets.txt", "Jets", "The fighter jet will fly by 2035. Engineers test the engines every week.", "<memory>", (0, 33)),
]


@pytest.fixture(scope="module")
def milvus_article(tmp_path_factory: pytest.TempPathFactory, real_embedder: object) -> qa.QA:
    """The bundled article indexed into Milvus Lite with the real model."""
    location = str(tmp_path_factory.mktemp("milvus") / "article.db")
    report = qa.build_index(default_documents(), location, model=real_embedder)  # type: ignore[arg-type]
    assert (report.path, report.documents, report.passages) == (location, 1, 5)
    bot = qa.load(location, model=real_embedder)  # type: ignore[arg-type]
    bot.auto_reload = False
    return bot


@pytest.fixture(scope="module")
def small_lite(tmp_path_factory: pytest.TempPathFactory) -> str:
    location = str(tmp_path_factory.mktemp("milvus") / "small.db")
    write_documents(SMALL, parse_location(location), HashingEmbedder())
    return location


@pytest.mark.slow
def test_the_article_in_milvus_lite_retrieves_and_answers_as_the_local_index(milvus_article: qa.QA, article_bot: qa.QA) -> None:
    assert isinstance(milvus_article.store, MilvusStore) and isinstance(milvus_article.store, IndexStore)
    for question in QUESTIONS:
        local = article_bot.retrieve(question, top_k=5)
        milvus = milvus_article.retrieve(question, top_k=5)
        assert [(p.passage_id, p.start, p.end, p.text) for p in milvus] == [(p.passage_id, p.start, p.end, p.text) for p in local], question
        assert [p.score for p in milvus] == pytest.approx([p.score for p in local], abs=1e-6)
    for question in QUESTIONS[::3]:
        local, milvus = article_bot.ask(question), milvus_article.ask(question)
        assert (milvus.text, milvus.abstained, milvus.citations, milvus.phrase) == (local.text, local.abstained, local.citations, local.phrase)
        assert milvus.confidence == pytest.approx(local.confidence, abs=2e-3)
        for c in milvus.citations:
            assert milvus_article.document(c.doc_id).text[c.start : c.end] == c.quote


@pytest.mark.slow
def test_a_question_costs_two_round_trips(milvus_article: qa.QA) -> None:
    conn = milvus_article.store.conn  # type: ignore[attr-defined]
    before = conn.round_trips
    milvus_article.ask("Who is the EU foreign policy chief?")
    assert conn.round_trips - before == 2  # one hybrid_search, one get of the hits' sentence vectors


def test_the_store_holds_the_records_a_local_index_holds(small_lite: str, tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    qa.build_index(SMALL, tmp_path / "local", model=embedder)
    local = open_store(tmp_path / "local")
    milvus = open_store(small_lite)
    assert list(milvus.documents.values()) == list(local.documents.values())
    assert list(milvus.passages) == list(local.passages) and list(milvus.sentences) == list(local.sentences)
    assert milvus.words == local.words
    assert (milvus.word_vectors == local.word_vectors.astype("float32")).all()
    ids = list(range(len(local.sentences)))
    assert (milvus.sentence_vectors[ids] == local.sentence_vectors[ids].astype("float32")).all()
    assert all(milvus.bm25.doc_freq(t) == local.bm25.doc_freq(t) for t in ["cat", "ship", "engin", "nothing"])
    manifest = milvus.manifest
    assert manifest["counts"] == local.manifest["counts"] and manifest["model"] == local.manifest["model"]
    assert manifest["documents"] == local.manifest["documents"] and manifest["index"]["type"] == "milvus-hnsw"
    bot = qa.load(small_lite, model=embedder, reader=False)
    answer = bot.ask("When will the fighter jet fly?")
    assert answer.citations and answer.citations[0].doc_id == "jets.txt" and answer.citations[0].page == 1


def test_dense_and_bm25_methods(small_lite: str) -> None:
    bot = qa.load(small_lite, model=HashingEmbedder(), reader=False)
    assert bot.retrieve("container ships", top_k=1, retrieval="dense")[0].doc_id == "ships.txt"
    assert bot.retrieve("kittens milk", top_k=1, retrieval="bm25")[0].doc_id == "cats.txt"
    assert bot.retrieve("zzzz qqqq", top_k=3, retrieval="bm25") == []


def test_a_missing_index_is_not_found(small_lite: str, tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no Milvus Lite index at .*qa index DOCS --index"):
        qa.load(str(tmp_path / "none.db"), model=HashingEmbedder())
    with pytest.raises(IndexNotFoundError, match="no qa index in collection 'other'.*qa index DOCS --index"):
        qa.load(small_lite + "#other", model=HashingEmbedder())


def test_another_model_is_refused(small_lite: str) -> None:
    with pytest.raises(ModelMismatchError, match="was built with model 'test/hashing-64', not 'other/model'"):
        qa.load(small_lite, model="other/model")
    with pytest.raises(ModelMismatchError, match="build with that model, or into another collection"):
        write_documents(SMALL, parse_location(small_lite), _Wider())


class _Wider(HashingEmbedder):
    name = "test/other-32"
    dimension = 32


def _set_manifest(location: str, change: object) -> None:
    conn = Connection(parse_location(location))
    row = conn.client.get(conn.names["documents"], ids=[MANIFEST_KEY], output_fields=["pk", "doc_id", "kind", "version", "chunk", "body", "vector"])[0]
    row["body"] = change(row["body"])  # type: ignore[operator]
    conn.client.upsert(conn.names["documents"], [row])


def test_a_newer_or_damaged_manifest_is_refused(tmp_path: Path) -> None:
    location = str(tmp_path / "m.db")
    write_documents(SMALL[:1], parse_location(location), HashingEmbedder())
    _set_manifest(location, lambda body: json.dumps({**json.loads(body), "format_version": 99}))
    with pytest.raises(IndexVersionError, match="Milvus layout version 99, newer than this qa reads .*upgrade qa"):
        load_milvus_store(location)
    _set_manifest(location, lambda body: "{not json")
    with pytest.raises(CorruptIndexError, match="manifest of index .* is missing or unreadable; rebuild it"):
        load_milvus_store(location)


def test_missing_records_are_a_corrupt_index(tmp_path: Path) -> None:
    location = str(tmp_path / "c.db")
    write_documents(SMALL, parse_location(location), HashingEmbedder())
    conn = Connection(parse_location(location))
    conn.client.delete(conn.names["passages"], filter='doc_id == "ships.txt"')
    with pytest.raises(CorruptIndexError, match="inconsistent .*'ships.txt' has 0 passages .*rebuild it with `qa index DOCS --index"):
        load_milvus_store(location)


def test_an_index_written_by_a_process_that_ended_loads_and_answers(tmp_path: Path) -> None:
    location = str(tmp_path / "restart.db")
    code = (
        "import qa; from tests.conftest import HashingEmbedder; from tests.index.milvus.test_store import SMALL; "
        f"qa.build_index(SMALL, {location!r}, model=HashingEmbedder())"
    )
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[3], check=True, timeout=120)
    bot = qa.load(location, model=HashingEmbedder(), reader=False)  # its collections were released: loaded again
    assert bot.ask("Where do ships unload cargo?").citations[0].doc_id == "ships.txt"


def test_a_default_location_in_milvus_starts_as_the_bundled_article(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "default.db"))
    bot = qa.load(model=HashingEmbedder(), reader=False)
    assert isinstance(bot.store, MilvusStore) and [d.doc_id for d in bot.documents] == [default_documents()[0].doc_id]
    note = tmp_path / "note.txt"
    note.write_text("The lighthouse keeper retires in April.", encoding="utf-8")
    assert qa.add_documents([note], model=HashingEmbedder()).documents == 2
    assert [d.doc_id for d in qa.list_documents()] == [default_documents()[0].doc_id, "note.txt"]
