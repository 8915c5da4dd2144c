"""Across processes: milvus-lite's own server on loopback, reached by URI as a cluster would be.

This process builds an index through ``http://127.0.0.1:PORT`` and loads it; a second
process adds a document, asks about it and removes it; this process's engine sees the
upload and the removal (it reloads when the index's generation changes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import qa
from eval.bench.common import free_port
from eval.bench.serving import serve, tcp_ready
from tests.conftest import HashingEmbedder

ROOT = Path(__file__).parents[3]
DOCS = [
    qa.Document("cats.txt", "Cats", "Cats sleep most of the day. A cat purrs when it is content.", "<memory>"),
    qa.Document("ships.txt", "Ships", "The harbour hosts large container ships. Ships unload cargo at the port.", "<memory>"),
]
CHILD = """
import json, sys
import qa
from tests.conftest import HashingEmbedder
uri, note = sys.argv[1], sys.argv[2]
embedder = HashingEmbedder()
report = qa.add_documents([note], uri, model=embedder)
bot = qa.load(uri, model=embedder, reader=False)
answer = bot.ask("When does the lighthouse keeper retire?")
print(json.dumps({"added": [a.doc_id for a in report.added], "cited": answer.citations[0].doc_id, "quote": answer.citations[0].quote}), flush=True)
sys.stdin.readline()
removed = qa.remove_documents(["note.txt"], uri)
print(json.dumps({"removed": list(removed.removed), "left": removed.documents}), flush=True)
"""


@pytest.fixture
def milvus_server(tmp_path: Path) -> Iterator[str]:
    """``milvus-lite server`` on loopback (always --host: its default is 0.0.0.0), stopped with SIGTERM."""
    port = free_port()
    program = Path(sys.executable).parent / "milvus-lite"
    command = [str(program), "server", "--data-dir", str(tmp_path / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with serve(command, tcp_ready(port), name="milvus-lite server", log=tmp_path / "milvus.log", timeout=60, stop_timeout=30):
        yield f"http://127.0.0.1:{port}"


def test_a_second_process_adds_asks_and_removes_through_the_server(milvus_server: str, tmp_path: Path) -> None:
    uri = milvus_server + "#shared"
    embedder = HashingEmbedder()
    report = qa.build_index(DOCS, uri, model=embedder)
    assert (report.path, report.documents) == (uri, 2)
    bot = qa.load(uri, model=embedder, reader=False)
    note = tmp_path / "note.txt"
    note.write_text("The lighthouse keeper retires in April. Gulls nest on the old pier.", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, str(note)], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        first = json.loads(child.stdout.readline())
        assert first == {"added": ["note.txt"], "cited": "note.txt", "quote": "The lighthouse keeper retires in April."}
        time.sleep(1.1)  # the engine looks at most once a second whether the index changed
        answer = bot.ask("When does the lighthouse keeper retire?")
        assert answer.citations[0].doc_id == "note.txt" and bot.document("note.txt").text.startswith("The lighthouse")
        child.stdin.write("go\n")
        child.stdin.flush()
        assert json.loads(child.stdout.readline()) == {"removed": ["note.txt"], "left": 2}
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
    time.sleep(1.1)
    bot.ask("Where do ships unload?")
    assert sorted(bot.store.documents) == ["cats.txt", "ships.txt"]
    assert [d.doc_id for d in qa.list_documents(uri)] == ["cats.txt", "ships.txt"]


WORKER = """
import sys
import qa
from tests.conftest import HashingEmbedder
report = qa.build_index([sys.argv[2]], sys.argv[1], model=HashingEmbedder(), shard=sys.argv[3])
print(report.documents, flush=True)
"""
TOPICS = {
    "cats.txt": "Cats sleep most of the day. A cat purrs when it is content.",
    "ships.txt": "The harbour hosts large container ships. Ships unload cargo at the port.",
    "jets.txt": "The fighter jet will fly by 2035. Engineers test the engines every week.",
    "bees/hive.txt": "Bees build hives of wax. The queen lays eggs in spring.",
    "bees/honey.md": "# Honey\\n\\nHoney is made from nectar. Beekeepers harvest it in late summer.",
    "rivers.txt": "The river floods in March. Farmers plant rice on its banks.",
    "trains.txt": "The night train leaves at ten. It reaches the coast by dawn.",
}


def test_two_workers_build_shards_of_one_index_that_answers_as_one_build(milvus_server: str, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    for name, text in TOPICS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text.replace("\\\\n", "\\n"), encoding="utf-8")
    sharded, single = milvus_server + "#sharded", milvus_server + "#single"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, sharded, str(folder), f"{i}/2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for i in (1, 2)
    ]
    counts = [int(w.communicate(timeout=120)[0].strip()) for w in workers]
    assert all(w.returncode == 0 for w in workers) and sorted(counts) == [3, 4]
    embedder = HashingEmbedder()
    qa.build_index([folder], single, model=embedder)
    one, two = qa.load(single, model=embedder, reader=False), qa.load(sharded, model=embedder, reader=False)
    assert list(two.store.documents.values()) == list(one.store.documents.values())
    assert list(two.store.passages) == list(one.store.passages) and list(two.store.sentences) == list(one.store.sentences)
    for question in ["When does the river flood?", "Who lays eggs?", "When does the night train leave?"]:
        assert two.ask(question).citations == one.ask(question).citations
