from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

import qa
from qa.answering.answers import make_citations
from qa.answering.sentences import ScoredSentence
from qa.index.intake import MAX_NAME_CHARS, safe_name
from qa.index.local.manifest import MANIFEST, read_manifest
from qa.index.local.store import load_store
from tests import sample_documents as documents
from tests.conftest import HashingEmbedder


def _doc_ids(index: Path) -> list[str]:
    return [d.doc_id for d in qa.list_documents(index)]


def test_added_pdf_is_kept_with_the_index_and_cited_by_page(
    fake_index: Path, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder
) -> None:
    report = qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    assert report.added == (qa.AddedDocument("report.pdf", "Harbour Report 2031", 3, False),)
    assert report.skipped == () and report.unchanged == () and report.documents == 4
    kept = fake_index / "files" / "report.pdf"
    assert kept.read_bytes() == sample_pdfs["report"].read_bytes()
    assert read_manifest(fake_index)["library"]["files"]["report.pdf"]["doc_id"] == "report.pdf"
    bot = qa.load(fake_index, model=fake_embedder)
    doc = bot.document("report.pdf")
    assert doc.source == "files/report.pdf" and len(doc.page_starts) == 3
    store = bot.store
    for sentence_row, sentence in enumerate(store.sentences):
        if sentence.doc_id != "report.pdf":
            continue
        quote = doc.text[sentence.start : sentence.end]
        (citation,) = make_citations(store, [ScoredSentence(sentence_row, 0, 0, 0.5, 0.5, 0.0)])
        assert citation.quote == quote and doc.text[citation.start : citation.end] == quote
        expected = 1 if "containers" in quote or "Rotterdam" in quote else 2 if "lighthouse" in quote else 3 if "Ribeiro" in quote else None
        if expected is not None:
            assert citation.page == expected, quote
    passages = bot.retrieve("When was the lighthouse on the north pier painted green?", top_k=1)
    assert passages[0].doc_id == "report.pdf"


@pytest.mark.slow
def test_ask_cites_the_page_with_the_real_model(tmp_path: Path, sample_pdfs: dict[str, Path], real_embedder: object) -> None:
    index = tmp_path / "idx"
    qa.add_documents([sample_pdfs["report"]], index, model=real_embedder)  # type: ignore[arg-type]
    bot = qa.load(index, model=real_embedder)  # type: ignore[arg-type]
    answer = bot.ask("When was the lighthouse painted green?")
    assert not answer.abstained and "March 2031" in answer.text
    (citation,) = [c for c in answer.citations if "lighthouse" in c.quote]
    assert citation.page == 2 and bot.document(citation.doc_id).text[citation.start : citation.end] == citation.quote


