from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eval.bench.ingest import bench_docx, bench_ocr, bench_pdf, format_ingest
from tests import sample_documents as documents

PARAGRAPHS = ["The harbour opened in May 2027. It hosts cruise ships.", "The lighthouse was painted green. Fishermen asked for it."]


def test_docx_throughput_counts_files_and_paragraphs(tmp_path: Path) -> None:
    result = bench_docx(PARAGRAPHS, tmp_path, files=2)
    assert result["documents"] == 2 and result["paragraphs"] == 2 * 66 and result["documents_per_s"] > 0
    assert "documents/s" in format_ingest({"docx": result})[0]


def test_pdf_throughput_counts_printed_pages(tmp_path: Path) -> None:
    if documents.chromium() is None:
        assert "skipped" in bench_pdf(PARAGRAPHS, tmp_path, pages=2)
        pytest.skip("chromium is not installed")
    result = bench_pdf(PARAGRAPHS, tmp_path, pages=2)
    assert result["pages"] == 2 and result["pages_per_s"] > 0 and result["extract_pages_per_s"] > 0
    assert format_ingest({"pdf": result})[0].startswith("ingest PDF")
    assert format_ingest({"pdf": {"skipped": "chromium is not installed"}}) == [f"{'ingest PDF':<32}skipped: chromium is not installed"]


def test_ocr_throughput_of_qa_and_of_the_bare_engine_on_the_same_pages(tmp_path: Path) -> None:
    if documents.chromium() is None or shutil.which("tesseract") is None:
        assert "skipped" in bench_ocr(PARAGRAPHS, tmp_path, pages=1, rounds=1)
        pytest.skip("chromium or tesseract is not installed")
    result = bench_ocr(PARAGRAPHS, tmp_path, pages=1, rounds=1)
    assert result["pages"] == 1 and result["pages_cited"] == 1 and result["characters"] > 100
    assert result["pages_per_s"] > 0 and result["engine_pages_per_s"] > 0 and abs(result["ratio"] - result["pages_per_s"] / result["engine_pages_per_s"]) < 0.01
    line = format_ingest({"ocr": result})[0]
    assert line.startswith("ingest OCR") and "bare tesseract" in line and f"ratio {result['ratio']}" in line
