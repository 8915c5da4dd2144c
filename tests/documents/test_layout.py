from __future__ import annotations

from qa.documents.layout import HEADING, LINE, PARAGRAPH, Block, layout, looks_like_header, table_lines


def test_layout_puts_headings_after_a_blank_line_and_their_sections_on_the_next() -> None:
    blocks = [
        Block(HEADING, "Policy"), Block(HEADING, "Scope"), Block(PARAGRAPH, "It  applies\nto all."), Block(PARAGRAPH, "More."),
        Block(LINE, "item one"), Block(LINE, "item two"), Block(PARAGRAPH, ""), Block(PARAGRAPH, "After the list."),
    ]
    assert layout(blocks) == "Policy\n\nScope\nIt applies\nto all.\n\nMore.\nitem one\nitem two\n\nAfter the list."
    assert layout(blocks[2:4], paragraph_break="\n") == "It applies\nto all.\nMore."


def test_table_lines_name_cells_by_their_header() -> None:
    rows = [["Team", "Extension", ""], ["IT desk", "4400", "desk@x"], ["Payroll", "", "pay@x"], ["", "", ""]]
    assert table_lines(rows, header=True) == ["Team: IT desk, Extension: 4400, desk@x", "Team: Payroll, pay@x"]
    assert table_lines(rows, header=False) == ["Team | Extension", "IT desk | 4400 | desk@x", "Payroll | pay@x"]
    assert table_lines([["", ""], ["a", "b"]], header=True) == ["a | b"]  # an empty header names nothing


def test_looks_like_header() -> None:
    assert looks_like_header([["Team", "Extension"], ["IT desk", "4400"]])
    assert not looks_like_header([["Phone", "555 1234"], ["Email", "desk@x"]])  # a key-value list: digits in row one
    assert not looks_like_header([["Monday", "Tuesday"], ["Monday", "Friday"]])  # the first row's words recur below
    assert not looks_like_header([["Team", "Team"], ["a", "b"]])  # not distinct
    assert not looks_like_header([["Team", ""], ["a", "b"]]) and not looks_like_header([["Team", "Extension"]])
