"""Write the blocks of a structured document (headings, paragraphs, list items, table rows, code) as plain text.

The one layout of the Markdown, HTML and Word readers, so that :func:`qa.documents.chunking.heading_lines`
tells a heading from a sentence by the text alone:

- a heading starts a block (a blank line before it) and its section follows on the next line;
- a paragraph follows a heading on the next line, and other blocks after a paragraph break
  (a blank line; a Word document's paragraphs follow each other on the next line);
- list items, table rows and code lines follow whatever comes before them on the next line;
- a table with a header row is written one line per body row, each cell named by its column's
  header (``"Team: IT desk, Extension: 4400"``): the header row is never a line of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

HEADING = "heading"
PARAGRAPH = "paragraph"
LINE = "line"
"""Block kinds: a LINE (list item, table row, code line) follows the block before it on the next line."""
CELL_SEPARATOR = " | "
"""Between the cells of a row without a header."""
NAMED_CELL_SEPARATOR = ", "
"""Between the ``"Header: cell"`` pairs of a row under a header."""
_DIGITS = re.compile(r"\d")
HEADER_MAX_WORDS = 6
"""A header cell of a table with no marked header has at most this many words."""


@dataclass(frozen=True)
class Block:
    """One block of a document.

    Attributes:
        kind: ``HEADING``, ``PARAGRAPH`` or ``LINE``.
        text: Its text (a paragraph may hold line breaks).
    """

    kind: str
    text: str


def layout(blocks: Sequence[Block], paragraph_break: str = "\n\n") -> str:
    """The blocks as one text, laid out as the module says.

    Args:
        blocks: The blocks in document order (empty ones are left out).
        paragraph_break: Between a paragraph and the block before it (when that is no heading).

    Returns:
        The text, lines without surrounding spaces.
    """
    parts: list[str] = []
    previous: str | None = None
    for block in blocks:
        text = "\n".join(" ".join(line.split()) for line in block.text.split("\n"))
        text = "\n".join(line for line in text.split("\n") if line)
        if not text:
            continue
        if previous is not None:
            if block.kind == HEADING:
                parts.append("\n\n")
            elif block.kind == LINE or previous == HEADING:
                parts.append("\n")
            else:
                parts.append(paragraph_break)
        parts.append(text)
        previous = block.kind
    return "".join(parts)


def table_lines(rows: Sequence[Sequence[str]], header: bool) -> list[str]:
    """The lines of a table: with ``header``, each body row with its cells named by the first row's.

    Args:
        rows: The rows' cell texts (rows may differ in length).
        header: Whether the first row is a header.

    Returns:
        One line per row that has text (for a header table, per body row: the header is in every line);
        a cell under an empty header is written alone, and empty cells are left out.
    """
    cells = [[" ".join(c.split()) for c in row] for row in rows]
    if not header or len(cells) < 2 or not any(cells[0]):
        return [line for line in (CELL_SEPARATOR.join(c for c in row if c) for row in cells) if line]
    names = cells[0]
    lines = []
    for row in cells[1:]:
        pairs = []
        for k, cell in enumerate(row):
            if not cell:
                continue
            name = names[k] if k < len(names) else ""
            pairs.append(f"{name}: {cell}" if name and name != cell else cell)
        if pairs:
            lines.append(NAMED_CELL_SEPARATOR.join(pairs))
    return lines


def looks_like_header(rows: Sequence[Sequence[str]]) -> bool:
    """Whether the first row of a table with no marked header reads as one.

    True when the table has at least two rows and two columns, and the first row's cells are all
    filled, distinct, short (``HEADER_MAX_WORDS`` words), without digits, and none of them recurs
    in its own column below (a list of names or numbers is no header).
    """
    if len(rows) < 2 or len(rows[0]) < 2:
        return False
    first = [" ".join(c.split()) for c in rows[0]]
    if not all(first) or len(set(first)) < len(first):
        return False
    if any(len(c.split()) > HEADER_MAX_WORDS or _DIGITS.search(c) for c in first):
        return False
    for k, name in enumerate(first):
        if any(k < len(row) and " ".join(row[k].split()) == name for row in rows[1:]):
            return False
    return True
