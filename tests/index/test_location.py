"""Location strings pick the backend: a folder, Milvus Lite (.db) or a Milvus server (http(s)://)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.index.location import DEFAULT_COLLECTION, Location, default_index_dir, default_location, parse_location


def test_a_folder_is_local() -> None:
    where = parse_location("some/index")
    assert where == Location("local", "some/index")
    assert not where.is_milvus and where.path == Path("some/index") and str(where) == "some/index"


def test_a_db_path_is_milvus_lite_with_the_default_collection() -> None:
    where = parse_location("data/archive.db")
    assert (where.kind, where.uri, where.collection) == ("lite", "data/archive.db", DEFAULT_COLLECTION)
    assert where.is_milvus and where.path == Path("data/archive.db") and str(where) == "data/archive.db"


def test_a_uri_is_a_server_and_hash_names_the_collection() -> None:
    where = parse_location("http://milvus.internal:19530#news_2026")
    assert (where.kind, where.uri, where.collection) == ("server", "http://milvus.internal:19530", "news_2026")
    assert str(where) == "http://milvus.internal:19530#news_2026"
    assert parse_location("https://10.0.0.5:443").kind == "server"
    assert parse_location("archive.db#news").collection == "news"


def test_a_folder_may_hold_a_hash() -> None:
    assert parse_location("notes#1").kind == "local"


def test_default_location_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_INDEX_DIR", raising=False)
    assert default_location() == "index" and default_index_dir() == Path("index") and parse_location(None).kind == "local"
    monkeypatch.setenv("QA_INDEX_DIR", "http://127.0.0.1:19530#qa")
    assert parse_location(None).kind == "server"


def test_a_server_has_no_path() -> None:
    with pytest.raises(ValueError, match="is a Milvus server, not a path"):
        parse_location("http://127.0.0.1:19530").path


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("", "index location is empty"),
        ("grpc://host:19530", "has scheme 'grpc': use http://host:port"),
        ("http://host", "needs a host and a port, e.g. http://127.0.0.1:19530"),
        ("http://host:port", "needs a host and a port"),
        ("x.db#9lives", "collection name '9lives' is not valid"),
        ("http://h:1#bad-name", "collection name 'bad-name' is not valid: use letters, digits and underscores"),
    ],
)
def test_bad_locations_say_how_to_fix_them(location: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_location(location)
