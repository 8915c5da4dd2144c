from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.documents.ingest import clean_text, default_documents, is_truncated_line, load_documents, read_file, title_of

TEASERS = (
    "The head of the German army has issued a stark warning",
    "Six new countries could soon join the eurozone",
    "Europe is blessed with a number of stunning cities",
    "As the warnings continue of an increasing nuclear threat",
)


def test_bundled_article_drops_teasers_and_keeps_caption() -> None:
    doc = default_documents()[0]
    raw = Path(doc.source).read_text(encoding="utf-8")
    assert all(t in raw for t in TEASERS)  # the scrape has them ...
    assert not any(t in doc.text for t in TEASERS)  # ... the document does not
    assert doc.text.startswith("EU foreign policy chief Josep Borrell (L)")  # photo caption kept
    assert doc.text.endswith("set to be airborne by 2035.")


def test_truncated_line_rule() -> None:
    assert is_truncated_line("As the warnings continue of an increasing nuclear threat from Vladimir Putin, many countries are asking fa")
    assert not is_truncated_line("He called it “historical and very timely.”")
    assert not is_truncated_line("Short heading without a full stop")
    assert not is_truncated_line("# A heading that is rather long but is a markdown heading so it stays here")
    assert not is_truncated_line(" ".join(["word"] * 81))  # a paragraph without a full stop, not a teaser


def test_clean_text_normalises_whitespace_and_controls() -> None:
    assert clean_text("a\r\nb\x00c\n\n\n\nd  \n\n") == "a\nbc\n\nd"


def test_title_rules() -> None:
    assert title_of("# Hello world\ntext", "f") == "Hello world"
    assert title_of("Short title\nBody text here.", "f") == "Short title"
    assert title_of("A whole first sentence that ends with a period.\nMore.", "fallback") == "fallback"


