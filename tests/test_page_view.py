"""QA.page_view: the page of a PDF citation rendered with the quote boxed, read back by tesseract; its errors."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import qa
from tests.conftest import HashingEmbedder


def read_back(png: bytes, boxes: tuple[tuple[int, int, int, int], ...]) -> str:
    """The text tesseract reads in each boxed region of a page image (a few pixels of margin), lines joined."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    out = []
    with tempfile.TemporaryDirectory(prefix="qa-readback-") as tmp:
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            crop = image.crop((max(0, x0 - 4), max(0, y0 - 4), x1 + 4, y1 + 4))
            path = Path(tmp) / f"line-{i}.png"
            crop.save(path)
            done = subprocess.run(["tesseract", str(path), "stdout", "--psm", "7"], capture_output=True, text=True, check=False)
            out.append(done.stdout.strip())
    return " ".join(out)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def word_share(quote: str, read: str) -> float:
    """Share of the quote's words found in the text read back (a word hyphenated over two lines, read as
    "cyber-" and "security", counts when the words read, run together, hold it)."""
    wanted, found = words(quote), set(words(read))
    joined = "".join(words(read))
    return sum(w in found or w in joined for w in wanted) / max(1, len(wanted))


@pytest.fixture(scope="module")
def pdf_bot(sample_pdfs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> qa.QA:
    """An index of the printed report (3 pages, chromium's header and footer) and the two-column/soft-hyphen PDF,
    the PDFs copied first so that tests may change or remove the copies; and a text document."""
    folder = tmp_path_factory.mktemp("page-view")
    copies = [Path(shutil.copy(sample_pdfs[name], folder / f"{name}.pdf")) for name in ("report", "layout")]
    text = qa.Document("notes.txt", "Notes", "The ferry leaves at noon. It returns at six.", "<memory>")
    qa.build_index([*copies, text], folder / "index", model=HashingEmbedder())
    return qa.load(folder / "index", model=HashingEmbedder())


def citation_of(bot: qa.QA, doc_id: str, sentence: str) -> qa.Citation:
    doc = bot.document(doc_id)
    start = doc.text.index(sentence)
    return qa.Citation(1, doc_id, doc.title, sentence, start, start + len(sentence), 1.0, 0, doc.page_at(start))


needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed (`make ocr`)")


@needs_tesseract
@pytest.mark.parametrize(
    ("doc_id", "sentence", "page"),
    [
        ("report.pdf", "The new lighthouse on the north pier was painted green in March 2031.", 2),
        ("report.pdf", "She has run the port for nineteen years.", 3),
        ("layout.pdf", "Beta three wraps over lines as well, because the column is narrow.", 1),  # the right column, wrapped
        ("layout.pdf", "Our cybersecurity partnerships are long-standing.", 2),  # soft hyphens rejoined
    ],
)
def test_boxes_hold_the_quote(pdf_bot: qa.QA, doc_id: str, sentence: str, page: int) -> None:
    citation = citation_of(pdf_bot, doc_id, sentence)
    assert citation.page == page
    view = pdf_bot.page_view(citation)
    assert (view.doc_id, view.page, view.dpi, view.read_by) == (doc_id, page, 150, "text layer")
    assert view.png.startswith(b"\x89PNG") and view.width == 1275 and view.height in (1650, 1651)  # US Letter at 150 dpi
    assert view.boxes and all(0 <= x0 < x1 <= view.width and 0 <= y0 < y1 <= view.height for x0, y0, x1, y1 in view.boxes)
    tops = [b[1] for b in view.boxes]
    assert tops == sorted(tops)  # one rectangle per line, in reading order
    assert word_share(sentence, read_back(view.png, view.boxes)) >= 0.9


def test_one_rectangle_per_line_and_the_phrase(pdf_bot: qa.QA) -> None:
    sentence = "Alpha three is long enough to wrap over several lines in a narrow column of text."
    citation = citation_of(pdf_bot, "layout.pdf", sentence)
    phrase_start = citation.start + sentence.index("narrow column")
    phrase = qa.Span("layout.pdf", phrase_start, phrase_start + len("narrow column"), "narrow column")
    view = pdf_bot.page_view(citation, phrase=phrase)
    assert len(view.boxes) >= 2  # the sentence wraps in its narrow column
    assert all(x1 < view.width / 2 for _, _, x1, _ in view.boxes)  # and stays in the left column
    assert view.phrase_boxes and all(
        any(b[0] <= p[0] and p[2] <= b[2] and b[1] <= p[1] and p[3] <= b[3] for b in view.boxes) for p in view.phrase_boxes
    )


def test_answers_and_candidates_open_their_page(pdf_bot: qa.QA) -> None:
    answer = pdf_bot.ask("When was the lighthouse on the north pier painted green?")
    citation = answer.citations[0] if answer.citations else answer.candidate.citation  # type: ignore[union-attr]
    view = pdf_bot.page_view(citation, phrase=answer.phrase)
    assert view.page == citation.page and view.boxes
    assert pdf_bot.page_view(citation, phrase=answer.phrase) is view  # cached


def test_bad_arguments_and_documents_without_pages(pdf_bot: qa.QA) -> None:
    citation = citation_of(pdf_bot, "report.pdf", "She has run the port for nineteen years.")
    for dpi in (71, 301, 150.0, True):
        with pytest.raises(ValueError, match="dpi must be a whole number from 72 to 300"):
            pdf_bot.page_view(citation, dpi=dpi)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="page must be from 1 to 3 for 'report.pdf'. Currently, page is 4"):
        pdf_bot.page("report.pdf", 4)
    with pytest.raises(ValueError, match="quote range must be two offsets"):
        pdf_bot.page("report.pdf", 1, start=50, end=10)
    with pytest.raises(ValueError, match="phrase must lie inside the citation"):
        pdf_bot.page_view(citation, phrase=qa.Span("report.pdf", 0, 3, "The"))
    notes = citation_of(pdf_bot, "notes.txt", "It returns at six.")
    with pytest.raises(qa.QAError, match="'notes.txt' has no pages"):
        pdf_bot.page_view(notes)
    with pytest.raises(qa.QAError, match="no document with doc_id 'nope.pdf'"):
        pdf_bot.page("nope.pdf", 1)


