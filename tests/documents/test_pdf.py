from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import IngestError
from qa.documents.pdf import NO_TEXT_LAYER, drop_furniture, page_count, read_pdf, reflow
from tests import sample_documents as documents


def test_pages_title_and_offsets_of_a_printed_report(sample_pdfs: dict[str, Path]) -> None:
    pdf = read_pdf(sample_pdfs["report"])
    assert pdf.pages == 3 and len(pdf.page_starts) == 3 and pdf.page_starts[0] == 0
    assert pdf.title == "Harbour Report 2031"  # the PDF's own title (chromium writes the HTML <title>)
    for number, marker in ((1, "four million containers"), (2, "painted green in March 2031"), (3, "Ana Ribeiro")):
        start = pdf.text.index(marker)
        assert pdf.page_starts[number - 1] <= start
        assert number == 3 or start < pdf.page_starts[number]
    # every sentence of the HTML is in the text verbatim, one paragraph per line (lines of a paragraph joined)
    assert "The Lisbon harbour handled four million containers in 2030. Most of them came from Rotterdam and Antwerp." in pdf.text
    assert "\nThe north pier\n" in pdf.text


def test_title_is_the_metadata_then_the_first_heading(sample_pdfs: dict[str, Path]) -> None:
    import pypdf

    from qa.documents.ingest import read_file

    assert pypdf.PdfReader(str(sample_pdfs["report_v2"])).metadata.title == "page.html"  # chromium's file name: not a title
    assert read_pdf(sample_pdfs["report_v2"]).title == ""
    assert read_file(sample_pdfs["report_v2"], "v2.pdf").title == "Harbour Report 2031"  # the first heading


def test_chromium_header_and_footer_are_dropped(sample_pdfs: dict[str, Path]) -> None:
    import pypdf

    raw = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(sample_pdfs["report"])).pages)
    assert "\ufb01le:///" in raw and raw.count("Harbour Report 2031") >= 3  # chromium printed its URL (with an "fi" ligature) and title on every page
    text = read_pdf(sample_pdfs["report"]).text
    assert "file:" not in text and "1/3" not in text and text.count("Harbour Report 2031") == 1


def test_two_columns_keep_reading_order_and_hyphens_are_rejoined(sample_pdfs: dict[str, Path]) -> None:
    pdf = read_pdf(sample_pdfs["layout"])
    assert pdf.text.index("Alpha four ends it.") < pdf.text.index("Beta one starts the right column.")
    assert "Alpha three is long enough to wrap over several lines in a narrow column of text." in pdf.text
    # soft hyphens at line ends are removed, a real hyphen ("long-standing") is kept
    assert "Our cybersecurity partnerships are long-standing." in pdf.text
    # chromium prints an unused soft hyphen as a zero-width space glyph marked /ActualText U+00AD: not a space
    assert "The destructive storm of 2030 passed without harm." in pdf.text
    assert pdf.page_starts == (0, pdf.text.index("Our cybersecurity"))


