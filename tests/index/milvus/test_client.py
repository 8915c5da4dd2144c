"""The connection to Milvus: failures name what to check; filter literals survive any character."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import qa
from qa.errors import IndexNotFoundError, IndexUnavailableError
from qa.index.location import parse_location
from qa.index.milvus.client import Connection, collection_names, quote
from qa.index.milvus.store import load_milvus_store
from tests.conftest import HashingEmbedder


def test_collection_names_and_quoting() -> None:
    assert collection_names("news") == {
        "documents": "news_documents", "passages": "news_passages", "sentences": "news_sentences", "words": "news_words",
    }
    assert quote('a "b"\\c\nd') == '"a \\"b\\"\\\\c\\nd"'


def test_a_missing_lite_directory_is_not_created_by_a_reader(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no Milvus Lite index at .*or check the path"):
        Connection(parse_location(str(tmp_path / "a" / "b.db")))
    assert not (tmp_path / "a").exists()
    conn = Connection(parse_location(str(tmp_path / "a" / "b.db")), create=True)
    assert not conn.exists() and conn.round_trips == 1
    conn.close()


def test_an_unreachable_server_says_what_to_check() -> None:
    with pytest.raises(IndexUnavailableError, match=r"cannot use the Milvus server at 'http://127.0.0.1:9'.*\$QA_MILVUS_TOKEN"):
        qa.load("http://127.0.0.1:9", model=HashingEmbedder())


def test_a_lite_directory_open_in_another_process_says_to_serve_it(tmp_path: Path) -> None:
    location = tmp_path / "locked.db"
    code = f"from pymilvus import MilvusClient; import time; c = MilvusClient({str(location)!r}); c.list_collections(); print('ready', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(IndexUnavailableError, match="is open in another process.*milvus-lite server --data-dir"):
            load_milvus_store(str(location))
    finally:
        holder.terminate()
        holder.wait(timeout=30)


def test_released_collections_are_loaded_again_and_loads_share_one_client(tmp_path: Path) -> None:
    location = str(tmp_path / "r.db")
    qa.build_index([qa.Document("a.txt", "A", "Storks fly south in autumn.")], location, model=HashingEmbedder())
    bot = qa.load(location, model=HashingEmbedder(), reader=False)
    conn = bot.store.conn  # type: ignore[attr-defined]
    assert qa.load(location, model=HashingEmbedder(), reader=False).store.conn is conn  # type: ignore[attr-defined]
    for name in conn.names.values():
        conn.client.release_collection(name)  # as after a server restart
    assert bot.ask("When do storks fly south?").citations[0].doc_id == "a.txt"