def test_changed_or_removed_source_is_named_never_rendered(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    pdf = Path(shutil.copy(sample_pdfs["layout"], tmp_path / "layout.pdf"))
    qa.build_index([pdf], tmp_path / "index", model=HashingEmbedder())
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    citation = citation_of(bot, "layout.pdf", "Beta two follows.")
    assert bot.page_view(citation, dpi=72).boxes
    shutil.copy(sample_pdfs["report"], pdf)  # another PDF under the same name
    with pytest.raises(qa.QAError, match=r"the file '.*layout\.pdf' that 'layout.pdf' was read from has changed since it was indexed"):
        bot.page_view(citation)
    pdf.unlink()
    with pytest.raises(qa.QAError, match=r"the file '.*layout\.pdf' that 'layout.pdf' was read from is gone"):
        bot.page_view(citation, dpi=100)


def test_added_files_render_from_the_kept_copy(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    pdf = Path(shutil.copy(sample_pdfs["layout"], tmp_path / "layout.pdf"))
    qa.build_index([qa.Document("a.txt", "A", "Nothing here but a line.")], tmp_path / "index", model=HashingEmbedder())
    qa.add_documents([pdf], tmp_path / "index", model=HashingEmbedder())
    pdf.unlink()  # the index kept its own copy
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    assert bot.document("layout.pdf").source == "files/layout.pdf"
    assert bot.page_view(citation_of(bot, "layout.pdf", "Beta two follows.")).boxes


def test_an_index_without_layouts_says_to_add_again(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    """An index written before qa kept page layouts (its documents file has no "layout") still loads and answers."""
    import json

    from qa.files import file_sha256

    qa.build_index([sample_pdfs["layout"]], tmp_path / "index", model=HashingEmbedder())
    documents = tmp_path / "index" / "documents.jsonl"
    rows = [json.loads(line) for line in documents.read_text(encoding="utf-8").splitlines()]
    assert all("layout" in row for row in rows)
    documents.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "layout"}) + "\n" for row in rows), encoding="utf-8")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["documents.jsonl"].update(bytes=documents.stat().st_size, sha256=file_sha256(documents))
    (tmp_path / "index" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    with pytest.raises(qa.QAError, match="holds no page layout for 'layout.pdf' .* add the file again or rebuild the index"):
        bot.page_view(citation_of(bot, "layout.pdf", "Beta two follows."))


def test_page_bombs_are_refused_before_rendering(tmp_path: Path) -> None:
    import pypdf

    from qa.documents.page_map import decode
    from qa.documents.pages import render_pdf_page

    layout = decode('{"format":1,"kinds":["text"],"runs":"' + _empty_runs() + '","ocr":{}}')
    for side, message in ((20_000, "media box of 20,000 × 20,000 points, over the 14,400"), (14_000, "would be 58,333 × 58,333 pixels, over the limit")):
        writer = pypdf.PdfWriter()
        writer.add_blank_page(width=side, height=side)
        path = tmp_path / f"bomb-{side}.pdf"
        with path.open("wb") as handle:
            writer.write(handle)
        with pytest.raises(qa.QAError, match=message):
            render_pdf_page(path, "bomb.pdf", layout, 1, {}, 300)


def _empty_runs() -> str:
    import base64
    import zlib

    return base64.b64encode(zlib.compress(b"")).decode("ascii")


def scanned_copy(pdf: Path, out: Path, dpi: int = 200, angle: float = 1.5) -> Path:
    """An image-only copy of a PDF: each page rendered (PDFium), tilted by ``angle`` degrees, saved by Pillow."""
    import pypdfium2 as pdfium
    from PIL import Image

    document = pdfium.PdfDocument(pdf)
    pages = [document[i].render(scale=dpi / 72).to_pil().convert("L") for i in range(len(document))]
    document.close()
    tilted = [p.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255) for p in pages]
    tilted[0].save(out, save_all=True, append_images=tilted[1:], resolution=float(dpi))
    return out