def test_bad_files_are_skipped_with_reasons_and_the_rest_indexed(
    fake_index: Path, sample_pdfs: dict[str, Path], tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    files = [
        sample_pdfs["report"],
        documents.encrypt_pdf(sample_pdfs["report_v2"], bad / "locked.pdf"),
        documents.truncate(sample_pdfs["report_v2"], bad / "cut.pdf"),
        documents.truncate(documents.write_docx(tmp_path / "w.docx", paragraphs=("Words.",) * 40), bad / "cut.docx"),
        documents.zip_bomb(bad / "bomb.docx", inflated_mb=20),
        bad / "image.docx",
    ]
    shutil.copy(sample_pdfs["layout"], bad / "image.docx")  # a PDF named .docx
    report = qa.add_documents(files, fake_index, model=fake_embedder)
    assert [a.doc_id for a in report.added] == ["report.pdf"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["locked.pdf"].startswith("encrypted PDF: it needs a password")
    assert reasons["cut.pdf"].startswith("damaged or truncated PDF")
    assert reasons["cut.docx"].startswith("damaged or truncated ZIP container")
    assert "a zip bomb" in reasons["bomb.docx"]
    assert reasons["image.docx"].startswith("not a Word (.docx) document: the file's content is a pdf file")
    assert sorted(p.name for p in (fake_index / "files").iterdir()) == ["report.pdf"]
    assert _doc_ids(fake_index) == ["cats.txt", "ships.txt", "jets.txt", "report.pdf"]


def test_file_names_are_sanitised(fake_index: Path, tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    assert safe_name("../../x.pdf") == "x.pdf"
    assert safe_name("/etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\Report.PDF") == "Report.pdf"
    assert safe_name("..pdf") == "document.pdf" and safe_name(".hidden.txt") == "hidden.txt"
    assert safe_name("a b?*<x>|\x00\n.docx") == "a b___x.docx"
    assert safe_name("Ünïcode résumé.docx") == "Ünïcode résumé.docx"
    assert len(safe_name("x" * 500 + ".pdf")) == MAX_NAME_CHARS
    (tmp_path / "sub").mkdir()
    odd = tmp_path / "sub" / "..  odd name?.TXT"
    odd.write_text("The harbour has a new crane called Big Blue.", encoding="utf-8")
    traversal = tmp_path / "sub" / ".." / "sub" / "..  odd name?.TXT"  # ".." in the path given
    report = qa.add_documents([traversal], fake_index, model=fake_embedder)
    assert [a.doc_id for a in report.added] == ["odd name.txt"]
    assert [p.name for p in (fake_index / "files").iterdir()] == ["odd name.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["sub", "idx", ".idx.lock"])  # nothing written beside


def test_same_file_twice_is_a_no_op_and_a_changed_file_replaces(
    fake_index: Path, sample_pdfs: dict[str, Path], tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    built = read_manifest(fake_index)["built_at"], (fake_index / MANIFEST).stat().st_ino
    again = qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    assert again.added == () and again.unchanged == ("report.pdf",) and again.skipped == ()
    assert (read_manifest(fake_index)["built_at"], (fake_index / MANIFEST).stat().st_ino) == built  # nothing rebuilt
    copy = shutil.copy(sample_pdfs["report"], tmp_path / "copy-of-report.pdf")
    renamed = qa.add_documents([copy], fake_index, model=fake_embedder)
    assert renamed.added == () and renamed.skipped == () and renamed.unchanged == ("report.pdf",)  # the same content: a no-op
    (tmp_path / "v2").mkdir()
    changed = shutil.copy(sample_pdfs["report_v2"], tmp_path / "v2" / "report.pdf")
    replaced = qa.add_documents([changed], fake_index, model=fake_embedder)
    assert replaced.added == (qa.AddedDocument("report.pdf", "Harbour Report 2031", 2, True),)
    assert replaced.documents == 4 and _doc_ids(fake_index) == ["cats.txt", "ships.txt", "jets.txt", "report.pdf"]
    doc = load_store(fake_index).documents["report.pdf"]
    assert "five million containers" in doc.text and "four million" not in doc.text and len(doc.page_starts) == 2
    assert (fake_index / "files" / "report.pdf").read_bytes() == sample_pdfs["report_v2"].read_bytes()
    build = read_manifest(fake_index)["build"]
    assert build["reused_documents"] == 3  # incremental: only the changed document was embedded


def test_restart_keeps_the_added_documents(
    fake_index: Path, sample_pdfs: dict[str, Path], tmp_path: Path, fake_embedder: HashingEmbedder
) -> None:
    source = shutil.copy(sample_pdfs["report"], tmp_path / "upload.pdf")
    qa.add_documents([source], fake_index, model=fake_embedder)
    Path(source).unlink()  # an upload's temporary file is gone after the request
    bot = qa.load(fake_index, model=fake_embedder)  # a new engine, as after a restart
    assert "upload.pdf" in {d.doc_id for d in bot.documents}
    assert bot.retrieve("Ana Ribeiro harbour master retires", top_k=1)[0].doc_id == "upload.pdf"
    qa.index.local.manifest.verify_index(fake_index)  # the kept copy is checked too
    (fake_index / "files" / "upload.pdf").write_bytes(b"%PDF-1.4 altered")
    with pytest.raises(qa.CorruptIndexError, match="the kept copy files/upload.pdf .* is missing or altered"):
        qa.index.local.manifest.verify_index(fake_index)


def test_limits_raise_or_skip_naming_the_value(fake_index: Path, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder) -> None:
    with pytest.raises(qa.IngestError, match="2 files given, over the limit of max_files=1; add them in several calls, or raise max_files"):
        qa.add_documents([sample_pdfs["report"], sample_pdfs["layout"]], fake_index, model=fake_embedder, max_files=1)
    small = qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder, max_file_mb=0.001)
    assert small.added == () and "over the limit of max_file_mb=0.001; split it, or raise max_file_mb" in small.skipped[0].reason
    paged = qa.add_documents([sample_pdfs["layout"], sample_pdfs["report"]], fake_index, model=fake_embedder, max_pages=4)
    assert [a.doc_id for a in paged.added] == ["layout.pdf"]
    assert paged.skipped[0].reason == (
        "the PDF has 3 pages, over the 2 left of max_pages=4 in this call; add it in a separate call, or raise max_pages"
    )
    for name, value in (("max_files", 0), ("max_pages", -1), ("max_file_mb", "50")):
        with pytest.raises(ValueError, match=f"{name} must be a number greater than 0"):
            qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder, **{name: value})
    with pytest.raises(qa.IngestError, match="path does not exist"):
        qa.add_documents([fake_index / "nope.pdf"], fake_index, model=fake_embedder)


def test_remove_documents(fake_index: Path, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder) -> None:
    qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    removed = qa.remove_documents(["report.pdf", "cats.txt"], fake_index, model=fake_embedder)
    assert removed.removed == ("report.pdf", "cats.txt") and removed.documents == 2
    assert _doc_ids(fake_index) == ["ships.txt", "jets.txt"]
    assert not (fake_index / "files" / "report.pdf").exists() and "library" not in read_manifest(fake_index)
    with pytest.raises(qa.DocumentNotFoundError, match="no document 'nope.txt' in index .*; its documents are 'jets.txt', 'ships.txt'"):
        qa.remove_documents("nope.txt", fake_index, model=fake_embedder)
    with pytest.raises(qa.QAError, match="would leave index .* empty; an index needs at least one document"):
        qa.remove_documents(["ships.txt", "jets.txt"], fake_index, model=fake_embedder)
    with pytest.raises(ValueError, match="doc_ids is empty"):
        qa.remove_documents([], fake_index)
    assert _doc_ids(fake_index) == ["ships.txt", "jets.txt"]


def test_updates_use_the_index_model(fake_index: Path, sample_pdfs: dict[str, Path]) -> None:
    class Other(HashingEmbedder):
        name = "test/other"

    with pytest.raises(qa.ModelMismatchError, match="index was built with model 'test/hashing-64', not 'test/other'"):
        qa.add_documents([sample_pdfs["report"]], fake_index, model=Other())
    assert "report.pdf" not in _doc_ids(fake_index) and not (fake_index / "files").exists()


def test_updates_take_the_build_lock(fake_index: Path, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder) -> None:
    from qa.index.local.build import build_lock

    with build_lock(fake_index):
        with pytest.raises(qa.IndexLockedError, match="another build is writing"):
            qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
        with pytest.raises(qa.IndexLockedError, match="another build is writing"):
            qa.remove_documents(["cats.txt"], fake_index, model=fake_embedder)


def test_bundled_index_with_additions_survives_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    qa.load(model=fake_embedder)  # builds the bundled article's index
    report = qa.add_documents([sample_pdfs["report"]], model=fake_embedder)  # index=None: the default folder
    assert report.documents == 2
    article = qa.load(model=fake_embedder).documents[0].doc_id
    manifest_path = tmp_path / "index" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    assert manifest["library"]["user_documents"] is True
    manifest["qa_version"] = "0.0.1"  # a corpus of the bundled article alone would be rebuilt for this
    manifest_path.write_text(json.dumps(manifest))
    bot = qa.load(model=fake_embedder)
    assert [d.doc_id for d in bot.documents] == [article, "report.pdf"]
    assert read_manifest(tmp_path / "index")["qa_version"] == "0.0.1"  # loaded as it is, not rebuilt
    (tmp_path / "index" / "index.faiss").write_bytes(b"damaged")  # a damaged index is rebuilt, additions kept
    bot = qa.load(model=fake_embedder)
    assert [d.doc_id for d in bot.documents] == [article, "report.pdf"]
    assert (tmp_path / "index" / "files" / "report.pdf").is_file() and bot.document("report.pdf").page_starts
    (tmp_path / "index" / "documents.jsonl").write_text("{}")  # ... even from the kept files alone
    bot = qa.load(model=fake_embedder)
    assert [d.doc_id for d in bot.documents] == [article, "report.pdf"]
    (tmp_path / "index" / MANIFEST).write_text("not json")  # nothing says what was added: never rebuilt away
    with pytest.raises(qa.CorruptIndexError, match="unreadable manifest.json"):
        qa.load(model=fake_embedder)
    assert (tmp_path / "index" / "files" / "report.pdf").is_file()


def test_adding_to_a_missing_default_index_starts_from_the_article(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    report = qa.add_documents([sample_pdfs["report"]], model=fake_embedder)
    assert report.documents == 2 and [d.added for d in qa.list_documents()] == [False, True]
    fresh = qa.add_documents([sample_pdfs["layout"]], tmp_path / "other", model=fake_embedder)
    assert fresh.documents == 1 and _doc_ids(tmp_path / "other") == ["layout.pdf"]


def test_reload_swaps_the_index_in_place(fake_index: Path, sample_pdfs: dict[str, Path], fake_embedder: HashingEmbedder) -> None:
    bot = qa.load(fake_index, model=fake_embedder)
    bot.auto_reload = False
    old = bot.store
    qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    assert "report.pdf" not in {d.doc_id for d in bot.documents}
    assert bot.reload() is True and bot.store is not old
    assert "report.pdf" in {d.doc_id for d in bot.documents}
    assert bot.reload() is False  # the same build again
    shutil.rmtree(fake_index)
    with pytest.raises(qa.IndexNotFoundError):
        bot.reload()
    assert "report.pdf" in {d.doc_id for d in bot.documents}  # still answering from what it had


def test_loaded_engine_notices_a_rebuilt_folder(
    fake_index: Path, sample_pdfs: dict[str, Path], monkeypatch: pytest.MonkeyPatch, fake_embedder: HashingEmbedder
) -> None:
    import qa.engine

    monkeypatch.setattr(qa.engine, "RELOAD_CHECK_SECONDS", 3600.0)
    bot = qa.load(fake_index, model=fake_embedder)
    qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    assert bot.retrieve("lighthouse north pier painted green", top_k=1)[0].doc_id != "report.pdf"  # not checked yet
    monkeypatch.setattr(qa.engine, "RELOAD_CHECK_SECONDS", 0.0)
    assert bot.retrieve("lighthouse north pier painted green", top_k=1)[0].doc_id == "report.pdf"
    qa.remove_documents(["report.pdf"], fake_index, model=fake_embedder)
    answer = bot.ask("When was the lighthouse on the north pier painted green?")
    assert all(p.doc_id != "report.pdf" for p in answer.passages) and all(c.doc_id != "report.pdf" for c in answer.citations)
    assert "report.pdf" not in {d.doc_id for d in bot.documents}
    bot.auto_reload = False
    qa.add_documents([sample_pdfs["report"]], fake_index, model=fake_embedder)
    assert "report.pdf" not in {p.doc_id for p in bot.retrieve("lighthouse north pier painted green", top_k=5)}


def test_question_in_flight_finishes_on_the_old_index(
    fake_index: Path, sample_pdfs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.engine

    started, release = threading.Event(), threading.Event()

    class Paused(HashingEmbedder):
        pause = False

        def encode(self, texts, batch_size=64, show_progress=False):  # type: ignore[no-untyped-def]
            if self.pause:
                started.set()
                release.wait(30)
            return super().encode(texts)

    embedder = Paused()
    monkeypatch.setattr(qa.engine, "RELOAD_CHECK_SECONDS", 0.0)
    bot = qa.load(fake_index, model=embedder)
    old = bot.store
    results: list[list[qa.Passage]] = []
    embedder.pause = True
    worker = threading.Thread(target=lambda: results.append(bot.retrieve("container ships at the port", top_k=3)))
    worker.start()
    assert started.wait(30)
    embedder.pause = False
    qa.add_documents([sample_pdfs["report"]], fake_index, model=embedder)
    assert bot.reload() and bot.store is not old
    release.set()
    worker.join(30)
    (passages,) = results
    assert passages[0].doc_id == "ships.txt"
    for p in passages:  # hits and texts both come from the index the question started with
        assert p.text == old.documents[p.doc_id].text[p.start : p.end] and p.passage_id < len(old.passages)


def test_adding_a_file_that_qa_index_built_from_unchanged_is_a_no_op(
    tmp_path: Path, fake_embedder: HashingEmbedder, capsys: pytest.CaptureFixture[str]
) -> None:
    from qa.cli import main

    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    manual = docs / "brewmaster-manual.txt"
    manual.write_text("Descale the espresso machine every month. Use filtered water.\n", encoding="utf-8")
    (docs / "sub" / "policy.md").write_text("# Remote work\nStaff may work from home two days a week.\n", encoding="utf-8")
    index = tmp_path / "idx"
    qa.build_index([manual], index, model=fake_embedder)
    built = read_manifest(index)["built_at"], (index / MANIFEST).stat().st_ino
    report = qa.add_documents([manual], index, model=fake_embedder)
    assert (report.added, report.unchanged, report.skipped) == ((), ("brewmaster-manual.txt",), ())
    assert main(["add", str(manual), "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "unchanged brewmaster-manual.txt (already indexed with the same content)" in out and "replaced" not in out
    assert (read_manifest(index)["built_at"], (index / MANIFEST).stat().st_ino) == built  # nothing rebuilt
    assert [(d.doc_id, d.added) for d in qa.list_documents(index)] == [("brewmaster-manual.txt", False)]
    qa.build_index([docs], index, model=fake_embedder)  # a folder: ids relative to it
    again = qa.add_documents([docs / "sub" / "policy.md", manual], index, model=fake_embedder)  # under another name
    assert (again.added, again.unchanged, again.skipped) == ((), ("sub/policy.md", "brewmaster-manual.txt"), ())
    assert main(["add", str(docs / "sub" / "policy.md"), "--index", str(index)]) == 0
    manual.write_text("Descale the espresso machine every week.\n", encoding="utf-8")  # changed: it replaces
    changed = qa.add_documents([manual], index, model=fake_embedder)
    assert changed.added == (qa.AddedDocument("brewmaster-manual.txt", "brewmaster-manual", None, True),)


def test_adding_a_folder_reports_the_files_it_skips(tmp_path: Path, fake_index: Path, fake_embedder: object) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "ferry.txt").write_text("The ferry to Texel leaves every hour.", encoding="utf-8")
    (folder / "timetable.csv").write_text("route,time\n", encoding="utf-8")
    (folder / "letter.rtf").write_text("{\\rtf1 x}", encoding="utf-8")
    report = qa.add_documents([folder], fake_index, model=fake_embedder)  # type: ignore[arg-type]
    assert [d.doc_id for d in report.added] == ["ferry.txt"]
    assert sorted((Path(s.path).name, s.reason.split(":")[0]) for s in report.skipped) == [
        ("letter.rtf", "unsupported file type '.rtf'"), ("timetable.csv", "unsupported file type '.csv'"),
    ]
