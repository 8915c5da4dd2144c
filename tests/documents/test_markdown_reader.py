from __future__ import annotations

import re
from pathlib import Path

from qa.documents.chunking import chunk_sentences, heading_lines, split_sentences
from qa.documents.ingest import read_file
from qa.documents.markdown_reader import read_markdown
from tests.sample_documents import BREWMASTER_MD, REMOTE_WORK_MD

MARKUP = re.compile(r"(^|\s)#{1,6}\s|\*\*|__|(^|\s)[*_]\w[^*_\n]*[*_]|\]\(|!\[|```|<!--|-->|<https?:|\|\s*-{3}|^\s*[-*+]\s", re.MULTILINE)


def test_markdown_is_read_as_the_text_it_shows(tmp_path: Path) -> None:
    (tmp_path / "policy.md").write_text(REMOTE_WORK_MD, encoding="utf-8")
    doc = read_file(tmp_path / "policy.md", "policy.md")
    assert doc.title == "Northwind Logistics Remote Work Policy"
    assert MARKUP.search(doc.text) is None, MARKUP.search(doc.text)
    assert "logo" not in doc.text and "img/" not in doc.text and "Draft reviewed" not in doc.text  # image and comment
    assert "Questions about this policy go to Maria Jensen, the HR director." in doc.text  # a link's text, not its target
    assert "nw-vpn connect --profile remote" in doc.text  # code, without its fences
    assert "the IT service desk. Employees pay" in doc.text  # a wrapped paragraph is one line
    assert "\nLock your screen whenever you leave your desk.\n" in doc.text  # list items without bullets
    headings = [doc.text[a:b] for a, b in heading_lines(doc.text)]
    assert headings == ["Northwind Logistics Remote Work Policy", "Eligibility", "Equipment", "Security", "Requesting remote work"]


def test_headings_are_no_sentences_but_open_their_sections_passages(tmp_path: Path) -> None:
    (tmp_path / "policy.md").write_text(REMOTE_WORK_MD, encoding="utf-8")
    doc = read_file(tmp_path / "policy.md", "policy.md")
    sentences = split_sentences(doc)
    quotes = [doc.text[s.start : s.end] for s in sentences]
    assert quotes[0] == "Effective 1 April 2024."  # the title is not glued to the first sentence, nor one itself
    assert not any(q.startswith(("Northwind Logistics Remote Work Policy", "Eligibility", "Security")) for q in quotes)
    assert all(q == q.strip() and "\n" not in q for q in quotes)
    passages = [doc.text[c.start : c.end] for c in chunk_sentences(doc, sentences)]
    assert passages[0].startswith("Northwind Logistics Remote Work Policy\nEffective 1 April 2024.")
    assert any(p.startswith("Eligibility\nEmployees may work remotely") for p in passages)


def test_markdown_table_names_each_cell_by_its_header() -> None:
    text = read_markdown(BREWMASTER_MD).text
    assert "Problem: Red light blinks, Cause: The water tank is empty, Fix: Fill the water tank" in text.split("\n")
    assert "Problem | Cause | Fix" not in text and "|" not in text and "---" not in text
    assert "1. Rinse the water tank with warm water.\n2. Fill the tank up to the MAX line." in text  # steps keep their numbers
    assert "Register it at https://brewmaster.example/register within 30 days" in text  # an autolink keeps its address


def test_front_matter_inline_html_and_empty_header() -> None:
    source = (
        "---\ntitle: \"Harbour notes\"\nauthor: Ana\n---\n"
        "The <b>ferry</b> leaves at <i>nine</i>.<br>It returns at six. <!-- not\nshown -->\n\n"
        "<div class=\"note\">Tickets cost <em>4 euros</em>.</div>\n\n"
        "|  |  |\n|---|---|\n| Monday | closed |\n"
    )
    read = read_markdown(source)
    assert read.title == "Harbour notes"
    assert "author" not in read.text and "<" not in read.text and "not" not in read.text.split("six.")[1].split("Tickets")[0]
    assert read.text.split("\n") == ["The ferry leaves at nine.", "It returns at six.", "", "Tickets cost 4 euros.", "Monday | closed"]  # a table follows on the next line


def test_a_thematic_break_is_no_front_matter() -> None:
    read = read_markdown("---\n\nThe harbour opens in May.\n\n---\n\nIt closes in October.\n")
    assert read.text == "The harbour opens in May.\n\nIt closes in October." and read.title == ""


def test_markdown_nested_past_the_parser_is_read_line_by_line(caplog: object) -> None:
    import logging

    deep_quote = "> " * 100_000 + "The harbour opens in **May**.\n"
    deep_list = "".join("  " * k + f"- item {k}\n" for k in range(150)) + "\nThe ferry leaves at *nine*.\n"
    with caplog.at_level(logging.WARNING, logger="qa.documents.markdown_reader"):  # type: ignore[attr-defined]
        assert read_markdown(deep_quote).text == "The harbour opens in May."
        text = read_markdown(deep_list).text
    assert text.split("\n")[149] == "item 149" and text.endswith("\n\nThe ferry leaves at nine.")
    assert "nest 100 deep or more" in caplog.text  # type: ignore[attr-defined]
