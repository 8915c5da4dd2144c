"""The page map made at ingest: clean text aligned with the page's raw characters, runs, encoding."""

from __future__ import annotations

import pytest

from qa.documents.page_map import OcrPage, align, build, decode
from qa.documents.pages import line_boxes


def test_alignment_goes_through_hyphens_furniture_reflow_and_column_order() -> None:
    raw = "12/7/26, 8:45 PM Survey\r\nRight column first.\r\nThe left col-\r\numn comes second\ufb01ne.\r\nfile:///x.html 1/1"
    clean = "The left column comes secondfine. Right column first."
    pairs = dict(align(clean, raw))
    assert all(i in pairs for i, c in enumerate(clean) if not c.isspace())  # every letter found, the columns' order notwithstanding
    assert all(clean[c] == raw[r] or (raw[r] == "\ufb01" and clean[c] in "fi") for c, r in pairs.items())  # each to its own letter
    assert "-" not in "".join(raw[r] for r in pairs.values())  # the hyphen dropped by reflow is not mapped
    assert not any(raw[r] in "12/7:" for c, r in pairs.items() if clean[c].isalpha())  # nor the printed date


def test_layout_round_trip_and_ranges() -> None:
    import numpy as np

    text = "Alpha beta. Gamma delta."
    raw0, raw1 = "Alpha beta.\r\n", "Gamma delta."
    words = np.array([[0, 5, 10, 10, 60, 30], [6, 12, 70, 10, 130, 30]], dtype=np.int32)
    layout = decode(build(text, (0, 12), {0: raw0, 1: raw1}, {1: OcrPage(200, 100, 1.5, 0, words)}))
    assert layout.kinds == ("text", "ocr") and layout.ocr[1].deskew == 1.5 and layout.ocr[1].words.tolist() == words.tolist()
    assert layout.raw_ranges(0, 11, 0) == [(0, 11)]  # one run for the line, its word gap included
    assert layout.raw_ranges(12, 17, 1) == [(0, 5)] and layout.raw_ranges(12, 17, 0) == []
    assert layout.raw_ranges(6, 10, 0) == [(6, 10)]


def test_a_damaged_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="unreadable page layout"):
        decode('{"format":1,"kinds":["text"],"runs":"not base64!"}')
    with pytest.raises(ValueError, match="layout format 9, not 1"):
        decode('{"format":9}')


def test_line_boxes_join_characters_per_line() -> None:
    chars = [(10, 10, 20, 30), (20, 10, 30, 30), (10, 40, 20, 60), (300, 10, 310, 30)]
    assert line_boxes(chars) == [(10, 10, 30, 30), (10, 40, 20, 60), (300, 10, 310, 30)]


def test_alignment_through_lines_shorter_than_its_key() -> None:
    """A narrow column of soft-hyphenated words: each printed line is shorter than the 16 characters looked for."""
    raw = "Our cyber-\r\nsecurity\r\npartner-\r\nships are\r\nlong-\r\nstanding."
    clean = "Our cybersecurity partnerships are long-standing."
    pairs = dict(align(clean, raw))
    assert all(i in pairs for i, c in enumerate(clean) if not c.isspace())
    assert all(clean[c] == raw[r] for c, r in pairs.items())
    assert pairs[clean.index("standing")] == raw.index("standing")