def test_folder_ingest_is_recursive_sorted_and_relative(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.md").write_text("# Zed\nZ text is here.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("A text is here.", encoding="utf-8")
    (tmp_path / "ignored.csv").write_text("x,y", encoding="utf-8")
    report = load_documents([tmp_path])
    assert [d.doc_id for d in report.documents] == ["a.txt", "b/z.md"]
    assert report.documents[1].title == "Zed"
    assert load_documents([tmp_path]).documents == report.documents  # deterministic


def test_html_goes_through_trafilatura(tmp_path: Path) -> None:
    body = " ".join(["The council approved the new harbour plan after a long debate."] * 3)
    html = (
        "<html><head><title>Harbour plan</title><script>var x = 'SECRET_SCRIPT';</script></head>"
        f"<body><nav>Home | News</nav><article><h1>Harbour plan</h1><p>{body}</p></article></body></html>"
    )
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    doc = read_file(tmp_path / "page.html", "page.html")
    assert "approved the new harbour plan" in doc.text
    assert "SECRET_SCRIPT" not in doc.text and "<p>" not in doc.text
    assert doc.title == "Harbour plan"


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Good text here.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("café au lait.".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "dup.txt").write_text("Good text here.", encoding="utf-8")
    report = load_documents([tmp_path])
    assert [d.doc_id for d in report.documents] == ["dup.txt"] or [d.doc_id for d in report.documents] == ["good.txt"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "no text" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "same text as" in (reasons.get("good.txt") or reasons["dup.txt"])


def test_missing_path_and_duplicate_ids_raise(tmp_path: Path) -> None:
    with pytest.raises(qa.IngestError, match="path does not exist: .*nope"):
        load_documents([tmp_path / "nope"])
    docs = [qa.Document("x", "X", "One."), qa.Document("x", "X", "Two.")]
    with pytest.raises(qa.IngestError, match="two documents have the doc_id 'x'"):
        load_documents(docs)


def test_large_file_is_read_whole(tmp_path: Path) -> None:
    sentence = "The committee met on Tuesday to discuss the harbour budget and the new ferry timetable. "
    line = sentence * 10 + "\n"
    big = tmp_path / "big.txt"
    with big.open("w", encoding="utf-8") as handle:
        written = 0
        while written < 50 * 2**20:
            handle.write(line)
            written += len(line)
    report = load_documents([tmp_path])
    assert report.skipped == []
    (doc,) = report.documents
    assert len(doc.text) > 49 * 2**20
    assert doc.text.startswith(sentence.strip())


def test_file_over_the_limit_is_skipped_naming_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.documents.ingest

    monkeypatch.setattr(qa.documents.ingest, "MAX_FILE_BYTES", 1024)
    (tmp_path / "huge.txt").write_text("Words are here. " * 200, encoding="utf-8")
    (tmp_path / "ok.txt").write_text("Fine text.", encoding="utf-8")
    report = load_documents([tmp_path])
    assert [d.doc_id for d in report.documents] == ["ok.txt"]
    assert [Path(s.path).name for s in report.skipped] == ["huge.txt"]
    assert "file is 3,200 bytes, over the limit of 1,024 bytes; split it into smaller files" in report.skipped[0].reason


def test_unreadable_folder_and_file_are_skipped_with_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "secret.txt").write_text("Hidden text.", encoding="utf-8")
    (tmp_path / "noread.txt").write_text("Cannot read me.", encoding="utf-8")
    (tmp_path / "ok.txt").write_text("Readable text.", encoding="utf-8")
    real_scandir, real_read = os.scandir, Path.read_bytes

    def scandir(path: object = ".") -> object:
        if Path(path).name == "locked":  # root ignores chmod, so simulate what a normal user gets
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def read_bytes(self: Path) -> bytes:
        if self.name == "noread.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = load_documents([tmp_path])
    assert [d.doc_id for d in report.documents] == ["ok.txt"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {"locked": "cannot list folder: Permission denied", "noread.txt": "cannot read: Permission denied"}


def test_html_scripts_and_handlers_never_reach_the_text(tmp_path: Path) -> None:
    body = " ".join(["The museum opens a new wing for modern sculpture next spring."] * 3)
    page = (
        "<html><head><title>Museum <b>news</b></title><script>alert('HEAD_SCRIPT')</script></head><body>"
        f"<article><h1>Museum news</h1><p>{body}</p><p onclick=\"alert('HANDLER')\">Visitors are welcome.</p>"
        "<script>document.write('BODY_SCRIPT')</script><style>p {{ color: red }} /*STYLE*/</style>"
        "<p><a href=\"javascript:alert('LINK')\">A link to nowhere.</a></p></article></body></html>"
    )
    (tmp_path / "museum.html").write_text(page, encoding="utf-8")
    doc = read_file(tmp_path / "museum.html", "museum.html")
    assert "modern sculpture" in doc.text
    for leaked in ("HEAD_SCRIPT", "BODY_SCRIPT", "HANDLER", "STYLE", "javascript:", "<"):
        assert leaked not in doc.text


def test_a_folder_reports_every_file_it_skips(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("The harbour opens in May.", encoding="utf-8")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "letter.rtf").write_text("{\\rtf1 Hello}", encoding="utf-8")
    (tmp_path / "README").write_text("No extension.", encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    report = load_documents([tmp_path])
    assert [d.doc_id for d in report.documents] == ["notes.txt"]
    reasons = {Path(s.path).relative_to(tmp_path).as_posix(): s.reason for s in report.skipped}
    assert sorted(reasons) == [".DS_Store", ".git", "README", "letter.rtf", "sub/sheet.xlsx", "table.csv"]
    assert reasons["table.csv"].startswith("unsupported file type '.csv': use one of [")
    assert reasons["letter.rtf"].startswith("unsupported file type '.rtf'")
    assert reasons["README"].startswith("no file type (no extension)")
    assert reasons[".git"].startswith("hidden (its name starts with '.')")


def test_many_skipped_files_of_one_type_are_summarised(tmp_path: Path) -> None:
    from qa.documents.ingest import SKIPPED_LISTED

    (tmp_path / "notes.txt").write_text("The harbour opens in May.", encoding="utf-8")
    for k in range(SKIPPED_LISTED + 2):
        (tmp_path / f"row{k:02d}.csv").write_text("a,b", encoding="utf-8")
    (tmp_path / "one.rtf").write_text("{\\rtf1 x}", encoding="utf-8")
    skipped = load_documents([tmp_path]).skipped
    assert [(Path(s.path).name, s.reason.split(":")[0]) for s in skipped] == [
        (tmp_path.name, f"{SKIPPED_LISTED + 2} .csv files (row00.csv, row01.csv, row02.csv, ...)"),
        ("one.rtf", "unsupported file type '.rtf'"),
    ]
