from __future__ import annotations

from pathlib import Path

import pytest

from qa.documents.docx_reader import read_docx
from qa.errors import IngestError
from qa.documents.ingest import read_file
from tests import sample_documents as documents


def test_paragraphs_headings_and_tables_in_document_order(tmp_path: Path) -> None:
    path = documents.write_docx(
        tmp_path / "minutes.docx",
        heading="Board minutes",
        paragraphs=("The board met on 4 May 2031.", "It approved the new budget of 12 million euros."),
        table=(("Item", "Cost"), ("Cranes", "8 million"), ("Dredging", "4 million")),
    )
    docx = read_docx(path)
    assert docx.title == "Board minutes"  # no core title: the first heading
    assert docx.paragraphs == 5  # the header row is in each row's line
    doc = read_file(path, "minutes.docx")
    assert doc.text == (
        "Board minutes\nThe board met on 4 May 2031.\nIt approved the new budget of 12 million euros.\n"
        "Item: Cranes, Cost: 8 million\nItem: Dredging, Cost: 4 million"
    )
    assert doc.title == "Board minutes" and doc.page_starts == () and doc.page_at(5) is None


def test_core_title_first_then_file_name(tmp_path: Path) -> None:
    titled = documents.write_docx(tmp_path / "a.docx", heading="A heading", paragraphs=("Some text here.",), core_title="Core title")
    assert read_file(titled, "a.docx").title == "Core title"
    plain = documents.write_docx(tmp_path / "budget-notes.docx", paragraphs=("This paragraph is a whole sentence that ends with a full stop.",))
    assert read_file(plain, "budget-notes.docx").title == "budget-notes"


def test_long_paragraphs_without_a_full_stop_are_kept(tmp_path: Path) -> None:
    line = "a list item of more than twelve words that has no full stop at its end at all"
    path = documents.write_docx(tmp_path / "list.docx", paragraphs=(line, "Done."))
    assert line in read_file(path, "list.docx").text  # the web-scrape teaser rule does not apply to Word files


def test_truncated_docx_is_refused(tmp_path: Path) -> None:
    path = documents.write_docx(tmp_path / "whole.docx", paragraphs=("Some text here.",) * 50)
    cut = documents.truncate(path, tmp_path / "cut.docx", 0.6)
    with pytest.raises(IngestError, match="damaged or truncated ZIP container"):
        read_docx(cut)


def test_zip_bomb_is_refused_without_inflating(tmp_path: Path) -> None:
    bomb = documents.zip_bomb(tmp_path / "bomb.docx", inflated_mb=20)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(IngestError, match="would inflate 1,0[0-9][0-9] times .* a zip bomb"):
        read_file(bomb, "bomb.docx")


def test_docx_missing_its_parts_is_malformed(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as archive:  # a docx without its relationships and styles
        archive.writestr("[Content_Types].xml", "<?xml version='1.0'?><Types/>")
        archive.writestr("word/document.xml", "<not-word/>")
    with pytest.raises(IngestError, match="damaged or malformed Word document"):
        read_file(path, "broken.docx")


def test_a_table_header_names_each_row_and_is_no_line_of_its_own(tmp_path: Path) -> None:
    path = documents.write_docx(tmp_path / "contacts.docx", ("Call the IT desk first.",), heading="IT contacts", table=documents.IT_CONTACTS_TABLE)
    lines = read_file(path, "contacts.docx").text.split("\n")
    assert "Team: IT desk, Extension: 4400, Email: desk@northwind.example" in lines
    assert not any(line.startswith("Team | Extension") or line == "Team, Extension, Email" for line in lines)
    numbers = documents.write_docx(tmp_path / "numbers.docx", table=(("2030", "4 million"), ("2031", "5 million")))
    assert read_file(numbers, "numbers.docx").text == "2030 | 4 million\n2031 | 5 million"  # no header: rows as they are


def test_a_bold_or_repeating_first_row_is_a_header(tmp_path: Path) -> None:
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    for marked in ("bold", "repeat"):
        document = docx.Document()
        grid = document.add_table(rows=2, cols=2)
        for c, (head, cell) in enumerate((("Shift 1", "Anna"), ("Shift 2", "Ben"))):  # digits: no header by its words alone
            run = grid.cell(0, c).paragraphs[0].add_run(head)
            run.bold = marked == "bold"
            grid.cell(1, c).text = cell
        if marked == "repeat":
            grid.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
            assert grid.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
        document.save(str(tmp_path / f"{marked}.docx"))
        assert read_file(tmp_path / f"{marked}.docx", "x.docx").text == "Shift 1: Anna, Shift 2: Ben"
