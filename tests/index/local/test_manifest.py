from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.index.local.manifest import MANIFEST, has_user_documents, read_manifest, source_info, stored_files
from qa.index.local.store import document_of, load_store, read_documents


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


def _edit_manifest(index: Path, change: object) -> None:
    manifest = json.loads((index / MANIFEST).read_text(encoding="utf-8"))
    change(manifest)  # type: ignore[operator]
    (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("counts", None, r'has "counts" = None, expected an object with the numbers'),
        ("model", None, r'has "model" = None, expected an object with the model\'s name'),
        ("model", {"name": "m", "dimension": "64"}, r'has "model.dimension" = \'64\''),
        ("counts", {"documents": 3, "passages": -1, "sentences": 4}, r'has "counts.passages" = -1'),
        ("index", [], r'has "index" = \[\]'),
        ("documents", None, r'has "documents" = None'),
        ("built_at", None, r'has "built_at" = None'),
    ],
)
def test_a_manifest_field_that_is_missing_or_wrong_is_named(fake_index: Path, field: str, value: object, message: str) -> None:
    _edit_manifest(fake_index, lambda m: m.__setitem__(field, value))
    for read in (load_store, read_manifest, qa.list_documents):
        with pytest.raises(qa.CorruptIndexError, match=message + r".*rebuild the index with `qa index PATH --index"):
            read(fake_index)


def test_a_manifest_without_its_checksum_table_is_refused(fake_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main
    from qa.index.local.manifest import DOCUMENTS

    _edit_manifest(fake_index, lambda m: m.__delitem__("files"))
    with pytest.raises(qa.CorruptIndexError, match=r'has no "files" checksum table, so its files cannot be checked and it is refused.*qa index'):
        load_store(fake_index)
    assert main(["info", "--index", str(fake_index)]) == 1
    err = capsys.readouterr().err
    assert 'no "files" checksum table' in err and "Traceback" not in err
    _edit_manifest(fake_index, lambda m: m.__setitem__("files", {DOCUMENTS: {"bytes": 1, "sha256": "0"}}))
    with pytest.raises(qa.CorruptIndexError, match=r"has no checksum for passages.jsonl, sentences.jsonl, index.faiss.*refused"):
        load_store(fake_index)
