"""A scanned PDF uploaded in the chat (headless Chromium): the status line shows the OCR's progress,
and the answer cites the scan's page; and, without a browser, how the upload relays that progress.

The scan is made by real tools: three pages rendered by chromium, tilted and noised with Pillow and
numpy, saved as an image-only PDF by Pillow (tests/sample_documents.py).  The app runs as in
tests/web/test_app.py (``python app.py`` in a subprocess, on a private copy of the article index).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import qa
from qa.documents.ocr import INSTALL, OcrRun
from qa.files import file_sha256
from qa.web import render as ui
from qa.web.uploads import PROGRESS_POLL_S, add_uploads, add_uploads_steps
from tests import sample_documents as documents
from tests.web.test_app import (  # noqa: F401 - fixtures used by name
    ARTIFACTS,
    Server,
    Watched,
    _record_status,
    article_index,
    ask,
    bot_messages,
    browser,
    start_app,
    stop_app,
    watched,
)
from tests.web.test_uploads import LibraryBot, library  # noqa: F401 - the fake build's fixture

NO_TESSERACT = pytest.mark.skipif(shutil.which("tesseract") is None, reason=f"tesseract is not installed (`{INSTALL}`, or `make test`)")

SCAN_PAGES = (
    "<h1>Oskarby Town Report</h1><p>The town council of Oskarby met eleven times in 2029. Its budget grew by four percent.</p>",
    "<h2>Bridges</h2><p>The old Oskarby bridge was painted cobalt blue in April 2029. The painters worked for three weeks.</p>",
    "<h2>Schools</h2><p>The new school on the hill opened in September with ninety pupils.</p>",
)
QUESTION = "What colour was the Oskarby bridge painted?"


@pytest.fixture
def scan_server(article_index: Path, tmp_path: Path) -> Iterator[Server]:  # noqa: F811 - the imported fixture
    """The app on a private copy of the article index (the upload changes it)."""
    index = tmp_path / "served" / "index"
    shutil.copytree(article_index, index)
    server = start_app(index, tmp_path / "scan-upload.log")
    yield server
    stop_app(server)


def test_upload_steps_relay_ocr_progress_then_the_report(library: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """add_uploads_steps: the progress of the OCR runs made inside qa.add_documents, then add_uploads' report (fake build)."""
    scan = tmp_path / "x.pdf"
    scan.write_bytes(b"%PDF-1.4 a scan")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{file_sha256(scan)}.json").write_text(json.dumps({"version": 1, "language": "eng", "pages": {"1": "a", "2": "b"}}))
    recorded = qa.add_documents

    def add_documents(paths: Any, index: Any = None, **kwargs: Any) -> Any:
        OcrRun(cache=cache).read_pages(scan, {1: lambda: None, 2: lambda: None})  # cached pages: heard, not read
        time.sleep(3 * PROGRESS_POLL_S)
        return recorded(paths, index)

    monkeypatch.setattr(qa, "add_documents", add_documents)
    bot = LibraryBot()
    steps = list(add_uploads_steps(bot, [str(scan)]))
    assert steps[-1] == add_uploads(LibraryBot(), [str(scan)]) and bot.reloads == 1
    assert steps[:-1] == [ui.format_ocr_progress(["x.pdf"], "x.pdf", "reading page 2 of 2 with OCR")]
    assert "Adding 1 file (x.pdf)\u2026 x.pdf: reading page 2 of 2 with OCR" in steps[0]
    assert list(add_uploads_steps(bot, None)) == [ui.format_notice(ui.NO_FILES)]


@pytest.mark.slow
@pytest.mark.browser
@NO_TESSERACT
def test_scanned_pdf_upload_shows_ocr_progress_and_is_answered_with_its_page(
    scan_server: Server, tmp_path: Path, watched: Watched  # noqa: F811 - the imported fixture
) -> None:
    from playwright.sync_api import expect

    pages = [
        documents.screenshot(documents.page_html(body), tmp_path / f"page-{n}.png", width=850, height=420)
        for n, body in enumerate(SCAN_PAGES, start=1)
    ]
    tilted = [documents.degrade(p, tmp_path / f"tilted-{n}.png", angle=(-1.0, 1.5, -2.0)[n], seed=n) for n, p in enumerate(pages)]
    scan = documents.image_pdf(tilted, tmp_path / "oskarby-scan.pdf")

    page = watched.page
    page.goto(scan_server.url)
    expect(page.locator("#doc-list")).to_contain_text("EU and Japan sign security and defence partnership", timeout=30000)
    _record_status(page)
    page.locator("#uploads input[type=file]").set_input_files([str(scan)])
    page.locator("#add-docs").click()
    status = page.locator("#doc-status")
    expect(status).to_contain_text("Indexed 1 document", timeout=180000)
    shown = page.evaluate("() => window.__status")
    assert any("oskarby-scan.pdf: reading page" in s and "of 3 with OCR" in s for s in shown), shown
    expect(page.locator("#doc-list")).to_contain_text("Oskarby Town Report")

    ask(page, QUESTION)
    reply = bot_messages(page).nth(0)
    expect(reply.locator(".qa-answer")).to_contain_text("cobalt blue", timeout=30000)
    source = reply.locator(".qa-source").first
    expect(source.locator(".qa-page")).to_have_text("p. 2")
    expect(source.locator("blockquote mark")).to_contain_text("cobalt blue")

    # the "page" control: the scan's page 2, straightened, the sentence boxed (rendered on click)
    source.locator("a.qa-open-page").click()
    caption = page.locator("#page-caption")
    expect(caption).to_contain_text("oskarby-scan.pdf, page 2: the quoted sentence is highlighted", timeout=60000)
    expect(caption).to_contain_text("boxes from the words OCR read on the page straightened by")
    image = page.locator("#page-view img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 500
    image.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page_view.png"), full_page=True)
    expect(page.locator("body")).not_to_contain_text("Traceback")
    assert "Traceback" not in scan_server.output()
    assert watched.foreign() == [], f"requests left the machine: {watched.foreign()}"
