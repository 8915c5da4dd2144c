from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.files import file_sha256
from qa.index.local.build import build_lock, write_index
from qa.index.local.store import load_store
from qa.index.local.manifest import read_manifest
from tests.conftest import HashingEmbedder

PAGED = qa.Document("paged.pdf", "Paged", "The first page talks about ships.\nThe second page talks about cats.", "<memory>", (0, 34))


def test_page_starts_are_stored_with_the_documents(tmp_path: Path, small_docs: list[qa.Document]) -> None:
    path = tmp_path / "idx"
    write_index([*small_docs, PAGED], path, HashingEmbedder())
    rows = [json.loads(line) for line in (path / "documents.jsonl").read_text().splitlines()]
    assert rows[-1]["page_starts"] == [0, 34] and all("page_starts" not in r for r in rows[:-1])
    assert load_store(path).documents["paged.pdf"] == PAGED
    assert read_manifest(path)["documents"][-1]["pages"] == 2
    assert PAGED.page_at(0) == 1 and PAGED.page_at(33) == 1 and PAGED.page_at(34) == 2 and PAGED.page_at(10_000) == 2


def test_kept_files_are_copied_into_the_new_folder_only(tmp_path: Path, small_docs: list[qa.Document]) -> None:
    upload = tmp_path / "cats.txt"
    upload.write_text("kept bytes", encoding="utf-8")
    path = tmp_path / "idx"
    write_index(small_docs, path, HashingEmbedder(), stored={"cats.txt": upload})
    manifest = read_manifest(path)
    assert (path / "files" / "cats.txt").read_text() == "kept bytes" and "files/cats.txt" not in manifest["files"]
    assert manifest["library"] == {
        "user_documents": True,
        "files": {"cats.txt": {"doc_id": "cats.txt", "bytes": 10, "sha256": file_sha256(upload)}},
    }
    with pytest.raises(qa.QAError, match=r"kept files \['nope.txt'\] have no document"):
        write_index(small_docs, path, HashingEmbedder(), stored={"nope.txt": upload})


def test_a_held_lock_lets_its_holder_build(tmp_path: Path, small_docs: list[qa.Document]) -> None:
    path = tmp_path / "idx"
    with build_lock(path) as held:
        write_index(small_docs, path, HashingEmbedder(), held=held)
        with pytest.raises(qa.IndexLockedError, match="another build is writing"):
            write_index(small_docs, path, HashingEmbedder())
    with pytest.raises(qa.QAError, match="is not a held lock of"):
        write_index(small_docs, path, HashingEmbedder(), held=held)  # released
    with build_lock(tmp_path / "other") as other:
        with pytest.raises(qa.QAError, match="is not a held lock of"):
            write_index(small_docs, path, HashingEmbedder(), held=other)
