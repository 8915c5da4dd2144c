"""Writing into Milvus Lite: per-document versions, incremental rewrites, removal, the library operations and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.cli import main
from qa.errors import DocumentNotFoundError, QAError
from qa.index.location import parse_location
from qa.index.milvus.build import check_dense_index, read_heads, read_kept_file, write_documents
from qa.index.milvus.client import Connection
from qa.index.milvus.store import load_milvus_store
from tests.conftest import HashingEmbedder

DOCS = [
    qa.Document("cats.txt", "Cats", "Cats sleep most of the day. A cat purrs when it is content.\nKittens drink milk.", "<memory>"),
    qa.Document("ships.txt", "Ships", "The harbour hosts large container ships. Ships unload cargo at the port.", "<memory>"),
]


def _count(location: str, part: str) -> int:
    conn = Connection(parse_location(location))
    return int(conn.client.query(conn.names[part], filter="", output_fields=["count(*)"])[0]["count(*)"])


def test_unchanged_documents_are_not_written_again_and_changed_ones_replace_their_rows(tmp_path: Path) -> None:
    location = str(tmp_path / "i.db")
    embedder = HashingEmbedder()
    first = write_documents(DOCS, parse_location(location), embedder)
    assert (first.written, first.unchanged, first.documents, first.passages) == (("cats.txt", "ships.txt"), (), 2, 2)
    rows = _count(location, "passages")
    calls = embedder.calls
    again = write_documents(DOCS, parse_location(location), embedder)
    assert (again.written, again.unchanged, again.embedded_passages) == ((), ("cats.txt", "ships.txt"), 0)
    assert embedder.calls == calls  # nothing embedded
    changed = qa.Document("ships.txt", "Ships", "Ferries sail at dawn. The port is closed on Sundays.", "<memory>")
    third = write_documents([DOCS[0], changed], parse_location(location), embedder)
    assert third.written == ("ships.txt",) and third.unchanged == ("cats.txt",)
    assert _count(location, "passages") == rows  # the old version's rows are gone
    store = load_milvus_store(location)
    assert store.documents["ships.txt"].text == changed.text


def test_a_full_build_removes_documents_not_given_and_a_partial_one_keeps_them(tmp_path: Path) -> None:
    location = str(tmp_path / "p.db")
    write_documents(DOCS, parse_location(location), HashingEmbedder())
    extra = qa.Document("jets.txt", "Jets", "The fighter jet will fly by 2035.", "<memory>")
    kept = write_documents([extra], parse_location(location), HashingEmbedder(), prune=False)
    assert kept.removed == () and kept.documents == 3
    pruned = write_documents([extra], parse_location(location), HashingEmbedder())
    assert pruned.removed == ("cats.txt", "ships.txt") and pruned.documents == 1
    assert list(load_milvus_store(location).documents) == ["jets.txt"]
    assert _count(location, "sentences") == 1


def test_a_failed_write_leaves_the_previous_index_answering(tmp_path: Path) -> None:
    location = str(tmp_path / "f.db")
    write_documents(DOCS, parse_location(location), HashingEmbedder())
    before = load_milvus_store(location)
    changed = [DOCS[0], qa.Document("ships.txt", "Ships", "Ferries sail at dawn.", "<memory>")]
    with pytest.raises(RuntimeError, match="simulated failure"):
        write_documents(changed, parse_location(location), HashingEmbedder(fail_after=0))
    after = load_milvus_store(location)
    assert after.documents == before.documents and list(after.passages) == list(before.passages)


def test_a_bad_dense_index_is_refused() -> None:
    with pytest.raises(ValueError, match="dense_index must be one of HNSW, IVF_SQ8, FLAT. Currently, dense_index is 'PQ'"):
        check_dense_index("PQ")
    with pytest.raises(ValueError, match="dense_index must be one of"):
        qa.build_index(DOCS, "x.db", model=HashingEmbedder(), dense_index="PQ")


def test_add_list_remove_on_milvus_keep_the_files_and_a_loaded_engine_sees_them(tmp_path: Path) -> None:
    location = str(tmp_path / "lib.db")
    embedder = HashingEmbedder()
    qa.build_index(DOCS, location, model=embedder)
    bot = qa.load(location, model=embedder, reader=False)
    note = tmp_path / "harbour note.txt"
    note.write_text("The lighthouse keeper retires in April. Gulls nest on the old pier.", encoding="utf-8")
    report = qa.add_documents([note], location, model=embedder)
    assert report.path == location and [a.doc_id for a in report.added] == ["harbour note.txt"] and report.documents == 3
    assert qa.add_documents([note], location, model=embedder).unchanged == ("harbour note.txt",)
    assert bot.reload()  # another build is in Milvus now (auto_reload checks the generation once a second)
    answer = bot.ask("When does the lighthouse keeper retire?")
    assert answer.citations[0].doc_id == "harbour note.txt" and "April" in answer.citations[0].quote
    listed = qa.list_documents(location)
    assert [(d.doc_id, d.added) for d in listed] == [("cats.txt", False), ("ships.txt", False), ("harbour note.txt", True)]
    conn = Connection(parse_location(location))
    head = read_heads(conn)["harbour note.txt"]
    meta_file = load_milvus_store(location).manifest["library"]["files"]["harbour note.txt"]
    assert read_kept_file(conn, "harbour note.txt", head["version"], 1) == note.read_bytes()
    assert meta_file["bytes"] == note.stat().st_size
    with pytest.raises(DocumentNotFoundError, match="no document 'nope.txt' in index .*see `qa list`"):
        qa.remove_documents(["nope.txt"], location)
    removed = qa.remove_documents(["harbour note.txt"], location)
    assert removed.removed == ("harbour note.txt",) and removed.documents == 2
    assert [d.doc_id for d in qa.list_documents(location)] == ["cats.txt", "ships.txt"]
    with pytest.raises(QAError, match="would leave index .* empty; an index needs at least one document"):
        qa.remove_documents(["cats.txt", "ships.txt"], location)
    assert bot.reload() and "harbour note.txt" not in bot.store.documents


def test_a_milvus_rebuild_refuses_to_drop_added_documents_unless_replace(tmp_path: Path) -> None:
    import shutil

    embedder = HashingEmbedder()
    qa.build_index(DOCS, str(tmp_path / "lib.db"), model=embedder)
    shutil.copytree(tmp_path / "lib.db", tmp_path / "copy.db")  # the repro: build, cp, add, index again, list
    location = str(tmp_path / "copy.db")
    note = tmp_path / "x.txt"
    note.write_text("The lighthouse keeper retires in April. Gulls nest on the old pier.", encoding="utf-8")
    qa.add_documents([note], location, model=embedder)
    manual = tmp_path / "manual.txt"
    manual.write_text("Descale the espresso machine every month.", encoding="utf-8")
    with pytest.raises(qa.ReplaceRefusedError, match=r"holds 1 document\(s\) added .*\('x.txt'\).*--replace"):
        qa.build_index([manual], location, model=embedder)
    with pytest.raises(qa.ReplaceRefusedError, match=r"\('x.txt'\)"):  # a shard that would overwrite it without its file
        qa.build_index([note], location, model=embedder, shard="1/1")
    with pytest.raises(qa.ReplaceRefusedError, match=r"\('x.txt'\)"):  # the write checks too, not only build_index
        write_documents([DOCS[0]], parse_location(location), embedder)
    assert [(d.doc_id, d.added) for d in qa.list_documents(location)] == [("cats.txt", False), ("ships.txt", False), ("x.txt", True)]
    qa.build_index([manual], location, model=embedder, shard="1/1")  # a shard that leaves it alone is fine
    report = qa.build_index([manual], location, model=embedder, replace=True)
    assert report.removed_added == ("x.txt",)
    assert [(d.doc_id, d.added) for d in qa.list_documents(location)] == [("manual.txt", False)]


def test_adding_a_file_a_milvus_build_read_unchanged_is_a_no_op(tmp_path: Path) -> None:
    location = str(tmp_path / "built.db")
    manual = tmp_path / "manual.txt"
    manual.write_text("Descale the espresso machine every month.", encoding="utf-8")
    qa.build_index([manual], location, model=HashingEmbedder())
    generation = load_milvus_store(location).manifest["generation"]
    report = qa.add_documents([manual], location, model=HashingEmbedder())
    assert (report.added, report.unchanged, report.skipped) == ((), ("manual.txt",), ())
    assert load_milvus_store(location).manifest["generation"] == generation
    assert [(d.doc_id, d.added) for d in qa.list_documents(location)] == [("manual.txt", False)]


def test_add_to_a_new_milvus_index_skips_bad_files_with_reasons(tmp_path: Path) -> None:
    location = str(tmp_path / "new.db")
    good, bad = tmp_path / "a.txt", tmp_path / "b.exe"
    good.write_text("Alpha beta gamma. Delta epsilon.", encoding="utf-8")
    bad.write_bytes(b"MZ")
    report = qa.add_documents([good, bad], location, model=HashingEmbedder())
    assert [a.doc_id for a in report.added] == ["a.txt"] and "unsupported file type '.exe'" in report.skipped[0].reason
    assert [d.doc_id for d in qa.list_documents(location)] == ["a.txt"]


def test_cli_list_info_remove_with_a_milvus_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    location = str(tmp_path / "cli.db")
    write_documents(DOCS, parse_location(location), HashingEmbedder())
    assert main(["list", "--index", location]) == 0
    assert capsys.readouterr().out.splitlines() == ["cats.txt\tCats", "ships.txt\tShips"]
    assert main(["info", "--index", location]) == 0
    out = capsys.readouterr().out
    assert f"index:     {location}" in out and "type:      milvus-hnsw" in out and "documents: 2   passages: 2" in out
    assert main(["remove", "ships.txt", "--index", location]) == 0
    assert "1 left" in capsys.readouterr().out
    assert main(["list", "--index", location + "#missing"]) == 1
    assert "no qa index in collection 'missing'" in capsys.readouterr().err


def test_shards_split_the_files_without_overlap_in_the_order_of_one_build(tmp_path: Path) -> None:
    from qa.index.milvus.build import parse_shard, read_shard

    for name in "abcde":
        (tmp_path / f"{name}.txt").write_text(f"Document {name} has one sentence.", encoding="utf-8")
    first, second = read_shard([tmp_path], (1, 2)), read_shard([tmp_path], (2, 2))
    assert [d.doc_id for d in first[0].documents] == ["a.txt", "c.txt", "e.txt"] and first[1] == [0, 2, 4]
    assert [d.doc_id for d in second[0].documents] == ["b.txt", "d.txt"] and second[1] == [1, 3]
    assert parse_shard("3/4") == (3, 4)
    for bad in ("0/2", "3/2", "1", "a/b", "1/2/3"):
        with pytest.raises(ValueError, match=f"shard must be I/N with 1 <= I <= N, e.g. 1/4 .*Currently, shard is '{bad}'"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="shard needs a Milvus location .*not the folder"):
        qa.build_index([tmp_path], tmp_path / "local", model=HashingEmbedder(), shard="1/2")


def test_odd_doc_ids_survive_filters_and_keys(tmp_path: Path) -> None:
    location = str(tmp_path / "odd.db")
    odd = [qa.Document('back\\slash "quoted"\nline.txt', "Odd", "Herons wade in the shallow lake. They eat small fish.", "<memory>"), DOCS[0]]
    write_documents(odd, parse_location(location), HashingEmbedder())
    bot = qa.load(location, model=HashingEmbedder(), reader=False)
    assert bot.ask("What do herons eat?").citations[0].doc_id == odd[0].doc_id
    assert qa.remove_documents([odd[0].doc_id], location).documents == 1
    assert [d.doc_id for d in qa.list_documents(location)] == ["cats.txt"]


@pytest.mark.slow
def test_cli_index_and_ask_with_a_milvus_location_and_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "herons.txt").write_text("Herons wade in the shallow lake. They eat small fish and frogs.", encoding="utf-8")
    (docs / "owls.txt").write_text("Owls hunt at night. They swallow mice whole.", encoding="utf-8")
    location = str(tmp_path / "cli.db") + "#birds"
    assert main(["index", str(docs), "--index", location, "--shard", "2/2"]) == 0
    assert f"indexed 1 document(s), 1 passage(s) into {location}" in capsys.readouterr().out
    assert main(["index", str(docs), "--index", location, "--shard", "1/2"]) == 0
    capsys.readouterr()
    assert main(["list", "--index", location]) == 0
    assert capsys.readouterr().out.splitlines() == ["herons.txt\therons", "owls.txt\towls"]
    assert main(["ask", "What do herons eat?", "--index", location, "--no-reader"]) == 0
    assert "They eat small fish and frogs." in capsys.readouterr().out
    assert main(["index", str(docs), "--index", str(tmp_path / "folder"), "--shard", "1/2"]) == 2
    assert "shard needs a Milvus location" in capsys.readouterr().err
    assert main(["index", str(docs), "--index", location, "--shard", "3/2"]) == 2
    assert "shard must be I/N with 1 <= I <= N" in capsys.readouterr().err


def test_a_build_in_several_batches_equals_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.index.milvus.build as milvus_build

    docs = [qa.Document(f"d{i}.txt", f"D{i}", f"Item {i} is stored in bay {i}. The bay number {i} is painted blue.", "<memory>") for i in range(7)]
    write_documents(docs, parse_location(str(tmp_path / "one.db")), HashingEmbedder())
    monkeypatch.setattr(milvus_build, "DOCUMENT_BATCH", 3)
    report = write_documents(docs, parse_location(str(tmp_path / "three.db")), HashingEmbedder())
    assert report.documents == 7 and len(report.written) == 7
    one, three = load_milvus_store(str(tmp_path / "one.db")), load_milvus_store(str(tmp_path / "three.db"))
    assert one.documents == three.documents and list(one.passages) == list(three.passages)
    assert one.words == three.words and one.bm25 == three.bm25


def test_staging_folders_of_killed_milvus_updates_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from qa.index.milvus.updates import STAGING_PREFIX, remove_stale_staging

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = tmp_path / f"{STAGING_PREFIX}{gone.stdout.strip()}-abc"
    mine = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-def"  # another thread of this process may be adding
    init = tmp_path / f"{STAGING_PREFIX}1-ghi"  # a live process
    for folder in (dead, mine, init):
        folder.mkdir()
        (folder / "upload.txt").write_text("a copy of an uploaded file", encoding="utf-8")
    assert remove_stale_staging(tmp_path) == [dead]
    assert not dead.exists() and mine.is_dir() and init.is_dir()
