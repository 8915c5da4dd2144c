"""Page views from a Milvus Lite index: the layout kept in the document's metadata, an added file's copy kept in Milvus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import qa
from tests.conftest import HashingEmbedder


def test_page_view_from_milvus_built_and_added_files(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    location = str(tmp_path / "pages.db")
    built = Path(shutil.copy(sample_pdfs["report"], tmp_path / "report.pdf"))
    added = Path(shutil.copy(sample_pdfs["layout"], tmp_path / "layout.pdf"))
    qa.build_index([built], location, model=HashingEmbedder())
    qa.add_documents([added], location, model=HashingEmbedder())
    added.unlink()  # its copy is kept in Milvus
    bot = qa.load(location, model=HashingEmbedder(), reader=False)
    for doc_id, sentence, page in (("report.pdf", "She has run the port for nineteen years.", 3), ("layout.pdf", "Beta two follows.", 1)):
        doc = bot.document(doc_id)
        assert doc.layout
        start = doc.text.index(sentence)
        citation = qa.Citation(1, doc_id, doc.title, sentence, start, start + len(sentence), 1.0, 0, doc.page_at(start))
        view = bot.page_view(citation, dpi=100)
        assert view.page == page and len(view.boxes) == 1 and view.png.startswith(b"\x89PNG")
    built.unlink()
    with pytest.raises(qa.QAError, match="the file .*report.pdf' that 'report.pdf' was read from is gone"):
        bot.page("report.pdf", 1, dpi=72)
