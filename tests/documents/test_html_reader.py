from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qa.documents.html_reader import read_html
from qa.documents.ingest import read_file

ARTICLE = (
    "<h1>Flood barrier opens</h1><p>The new <b>barrier</b> on the river opened on 3 May, after two years of building work.</p>"
    "<h2>Who paid</h2><p>The city paid half of the cost, and the rest came from the state and the European Union.</p>"
    "<ul><li>Length: 300 m</li><li>Height: 4 m</li></ul>"
    "<table><tr><th>Year</th><th>Floods</th></tr><tr><td>2020</td><td>3</td></tr><tr><td>2021</td><td>5</td></tr></table>"
    "<p>The mayor expects fewer floods in the old town now that the barrier is closed in every storm.</p>"
)


def page(body: str) -> str:
    return f"<html><head><title>River news</title></head><body><nav><a href='/'>Home</a></nav><article>{body}</article></body></html>"


def test_html_tables_and_lists_are_read_as_text() -> None:
    read = read_html(page(ARTICLE))
    lines = read.text.split("\n")
    assert "Year: 2020, Floods: 3" in lines and "Year: 2021, Floods: 5" in lines
    assert not any("|" in line or line.startswith(("- ", "Year | Floods")) for line in lines)
    assert "Length: 300 m" in lines and "Home" not in lines  # items without bullets; the menu left out
    assert read.text.startswith("Flood barrier opens\nThe new barrier on the river") and "\n\nWho paid\nThe city" in read.text
    assert not read.whole_page


def test_text_nested_in_100000_divs_is_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    deep = 100_000
    (tmp_path / "deep.html").write_text(page("<div>" * deep + ARTICLE + "</div>" * deep), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="qa.documents.html_reader"):
        doc = read_file(tmp_path / "deep.html", "deep.html")
    assert "The city paid half of the cost" in doc.text and "Year: 2021, Floods: 5" in doc.text
    assert doc.title == "River news"
    assert "nested 100,00" in caplog.text and "past the 256" in caplog.text  # the warning says why the page was read whole
