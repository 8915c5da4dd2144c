"""Read Word (.docx) documents with python-docx: paragraphs, headings and tables, in document order.

The text is laid out by :func:`qa.documents.layout.layout`: one line per paragraph, a blank line
before each heading (passages never cross a blank line, so a section's passages stay in that
section, and the heading opens its first one), and one line per table row.  A table whose first
row is a header (marked "repeat as header row", all bold, or reading as one:
:func:`qa.documents.layout.looks_like_header`) names the cells of each row ("Team: IT desk,
Extension: 4400") and is no line of its own; other rows join their cells with ``" | "``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from qa.errors import IngestError
from qa.documents.filetype import check_zip
from qa.documents.layout import HEADING, LINE, PARAGRAPH, Block, layout, looks_like_header, table_lines

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocxText:
    """What was read from a Word document.

    Attributes:
        text: The raw text (before :func:`qa.documents.ingest.clean_text`).
        title: The core properties' title, else the first heading, else ``""``.
        paragraphs: Lines of text read (paragraphs, headings and table rows; a header row is in its rows' lines).
    """

    text: str
    title: str
    paragraphs: int


def _is_heading(paragraph: object) -> bool:
    try:
        name = paragraph.style.name or ""  # type: ignore[attr-defined]
    except (AttributeError, KeyError, ValueError):
        return False
    return name == "Title" or name.startswith("Heading")


def _row_cells(row: object) -> list[str]:
    """The row's cell texts, one per grid column (a merged cell's text in its first column only)."""
    cells: list[str] = []
    previous = None
    for cell in row.cells:  # type: ignore[attr-defined]
        cells.append("" if cell._tc is previous else " ".join(cell.text.split()))
        previous = cell._tc
    return cells


def _marked_header(row: object) -> bool:
    """Whether Word marks the row as a header: "repeat as header row", or all its text bold."""
    from docx.oxml.ns import qn

    properties = row._tr.trPr  # type: ignore[attr-defined]
    if properties is not None and properties.find(qn("w:tblHeader")) is not None:
        return True
    runs = [run for cell in row.cells for paragraph in cell.paragraphs for run in paragraph.runs if run.text.strip()]  # type: ignore[attr-defined]
    return bool(runs) and all(run.bold for run in runs)


def _table_blocks(table: object) -> list[Block]:
    rows = list(table.rows)  # type: ignore[attr-defined]
    cells = [_row_cells(r) for r in rows]
    header = len(rows) > 1 and (_marked_header(rows[0]) or looks_like_header(cells))
    return [Block(LINE, line) for line in table_lines(cells, header)]


def read_docx(path: Path) -> DocxText:
    """Read the text and title of a Word document.

    The archive is checked first (:func:`qa.documents.filetype.check_zip`), so a damaged
    file or a zip bomb is refused before anything is decompressed.

    Args:
        path: A ``.docx`` file (checked to be one by its content).

    Returns:
        The raw text, title and paragraph count.

    Raises:
        IngestError: The file is damaged, truncated, a zip bomb, not a Word document, or has no text.
    """
    check_zip(path)
    try:
        import docx
        from docx.table import Table

        document = docx.Document(str(path))
        blocks: list[Block] = []
        first_heading = ""
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks.extend(_table_blocks(item))
                continue
            line = item.text.replace("\t", " ").strip()
            if not line:
                continue
            if _is_heading(item):
                first_heading = first_heading or " ".join(line.split())
                blocks.append(Block(HEADING, line))
            else:
                blocks.append(Block(PARAGRAPH, line))
        title = (document.core_properties.title or "").strip()
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-docx and lxml raise many types for a damaged file
        raise IngestError(f"damaged or malformed Word document ({type(exc).__name__}: {exc}); save it again from Word") from None
    text = layout(blocks, paragraph_break="\n")
    if not text.strip():
        raise IngestError("the Word document has no text")
    return DocxText(text=text, title=" ".join(title.split()) or first_heading, paragraphs=sum(1 for line in text.split("\n") if line))
