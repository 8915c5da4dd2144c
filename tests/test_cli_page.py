"""qa page: a page of an indexed PDF written as PNG with a citation's characters boxed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.cli import main
from tests.conftest import HashingEmbedder


def test_page_writes_the_png_and_prints_the_boxes(tmp_path: Path, sample_pdfs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "idx"
    qa.build_index([sample_pdfs["layout"], qa.Document("notes.txt", "Notes", "The ferry leaves at noon.")], index, model=HashingEmbedder())
    text = qa.load(index, model=HashingEmbedder(), reader=False).document("layout.pdf").text
    start = text.index("Beta two follows.")
    end = start + len("Beta two follows.")
    out = tmp_path / "page.png"
    assert main(["page", "layout.pdf", "1", "--start", str(start), "--end", str(end), "-o", str(out), "--index", str(index), "--json"]) == 0
    printed = capsys.readouterr()
    assert out.read_bytes().startswith(b"\x89PNG") and f"wrote {out}: page 1 of layout.pdf" in printed.err
    body = json.loads(printed.out)
    assert body["page"] == 1 and len(body["boxes"]) == 1 and body["read_by"] == "text layer"
    assert main(["page", "layout.pdf", "1", "--index", str(index)]) == 2
    assert "say where to write the page: -o page.png" in capsys.readouterr().err
    assert main(["page", "layout.pdf", "9", "-o", str(out), "--index", str(index)]) == 2
    assert "page must be from 1 to 2 for 'layout.pdf'" in capsys.readouterr().err
    assert main(["page", "layout.pdf", "1", "--start", "3", "-o", str(out), "--index", str(index)]) == 2
    assert "give both --start and --end" in capsys.readouterr().err
    assert main(["page", "notes.txt", "1", "-o", str(out), "--index", str(index)]) == 1
    assert "'notes.txt' has no pages" in capsys.readouterr().err
