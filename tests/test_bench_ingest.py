from __future__ import annotations

from pathlib import Path

import pytest

from eval.bench_ingest import bench_docx, bench_pdf, format_ingest
from tests import documents

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
