from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from qa.errors import IngestError
from qa.documents.filetype import DOCX, PDF, TEXT, check_zip, describe, sniff
from qa.documents.ingest import read_file
from tests import sample_documents as documents


def test_kind_comes_from_the_bytes(tmp_path: Path, sample_pdfs: dict[str, Path]) -> None:
    word = documents.write_docx(tmp_path / "w.docx", paragraphs=("Text.",))
    assert sniff(sample_pdfs["report"]) == PDF and sniff(word) == DOCX
    (tmp_path / "n.txt").write_text("plain words", encoding="utf-8")
    assert sniff(tmp_path / "n.txt") == TEXT
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as archive:
        archive.writestr("a.txt", "not word")
    assert sniff(tmp_path / "z.zip") == "zip" and "not a Word document" in describe("zip")


def test_a_docx_that_is_really_a_pdf_or_a_zip_is_refused(tmp_path: Path, sample_pdfs: dict[str, Path]) -> None:
    fake = tmp_path / "report.docx"
    fake.write_bytes(sample_pdfs["report"].read_bytes())
    with pytest.raises(IngestError, match="not a Word \\(.docx\\) document: the file's content is a pdf file"):
        read_file(fake, "report.docx")
    with zipfile.ZipFile(tmp_path / "archive.docx", "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(IngestError, match="not a Word \\(.docx\\) document: the file's content is a ZIP archive"):
        read_file(tmp_path / "archive.docx", "archive.docx")


def test_a_pdf_that_is_really_a_word_file_is_refused(tmp_path: Path) -> None:
    word = documents.write_docx(tmp_path / "w.docx", paragraphs=("Text.",))
    fake = tmp_path / "scan.pdf"
    fake.write_bytes(word.read_bytes())
    with pytest.raises(IngestError, match="not a PDF: the file's content is a docx file"):
        read_file(fake, "scan.pdf")


def test_a_pdf_named_txt_is_read_as_the_pdf_it_is(tmp_path: Path, sample_pdfs: dict[str, Path]) -> None:
    renamed = tmp_path / "report.txt"
    renamed.write_bytes(sample_pdfs["report"].read_bytes())
    doc = read_file(renamed, "report.txt")
    assert len(doc.page_starts) == 3 and "Ana Ribeiro" in doc.text


def test_zip_limits(tmp_path: Path) -> None:
    path = tmp_path / "big.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"word/part{i}.xml", bytes(range(256)) * 4000)  # ~1 MB each, compresses a little
    check_zip(path)
    with pytest.raises(IngestError, match="would inflate to 3,072,000 bytes, over the limit of 1,000,000 bytes"):
        check_zip(path, max_bytes=1_000_000)
    with pytest.raises(IngestError, match="damaged or truncated ZIP container"):
        check_zip(documents.truncate(path, tmp_path / "cut.docx", 0.5))
