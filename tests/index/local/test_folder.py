"""What a build may do to its folder: added documents are never replaced unasked, foreign folders never
written over, and what killed builds left is removed at the next build or start."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qa
from qa.index.local.build import build_lock, clean_leftovers
from qa.index.local.manifest import MANIFEST, read_manifest
from tests.conftest import HashingEmbedder


def _doc_ids(index: Path) -> list[str]:
    return [d.doc_id for d in qa.list_documents(index)]


@pytest.fixture
def added_copy(fake_index: Path, tmp_path: Path, fake_embedder: HashingEmbedder) -> Path:
    """The issue's repro, from scratch: an index is built, copied, and a file is added to the copy."""
    copy = tmp_path / "idx_c"
    shutil.copytree(fake_index, copy)
    note = tmp_path / "x.txt"
    note.write_text("The lighthouse keeper retired in 1999. Nobody has lived there since.\n", encoding="utf-8")
    qa.add_documents([note], copy, model=fake_embedder)
    note.unlink()  # the kept copy in files/ is now the only one
    return copy


def test_a_rebuild_refuses_to_drop_added_documents_and_names_them_and_the_flag(
    added_copy: Path, tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    manual = tmp_path / "brewmaster-manual.txt"
    manual.write_text("Descale the espresso machine every month. Use filtered water.\n", encoding="utf-8")
    before = read_manifest(added_copy)
    with pytest.raises(qa.ReplaceRefusedError, match=r"holds 1 document\(s\) added with `qa add`.*\('x.txt'\).*--replace.*replace=True"):
        qa.build_index([manual], added_copy, model=fake_embedder)
    assert read_manifest(added_copy) == before  # nothing changed
    assert _doc_ids(added_copy) == ["cats.txt", "ships.txt", "jets.txt", "x.txt"]
    assert (added_copy / "files" / "x.txt").is_file()
    assert not [p for p in tmp_path.iterdir() if ".build-" in p.name]


def test_a_rebuild_with_replace_removes_them_and_says_so(added_copy: Path, tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    manual = tmp_path / "brewmaster-manual.txt"
    manual.write_text("Descale the espresso machine every month. Use filtered water.\n", encoding="utf-8")
    report = qa.build_index([manual], added_copy, model=fake_embedder, replace=True)
    assert report.removed_added == ("x.txt",)
    assert _doc_ids(added_copy) == ["brewmaster-manual.txt"] and not (added_copy / "files").exists()


def test_a_rebuild_without_added_documents_proceeds_as_before(fake_index: Path, tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    manual = tmp_path / "manual.txt"
    manual.write_text("Descale the espresso machine every month.\n", encoding="utf-8")
    report = qa.build_index([manual], fake_index, model=fake_embedder)
    assert report.removed_added == () and _doc_ids(fake_index) == ["manual.txt"]


def test_adding_and_updating_still_keep_every_added_document(added_copy: Path, tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    other = tmp_path / "y.txt"
    other.write_text("The ferry leaves at noon on Saturdays.\n", encoding="utf-8")
    qa.add_documents([other], added_copy, model=fake_embedder)
    qa.remove_documents(["cats.txt"], added_copy, model=fake_embedder)
    assert _doc_ids(added_copy) == ["ships.txt", "jets.txt", "x.txt", "y.txt"]
    qa.remove_documents(["x.txt"], added_copy, model=fake_embedder)  # removing an added document is explicit
    assert sorted(p.name for p in (added_copy / "files").iterdir()) == ["y.txt"]


def test_kept_files_beside_an_unreadable_manifest_are_not_replaced(added_copy: Path, small_docs: list, fake_embedder: HashingEmbedder) -> None:
    (added_copy / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(qa.ReplaceRefusedError, match=r"\('x.txt'\).*--replace"):
        qa.build_index(small_docs, added_copy, model=fake_embedder)
    assert (added_copy / "files" / "x.txt").is_file()


def test_a_folder_that_is_not_an_index_is_never_written_over(tmp_path: Path, small_docs: list, fake_embedder: HashingEmbedder) -> None:
    mine = tmp_path / "my-documents"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"precious")
    for replace in (False, True):
        with pytest.raises(qa.ReplaceRefusedError, match=r"'.*my-documents' is not a qa index \(no manifest.json\) and holds 'thesis.docx'"):
            qa.build_index(small_docs, mine, model=fake_embedder, replace=replace)
    (mine / "notes.txt").write_text("The lighthouse keeper retired in 1999.\n", encoding="utf-8")
    with pytest.raises(qa.ReplaceRefusedError, match="is not a qa index"):
        qa.add_documents([mine / "notes.txt"], mine, model=fake_embedder)
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "thesis.docx"]
    empty = tmp_path / "empty"
    empty.mkdir()
    qa.build_index(small_docs, empty, model=fake_embedder)  # an empty folder is fine
    assert _doc_ids(empty) == ["cats.txt", "ships.txt", "jets.txt"]


def test_the_cli_refuses_then_replaces_with_the_flag(added_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main

    manual = tmp_path / "manual.txt"
    manual.write_text("Descale the espresso machine every month.\n", encoding="utf-8")
    model = read_manifest(added_copy)["model"]["name"]
    assert model == HashingEmbedder.name  # the refusal comes before any model is loaded
    assert main(["index", str(manual), "--index", str(added_copy)]) == 1
    err = capsys.readouterr().err
    assert "'x.txt'" in err and "--replace" in err and "Traceback" not in err
    assert main(["list", "--index", str(added_copy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("x.txt\t")


def test_stale_build_folders_are_removed_at_the_next_build(fake_index: Path, small_docs: list, fake_embedder: HashingEmbedder) -> None:
    parent = fake_index.parent
    stale = [parent / ".idx.build-abc123", parent / ".idx.build-upload-def456"]
    for folder in stale:
        folder.mkdir()
        (folder / "index.faiss").write_bytes(b"half written")
    other = parent / ".other.build-xyz"  # another index's: not ours to remove
    other.mkdir()
    qa.build_index(small_docs, fake_index, model=fake_embedder)
    assert not any(p.exists() for p in stale) and other.is_dir()


def test_stale_folders_are_removed_at_start_but_never_while_a_build_holds_the_lock(
    fake_index: Path, fake_embedder: HashingEmbedder
) -> None:
    live = fake_index.parent / ".idx.build-live"
    old = fake_index.parent / ".idx.old-12345"
    with build_lock(fake_index):  # a live build (its lock taken before its folders exist): they stay
        live.mkdir()
        shutil.copytree(fake_index, old)
        assert clean_leftovers(fake_index) == []
        qa.load(fake_index, model=fake_embedder, reader=False)
        assert live.is_dir() and old.is_dir()
    # the build was killed: its folders are left, and the next start removes them
    qa.load(fake_index, model=fake_embedder, reader=False)
    assert not live.exists() and not old.exists()


def test_a_killed_build_leaves_a_folder_that_the_next_start_removes(tmp_path: Path, fake_index: Path, fake_embedder: HashingEmbedder) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        import qa
        from qa.index.local import build
        from tests.conftest import HashingEmbedder
        real = build._fsync_tree
        def die(folder):
            real(folder)
            os.kill(os.getpid(), signal.SIGKILL)
        build._fsync_tree = die
        qa.build_index([qa.Document("a.txt", "A", "Alpha is first. Beta is second.", "<memory>")], {str(fake_index)!r}, model=HashingEmbedder())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[3], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr
    left = [p for p in fake_index.parent.iterdir() if p.name.startswith(".idx.build-")]
    assert len(left) == 1 and (left[0] / MANIFEST).is_file()
    qa.load(fake_index, model=fake_embedder, reader=False)
    assert not left[0].exists() and _doc_ids(fake_index) == ["cats.txt", "ships.txt", "jets.txt"]