def test_scanned_pdf_without_ocr_engine_and_pdf_without_text(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    from qa.documents.ocr import OcrRun

    with pytest.raises(IngestError, match="no text layer \\(a scanned PDF\\): reading it needs the OCR engine tesseract, which is not installed"):
        read_pdf(sample_pdfs["scanned"], ocr=OcrRun(tesseract="qa-no-such-tesseract"))
    blank = documents.print_pdf("<!doctype html><html><body><p>&nbsp;</p></body></html>", tmp_path / "blank.pdf")
    with pytest.raises(IngestError, match="no text layer, and no page image to read by OCR"):
        read_pdf(blank)
    assert NO_TEXT_LAYER == "no text layer, and no page image to read by OCR"


def test_password_protected_pdf_is_refused(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    locked = documents.encrypt_pdf(sample_pdfs["report"], tmp_path / "locked.pdf", user_password="secret")
    with pytest.raises(IngestError, match="encrypted PDF: it needs a password"):
        read_pdf(locked)


def test_pdf_encrypted_with_an_empty_user_password_is_read(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    restricted = documents.encrypt_pdf(sample_pdfs["report"], tmp_path / "restricted.pdf", user_password="", owner_password="owner")
    assert read_pdf(restricted).text == read_pdf(sample_pdfs["report"]).text


@pytest.mark.parametrize("share", [0.3, 0.7, 0.98])
def test_truncated_pdf_is_refused(sample_pdfs: dict[str, Path], tmp_path: Path, share: float) -> None:
    cut = documents.truncate(sample_pdfs["report"], tmp_path / "cut.pdf", share)
    with pytest.raises(IngestError, match="damaged or truncated PDF"):
        read_pdf(cut)


def test_page_limit(sample_pdfs: dict[str, Path]) -> None:
    assert page_count(sample_pdfs["report"]) == 3
    with pytest.raises(IngestError, match="the PDF has 3 pages, over the limit of max_pages=2; split it, or raise max_pages"):
        read_pdf(sample_pdfs["report"], max_pages=2)


def test_furniture_needs_the_same_place_on_half_the_pages() -> None:
    topics = ("harbours", "ships", "cranes", "tides")
    pages = [
        ["Annual report", f"Body text about {t}.", f"More on {t}.", f"{t.title()} in the middle.", f"The {t} again.", f"End of {t}.", f"Page {i} of 4"]
        for i, t in enumerate(topics, 1)
    ]
    pages[0].insert(3, "Annual report")  # the header's words in the middle of a page are text
    kept = drop_furniture(pages)
    assert [p[0] for p in kept] == [f"Body text about {t}." for t in topics]  # header and page numbers gone
    assert [p[-1] for p in kept] == [f"End of {t}." for t in topics]
    assert kept[0][2] == "Annual report" and len(kept[0]) == 6
    assert drop_furniture([["Only one page", "Annual report"]]) == [["Only one page", "Annual report"]]  # one page: no repetition
    assert drop_furniture([["Only one page", "Page 1"]]) == [["Only one page"]]  # but a page counter's pattern (issue 31)


def test_reflow_joins_lines_and_rejoins_hyphenated_words() -> None:
    line = "the words of a full line of running text in a printed page"
    text, starts = reflow([
        ["Title of it", f"{line} docu-", "ment and a well-", "known thing of the sort that goes on and on here now.", "A document."],
        [],
        ["A heading", "Second page text."],
    ])
    assert text.startswith("Title of it\n" + line + " document and a well-known thing")
    assert "\n\nA heading\nSecond page text." in text
    assert starts[0] == 0 and starts[1] == starts[2] == text.index("A heading")


def test_browser_print_header_and_footer_are_dropped_on_a_one_page_pdf(tmp_path: Path) -> None:
    """Chromium's default print (no --no-pdf-header-footer) puts a date-time-and-title line and the file's address with
    "1/1" on the page; with one page, repetition cannot tell them, so their pattern does (issue 31)."""
    import pypdf

    if documents.chromium() is None:
        pytest.skip("chromium is not installed (`make chromium`)")
    html = documents.pages_html("Lakeside Bird Survey 2024", ("<h1>Lakeside Bird Survey 2024</h1><p>The next bird survey is on 3 May 2025. "
                                                            "Volunteers meet at the boathouse at six.</p>",))
    pdf = documents.print_pdf(html, tmp_path / "survey.pdf", header_footer=True)
    raw = pypdf.PdfReader(str(pdf)).pages[0].extract_text()
    assert "le:///" in raw and "1/1" in raw and " PM " in raw or " AM " in raw  # chromium printed them
    text = read_pdf(pdf).text
    assert text == "Lakeside Bird Survey 2024\nThe next bird survey is on 3 May 2025. Volunteers meet at the boathouse at six."


@pytest.mark.parametrize(
    ("line", "edge", "furniture"),
    [
        ("12/7/26, 8:45 PM Lakeside Bird Survey 2024", False, True),
        ("07.12.2026, 20:45 Lakeside Bird Survey", False, True),
        ("\ufb01le:///home/ana/survey.html 1/1", False, True),
        ("https://example.org/report 2/7", False, True),
        ("Page 2 of 5", False, True),
        ("1/1", False, True),
        ("3", True, True),
        ("3", False, False),  # a bare number only as the first or last line
        ("2024", True, False),
        ("12/7/26, 8:45 PM the survey started at dawn and ended late.", False, False),  # a sentence, not a stamp
        ("https://example.org is our site and it lists every survey we ran.", False, False),
        ("The next survey is in May.", False, False),
    ],
)
def test_print_furniture_patterns(line: str, edge: bool, furniture: bool) -> None:
    from qa.documents.pdf import is_print_furniture

    assert is_print_furniture(line, edge) is furniture
