"""GET /v1/documents/{doc_id}/pages/{page}: the PNG with the quote boxed, the JSON boxes, and its errors."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import qa
from qa.web.api import create_api
from qa.web.settings import ServerSettings
from tests.conftest import API_KEY, HashingEmbedder
from tests.web.test_api import AUTH, assert_error

SENTENCE = "Beta three wraps over lines as well, because the column is narrow."


@pytest.fixture(scope="module")
def page_index(sample_pdfs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api-pages")
    pdf = Path(shutil.copy(sample_pdfs["layout"], folder / "layout.pdf"))
    qa.build_index([pdf, qa.Document("notes.txt", "Notes", "The ferry leaves at noon.")], folder / "index", model=HashingEmbedder())
    return folder / "index"


@pytest.fixture
def pages(page_index: Path) -> Iterator[TestClient]:
    bot = qa.load(page_index, model=HashingEmbedder(), reader=False)
    with TestClient(create_api(bot, ServerSettings(index=str(page_index), api_key=API_KEY)), raise_server_exceptions=False) as c:
        c.headers.update(AUTH)
        c.bot = bot  # type: ignore[attr-defined]
        yield c


def quote_range(client: TestClient) -> tuple[int, int]:
    text = client.bot.document("layout.pdf").text  # type: ignore[attr-defined]
    start = text.index(SENTENCE)
    return start, start + len(SENTENCE)


def test_the_png_and_the_json_boxes(pages: TestClient) -> None:
    from PIL import Image

    start, end = quote_range(pages)
    png = pages.get(f"/v1/documents/layout.pdf/pages/1?start={start}&end={end}&dpi=100")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    found = pages.get(f"/v1/documents/layout.pdf/pages/1?start={start}&end={end}&dpi=100&format=json&phrase_start={start}&phrase_end={start + 4}")
    assert found.status_code == 200
    body = found.json()
    assert (body["width"], body["height"]) == image.size and body["page"] == 1 and body["read_by"] == "text layer"
    assert len(body["boxes"]) >= 2 and all(body["width"] / 2 < x0 < x1 <= body["width"] for x0, _, x1, _ in body["boxes"])  # the right column
    assert len(body["phrase_boxes"]) == 1
    x0, y0, x1, y1 = body["boxes"][0]
    assert image.convert("RGB").getpixel(((x0 + x1) // 2, y0 + 1)) != (255, 255, 255)  # the quote is highlighted on the PNG
    plain = pages.get("/v1/documents/layout.pdf/pages/2?format=json").json()
    assert plain["boxes"] == [] and plain["dpi"] == 150


def test_missing_pages_are_404_and_bad_ranges_422(pages: TestClient) -> None:
    start, end = quote_range(pages)
    assert_error(pages.get("/v1/documents/nope.pdf/pages/1"), 404, "doc_id", "no document 'nope.pdf'")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/3"), 404, "page", "no page 3: 'layout.pdf' has 2 page(s)")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/0"), 404, "page")
    assert_error(pages.get("/v1/documents/notes.txt/pages/1"), 404, "page", "'notes.txt' has no pages")
    assert_error(pages.get(f"/v1/documents/layout.pdf/pages/1?start={end}&end={start}"), 422, "start", "quote range must be two offsets")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/1?start=5"), 422, "start", "give both start and end")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/1?start=0&end=99999"), 422, "start")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/1?dpi=600"), 422, "dpi")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/1?format=gif"), 422, "format")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/x"), 422, "page")
    assert_error(pages.get("/v1/documents/layout.pdf/pages/1", headers={"Authorization": "Bearer wrong"}), 401, "Authorization")


def test_a_changed_file_is_a_409_naming_it_without_server_paths(sample_pdfs: dict[str, Path], tmp_path: Path) -> None:
    pdf = Path(shutil.copy(sample_pdfs["layout"], tmp_path / "layout.pdf"))
    qa.build_index([pdf], tmp_path / "index", model=HashingEmbedder())
    bot = qa.load(tmp_path / "index", model=HashingEmbedder(), reader=False)
    with TestClient(create_api(bot, ServerSettings(index=str(tmp_path / "index"), api_key=API_KEY)), raise_server_exceptions=False) as client:
        client.headers.update(AUTH)
        pdf.write_bytes(pdf.read_bytes() + b"\n% changed")
        body = assert_error(client.get("/v1/documents/layout.pdf/pages/1"), 409, "doc_id", "the file 'layout.pdf' that 'layout.pdf' was read from has changed")
        assert str(tmp_path) not in body["message"]


def test_the_schema_describes_the_route(pages: TestClient) -> None:
    schema = pages.get("/openapi.json").json()
    operation = schema["paths"]["/v1/documents/{doc_id}/pages/{page}"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"doc_id", "page", "start", "end", "dpi", "format"}
    assert "image/png" in operation["responses"]["200"]["content"] and {"404", "409", "422"} <= set(operation["responses"])
