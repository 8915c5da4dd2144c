"""OCR of scanned PDFs and page images, with the real engine (tesseract; `make test` installs it).

The scans are made by real tools: pages rendered by headless chromium, tilted and
noised with Pillow and numpy, saved as an image-only PDF, a JPEG "photo" and a
multi-page TIFF by Pillow (see tests/sample_documents.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.documents.filetype import sniff
from qa.documents.ingest import load_documents, read_file
from qa.documents.ocr import INSTALL, OcrRun, progress_to, upright_share
from qa.files import file_sha256
from qa.documents.pdf import read_pdf
from qa.documents.scan_images import flatten, skew_angle
from qa.errors import IngestError
from tests import sample_documents as documents

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason=f"tesseract is not installed (`{INSTALL}`, or `make test`)")


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory, sample_pdfs: dict[str, Path]) -> dict[str, Path]:
    """``pages``: three clean page images; ``scan``: an image-only PDF of them (tilted, noised);
    ``photo``: page 2 photographed (tilted 3°, in uneven light, blurred, noised, JPEG 60); ``fax``: a TIFF of pages 1 and 3;
    ``mixed``: the 3-page text-layer report followed by the scan of page 3; ``printed``: the scan of page 3
    printed by chromium with its header and footer (a text layer of a date, a title, a URL and "1/1")."""
    folder = tmp_path_factory.mktemp("scans")
    browser = documents.chromium()
    pages = [
        documents.screenshot(documents.page_html(body), folder / f"page-{n}.png", width=850, height=420, browser=browser)
        for n, body in enumerate(documents.SCAN_PAGES, start=1)
    ]
    tilted = [documents.degrade(p, folder / f"tilted-{n}.png", angle=(1.5, -1.0, 2.0)[n], seed=n) for n, p in enumerate(pages)]
    scan = documents.image_pdf(tilted, folder / "scan.pdf")
    last = documents.image_pdf(tilted[2:], folder / "last.pdf")
    return {
        "page1": pages[0],
        "page3": pages[2],
        "scan": scan,
        "photo": documents.degrade(pages[1], folder / "photo.jpg", angle=-3.0, noise=10.0, blur=0.6, quality=60, seed=7, shade=0.55),
        "fax": documents.multipage_tiff([pages[0], pages[2]], folder / "fax.tif"),
        "mixed": documents.join_pdfs([sample_pdfs["report"], last], folder / "mixed.pdf"),
        "printed": documents.print_pdf(
            f"<!doctype html><html><body style='margin:0'><img src='{tilted[2].as_uri()}' style='width:100%'></body></html>",
            folder / "printed.pdf", header_footer=True, browser=browser,
        ),
    }


def _page_of(doc: object, phrase: str) -> int:
    start = doc.text.find(phrase)  # type: ignore[attr-defined]
    assert start >= 0, f"{phrase!r} not in {doc.text!r}"  # type: ignore[attr-defined]
    assert doc.text[start : start + len(phrase)] == phrase  # type: ignore[attr-defined]
    return doc.page_at(start)  # type: ignore[attr-defined]


def test_scanned_pdf_is_read_page_by_page_and_cached(scans: dict[str, Path], tmp_path: Path) -> None:
    heard: list[str] = []
    run = OcrRun(cache=tmp_path / "ocr", progress=lambda p: heard.append(p.message))
    doc = read_file(scans["scan"], "scan.pdf", ocr=run)
    assert len(doc.page_starts) == 3 and run.pages_read == 3 and doc.title == "Harbour Report 2031"  # not Pillow's title "scan"
    assert heard == ["reading page 1 of 3 with OCR", "reading page 2 of 3 with OCR", "reading page 3 of 3 with OCR"]
    assert _page_of(doc, "Lisbon harbour handled four million containers") == 1
    assert _page_of(doc, "painted green in March 2031") == 2
    assert _page_of(doc, "Ana Ribeiro") == 3
    assert "\n" not in doc.text[doc.text.find("The new lighthouse") : doc.text.find("away.")]  # lines joined into a paragraph
    assert (tmp_path / "ocr" / f"{file_sha256(scans['scan'])}.json").is_file()
    again = OcrRun(cache=tmp_path / "ocr")
    assert read_file(scans["scan"], "scan.pdf", ocr=again) == doc and again.pages_read == 0  # unchanged file: not read again
    relayed: list[tuple[str, str]] = []
    with progress_to(lambda p: relayed.append((Path(p.path).name, p.message))):  # as the chat's upload handler listens
        report = load_documents([scans["scan"]], ocr_cache=tmp_path / "ocr")
    assert [d.text for d in report.documents] == [doc.text]
    assert relayed == [("scan.pdf", f"reading page {n} of 3 with OCR") for n in (1, 2, 3)]


def test_mixed_pdf_reads_only_its_scanned_page(scans: dict[str, Path]) -> None:
    pdf = read_pdf(scans["mixed"])
    assert pdf.pages == 4 and pdf.ocr_pages == (4,)
    starts = pdf.page_starts
    assert "painted green in March 2031" in pdf.text[starts[1] : starts[2]]  # page 2: text layer
    assert "Ana Ribeiro" in pdf.text[starts[3] :]  # page 4: OCR of the scan
    assert "Harbour Report 2031" not in pdf.text[starts[1] :]  # chromium's running header dropped on every page
    printed = read_pdf(scans["printed"])
    assert printed.ocr_pages == (1,) and "She has run the port for nineteen years." in printed.text


def test_photographed_page_is_straightened_evened_out_and_read(scans: dict[str, Path]) -> None:
    from PIL import Image

    photo = Image.open(scans["photo"]).convert("L")
    assert flatten(photo).tobytes() != photo.tobytes() and flatten(Image.open(scans["page1"])).tobytes() == Image.open(scans["page1"]).convert("L").tobytes()
    assert abs(skew_angle(photo) + 3.0) <= 0.2
    doc = read_file(scans["photo"], "photo.jpg")
    assert doc.page_starts == (0,) and doc.title == "The north pier"
    assert "lighthouse on the north pier" in doc.text and _page_of(doc, "thirty kilometres") == 1


def test_page_upside_down_is_turned_and_read(scans: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    Image.open(scans["page3"]).rotate(180).save(tmp_path / "upside-down.png")
    doc = read_file(tmp_path / "upside-down.png", "upside-down.png")
    assert "The harbour master, Ana Ribeiro, retires in the summer of 2032." in doc.text
    assert upright_share(doc.text) > 0.9 and upright_share("+ BUTYIA URWIaSION URaUT AIN sNUUeUIPION IQEUIQION snUUeUTION Jjasi YOTYM") < 0.5


def test_skew_angle_is_measured() -> None:
    from PIL import Image

    page = Image.new("L", (800, 600), 255)
    for row in range(60, 560, 24):  # lines of "ink"
        page.paste(0, (40, row, 760, row + 8))
    assert skew_angle(page) == 0.0
    assert abs(skew_angle(page.rotate(-3.0, expand=True, fillcolor=255)) + 3.0) <= 0.2
    assert abs(skew_angle(page.rotate(4.5, expand=True, fillcolor=255)) - 4.5) <= 0.2


def test_tiff_frames_are_pages_and_the_budget_resumes_from_the_cache(scans: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="max_pages=1; split it, or raise max_pages"):
        read_file(scans["fax"], "fax.tif", max_pages=1)
    short = OcrRun(cache=tmp_path, budget_s=30)

    def spend_all(progress: object) -> None:  # the call's budget runs out after its first page
        if progress.done == 1:  # type: ignore[attr-defined]
            short.spent_s = short.budget_s

    short.progress = spend_all
    with pytest.raises(IngestError, match=r"OCR time budget of this call is spent \(ocr_budget_s=30 s; 1 page read .*raise ocr_budget_s"):
        read_file(scans["fax"], "fax.tif", ocr=short)
    resumed = OcrRun(cache=tmp_path)
    doc = read_file(scans["fax"], "fax.tif", ocr=resumed)
    assert resumed.pages_read == 1  # page 1 came from the cache
    assert len(doc.page_starts) == 2 and _page_of(doc, "Harbour Report 2031") == 1 and _page_of(doc, "Ana Ribeiro") == 2
    with pytest.raises(ValueError, match="ocr_budget_s must be a positive number of seconds, not 0"):
        OcrRun(budget_s=0)


def test_bad_scans_are_skipped_with_their_reason_and_the_rest_is_indexed(scans: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    good = tmp_path / "notes.txt"
    good.write_text("The harbour opens in May 2027.", encoding="utf-8")
    Image.new("L", (600, 400), 255).save(tmp_path / "blank.png")
    documents.truncate(scans["page1"], tmp_path / "cut.png", share=0.5)
    documents.png_bomb(tmp_path / "bomb.png")
    documents.pdf_image_bomb(tmp_path / "bomb.pdf")
    documents.encrypt_pdf(scans["scan"], tmp_path / "locked.pdf")
    (tmp_path / "fake.png").write_text("not an image at all", encoding="utf-8")
    assert sniff(tmp_path / "bomb.png") == "png"
    report = load_documents([tmp_path])
    assert [d.doc_id for d in report.documents] == ["notes.txt"]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"blank.png", "cut.png", "bomb.png", "bomb.pdf", "locked.pdf", "fake.png"}
    assert reasons["blank.png"].startswith("no text found: OCR read no words in the image")
    assert reasons["cut.png"].startswith("damaged or truncated image")
    assert reasons["bomb.png"] == (
        "the image has 900,000,000 pixels, over the limit of 100,000,000 pixels (a decompression bomb?); it was not decoded; "
        "scale it down to 600 dpi or less"
    )
    assert reasons["bomb.pdf"].startswith("the image has 900,000,000 pixels (30,000 × 30,000), over the limit of 100,000,000 pixels")
    assert reasons["locked.pdf"] == "encrypted PDF: it needs a password; save a copy without the password and add that"
    assert reasons["fake.png"].startswith("not a PNG, JPEG or TIFF image: the file's content is plain text")


def test_missing_engine_skips_scans_with_the_install_command(scans: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(IngestError, match="needs the OCR engine tesseract, which is not installed; install it with `sudo apt-get install tesseract-ocr"):
        read_file(scans["photo"], "photo.jpg", ocr=OcrRun(tesseract="qa-no-such-tesseract"))
    with pytest.raises(IngestError, match="tesseract has no 'qaz' language data; install it with `sudo apt-get install tesseract-ocr-qaz`"):
        read_file(scans["photo"], "photo.jpg", ocr=OcrRun(language="qaz"))
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("scan", "photo", "mixed"):
        shutil.copy(scans[name], folder / scans[name].name)
    (folder / "notes.txt").write_text("The harbour opens in May 2027.", encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no tesseract on the PATH
    report = load_documents([folder])
    assert [d.doc_id for d in report.documents] == ["mixed.pdf", "notes.txt"]  # the mixed PDF keeps its text pages
    assert len(report.documents[0].page_starts) == 4 and "Ana Ribeiro" not in report.documents[0].text[report.documents[0].page_starts[3] :]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {
        "scan.pdf": f"no text layer (a scanned PDF): reading it needs the OCR engine tesseract, which is not installed; install it with `{INSTALL}` and add the file again",
        "photo.jpg": f"a scanned image: reading it needs the OCR engine tesseract, which is not installed; install it with `{INSTALL}` and add the file again",
    }


def test_a_rebuild_reads_scans_from_the_cache_beside_the_index(
    scans: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa
    from tests.conftest import HashingEmbedder

    folder = tmp_path / "idx"
    first = qa.build_index([scans["fax"]], path=folder, model=HashingEmbedder())
    assert first.documents == 1 and any((tmp_path / ".idx.ocr").iterdir())  # OCR text kept beside the index
    text = qa.load(folder, model=HashingEmbedder(), reader=False).documents[0].text
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no tesseract now: only the cache can read the scan
    again = qa.build_index([scans["fax"]], path=folder, model=HashingEmbedder())
    assert again.skipped == [] and qa.load(folder, model=HashingEmbedder(), reader=False).documents[0].text == text
    with pytest.raises(ValueError, match="ocr_budget_s must be a number of seconds greater than 0. Currently, ocr_budget_s is 0"):
        qa.build_index([scans["fax"]], path=folder, model=HashingEmbedder(), ocr_budget_s=0)
    with pytest.raises(ValueError, match="ocr_budget_s must be a number greater than 0. Currently, ocr_budget_s is -1"):
        qa.add_documents([scans["fax"]], folder, ocr_budget_s=-1)
