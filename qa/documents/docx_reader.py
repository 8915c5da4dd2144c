"""Read Word (.docx) documents with python-docx: paragraphs, headings and tables, in document order.

The text has one line per paragraph; a blank line goes before each heading and
around each table (passages never cross a blank line, so a section's passages
stay in that section).  A table row is one line, its cells joined by ``" | "``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from qa.errors import IngestError
from qa.documents.filetype import check_zip

logger = logging.getLogger(__name__)

CELL_SEPARATOR = " | "


@dataclass(frozen=True)
class DocxText:
    """What was read from a Word document.

    Attributes:
        text: The raw text (before :func:`qa.documents.ingest.clean_text`).
        title: The core properties' title, else the first heading, else ``""``.
        paragraphs: Paragraphs and table rows read.
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


def _row_text(row: object) -> str:
    cells: list[str] = []
    previous = None
    for cell in row.cells:  # type: ignore[attr-defined]
        if previous is not None and cell._tc is previous:  # a merged cell is listed once per grid column
            continue
        previous = cell._tc
        cells.append(" ".join(cell.text.split()))
    return CELL_SEPARATOR.join(c for c in cells if c)


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
        blocks: list[str] = []
        first_heading = ""
        count = 0
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = [line for line in (_row_text(r) for r in item.rows) if line]
                if rows:
                    blocks.append("\n" + "\n".join(rows) + "\n")
                    count += len(rows)
                continue
            line = item.text.replace("\t", " ").strip()
            if not line:
                continue
            count += 1
            if _is_heading(item):
                first_heading = first_heading or " ".join(line.split())
                blocks.append("\n" + line)
            else:
                blocks.append(line)
        title = (document.core_properties.title or "").strip()
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-docx and lxml raise many types for a damaged file
        raise IngestError(f"damaged or malformed Word document ({type(exc).__name__}: {exc}); save it again from Word") from None
    text = "\n".join(blocks)
    if not text.strip():
        raise IngestError("the Word document has no text")
    return DocxText(text=text, title=" ".join(title.split()) or first_heading, paragraphs=count)