@needs_tesseract
def test_scanned_pdf_boxes_the_words_on_the_straightened_page(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    scan = scanned_copy(sample_pdfs["report"], tmp_path / "scan.pdf")
    qa.build_index([scan], tmp_path / "index", model=HashingEmbedder())
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    doc = bot.document("scan.pdf")
    start = doc.text.index("The new lighthouse")
    end = doc.text.index(".", start) + 1
    citation = qa.Citation(1, "scan.pdf", doc.title, doc.text[start:end], start, end, 1.0, 0, doc.page_at(start))
    view = bot.page_view(citation)
    assert view.page == 2 and view.read_by == "ocr" and view.deskew == pytest.approx(1.5, abs=0.3)
    assert len(view.boxes) == 1 and word_share(citation.quote, read_back(view.png, view.boxes)) >= 0.85
    cache = next((tmp_path / ".index.ocr").glob("*.json"))
    assert '"boxes"' in cache.read_text(encoding="utf-8")  # the word boxes are kept with the OCR text


@needs_tesseract
def test_a_page_image_boxes_its_words(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(sample_pdfs["layout"])
    document[0].render(scale=200 / 72).to_pil().convert("L").save(tmp_path / "columns.png", dpi=(200, 200))
    document.close()
    qa.build_index([tmp_path / "columns.png"], tmp_path / "index", model=HashingEmbedder())
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    doc = bot.document("columns.png")
    start = doc.text.index("Beta two follows.")
    citation = qa.Citation(1, "columns.png", doc.title, "Beta two follows.", start, start + 17, 1.0, 0, 1)
    view = bot.page_view(citation, dpi=100)
    assert view.read_by == "ocr" and view.deskew == 0.0 and len(view.boxes) == 1
    assert view.boxes[0][0] > view.width / 2  # in the right column
    assert word_share("Beta two follows.", read_back(view.png, view.boxes)) == 1.0


def test_a_turned_page_boxes_its_lines_in_their_direction(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    """A page with /Rotate 90 is shown turned (landscape); its text runs downwards, one rectangle per line all the same."""
    import pypdf

    writer = pypdf.PdfWriter()
    for page in pypdf.PdfReader(str(sample_pdfs["layout"])).pages:
        writer.add_page(page.rotate(90))
    with (tmp_path / "turned.pdf").open("wb") as handle:
        writer.write(handle)
    qa.build_index([tmp_path / "turned.pdf"], tmp_path / "index", model=HashingEmbedder())
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    view = bot.page_view(citation_of(bot, "turned.pdf", "Beta two follows."))
    assert view.width > view.height  # shown turned
    (x0, y0, x1, y1), = view.boxes
    assert y1 - y0 > 3 * (x1 - x0)  # one line, running down the page
