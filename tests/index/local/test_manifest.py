from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.index.local.manifest import MANIFEST, has_user_documents, read_manifest, source_info, stored_files
from qa.index.local.store import document_of, read_documents


def test_library_entries() -> None:
    assert stored_files({}) == {} and not has_user_documents({})
    manifest = {"library": {"user_documents": True, "files": {"a.pdf": {"doc_id": "a.pdf", "bytes": 3, "sha256": "x"}}}}
    assert stored_files(manifest) == {"a.pdf": {"doc_id": "a.pdf", "bytes": 3, "sha256": "x"}} and has_user_documents(manifest)
    assert stored_files({"library": "nonsense"}) == {}


def test_source_info_of_a_document_with_pages(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("text", encoding="utf-8")
    doc = qa.Document("a.pdf", "A", "Page one. Page two.", str(source), (0, 10))
    info = source_info(doc)
    assert info["pages"] == 2 and "file_sha256" in info
    assert "file_sha256" not in source_info(doc, stored=True)  # a kept copy is not checked for staleness


def test_page_offsets_are_checked_on_load(fake_index: Path) -> None:
    assert document_of({"doc_id": "a", "title": "A", "text": "abc def", "source": "s", "page_starts": [0, 4]}).page_at(5) == 2
    for bad in ([1, 4], [0, 9], [0, 4, 2], [0, "4"]):
        with pytest.raises(qa.CorruptIndexError, match="document 'a' has invalid page offsets"):
            document_of({"doc_id": "a", "title": "A", "text": "abc def", "source": "s", "page_starts": bad})
    assert [d.doc_id for d in read_documents(fake_index)] == ["cats.txt", "ships.txt", "jets.txt"]
    manifest = read_manifest(fake_index)
    manifest["counts"]["documents"] = 2
    (fake_index / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(qa.CorruptIndexError, match="document count differs"):
        read_documents(fake_index)
    (fake_index / "documents.jsonl").write_text("{}\n")
    with pytest.raises(qa.CorruptIndexError, match="does not match its checksum"):
        read_documents(fake_index)
