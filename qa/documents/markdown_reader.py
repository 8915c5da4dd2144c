"""Read Markdown as the text it shows, with markdown-it-py (CommonMark, with GFM tables and strikethrough).

What a reader sees is kept and the markup dropped: no ``#`` before headings, no ``*``/``_``
emphasis, a link's text without its target (an autolink ``<https://...>`` keeps its address),
no images, no HTML tags or comments, a code block's code without its fences, list items without
their bullets (an ordered list keeps its numbers: "2. Fill the tank"), and a YAML front matter block read only for its ``title``.  Headings, paragraphs,
list items and table rows are laid out by :func:`qa.documents.layout.layout`: a table's header
names the cells of each row.  The title is the front matter's ``title``, else the first heading.

markdown-it stops reading blocks nested deeper than ``MAX_NESTING`` (quotes in quotes, lists in
lists); a document that deep is read line by line instead (each line's quote and list markers
dropped, its inline markup read as above), with a warning, so that no text is lost.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from dataclasses import dataclass

from qa.documents.layout import HEADING, LINE, PARAGRAPH, Block, layout, table_lines

logger = logging.getLogger(__name__)

MAX_NESTING = 100
"""Nesting of blocks markdown-it reads; past it the document is read line by line."""
_CONTAINER_MARKS = re.compile(r"^(?:[ \t]*(?:>|[-*+](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)))*[ \t]*")
_ATX = re.compile(r"^#{1,6}(?=[ \t]|$)\s*|\s+#+\s*$")

_FRONT_MATTER = re.compile(r"\A---[^\S\n]*\n(.*?)\n(?:---|\.\.\.)[^\S\n]*(?:\n|\Z)", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[^\S\n]*(.+?)[^\S\n]*$", re.MULTILINE)
_FRONT_KEY = re.compile(r"^[A-Za-z_][\w-]*:")
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_DROPPED_ELEMENT = re.compile(r"<(script|style|template)\b.*?(?:</\1\s*>|\Z)", re.DOTALL | re.IGNORECASE)
_LINE_BREAK_TAG = re.compile(r"<(?:br|/p|/div|/li|/tr|/h[1-6]|/table|/ul|/ol|/blockquote)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<![^>]*>|<\?.*?\?>", re.DOTALL)


@dataclass(frozen=True)
class MarkdownText:
    """What was read from a Markdown file.

    Attributes:
        text: The text it shows, laid out (before :func:`qa.documents.ingest.clean_text`).
        title: The front matter's title, else the first heading, else ``""``.
    """

    text: str
    title: str


@functools.lru_cache(maxsize=1)
def _parser() -> object:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable(["table", "strikethrough"])


def html_text(fragment: str) -> str:
    """The text of an HTML fragment: comments, scripts and styles dropped, tags removed, entities decoded."""
    fragment = _DROPPED_ELEMENT.sub("", _COMMENT.sub("", fragment))
    fragment = _TAG.sub("", _LINE_BREAK_TAG.sub("\n", fragment))
    return html.unescape(fragment)


def _inline(token: object) -> str:
    parts: list[str] = []
    for child in getattr(token, "children", None) or []:
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "html_inline":
            parts.append("\n" if _LINE_BREAK_TAG.fullmatch(child.content.strip()) else "")
        # images, and the markers of links, emphasis and strikethrough, show no text of their own
    return "".join(parts)


def _front_matter(source: str) -> tuple[str, str]:
    """The source without its YAML front matter (only a block of ``key: value`` lines is one), and its title."""
    match = _FRONT_MATTER.match(source)
    if match is None:
        return source, ""
    lines = [line for line in match.group(1).split("\n") if line.strip()]
    if not lines or not _FRONT_KEY.match(lines[0]):
        return source, ""
    title = _FRONT_TITLE.search(match.group(1))
    value = title.group(1).strip().strip("\"'") if title else ""
    return source[match.end() :], value


def read_markdown(source: str) -> MarkdownText:
    """Read a Markdown document as plain text.

    Args:
        source: The Markdown source.

    Returns:
        The laid-out text and the title.
    """
    body, title = _front_matter(source)
    tokens = _parser().parse(body)  # type: ignore[attr-defined]
    if any(token.level >= MAX_NESTING - 1 for token in tokens):
        logger.warning("reading the Markdown line by line: its blocks nest %d deep or more, past what the parser reads", MAX_NESTING)
        return MarkdownText(layout(_line_blocks(body)), title)
    blocks: list[Block] = []
    lists = 0
    number = ""
    rows: list[list[str]] | None = None
    header = False
    for k, token in enumerate(tokens):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists -= 1
        elif kind == "list_item_open":
            number = f"{token.info}{token.markup} " if token.info else ""
        elif kind == "table_open":
            rows, header = [], False
        elif kind == "thead_open":
            header = True
        elif kind == "tr_open" and rows is not None:
            rows.append([])
        elif kind == "table_close" and rows is not None:
            blocks.extend(Block(LINE, line) for line in table_lines(rows, header))
            rows = None
        elif kind == "inline":
            opener = tokens[k - 1].type if k else ""
            text = _inline(token)
            if opener in ("th_open", "td_open") and rows:
                rows[-1].append(" ".join(text.split()))
            elif opener == "heading_open":
                blocks.append(Block(HEADING, text))
                title = title or " ".join(text.split())
            elif lists:
                blocks.append(Block(LINE, number + text))
                number = ""
            else:
                blocks.append(Block(PARAGRAPH, text))
        elif kind in ("fence", "code_block"):
            blocks.append(Block(LINE, token.content))
        elif kind == "html_block":
            blocks.append(Block(PARAGRAPH, html_text(token.content)))
    return MarkdownText(layout(blocks), title)


def _line_blocks(body: str) -> list[Block]:
    """A Markdown document read line by line: quote and list markers and ATX heading marks dropped, inline markup read."""
    parser = _parser()
    blocks = []
    for line in body.split("\n"):
        line = _ATX.sub("", _CONTAINER_MARKS.sub("", line, count=1))
        if line.strip():
            (inline,) = [t for t in parser.parseInline(line) if t.type == "inline"] or [None]  # type: ignore[attr-defined]
            blocks.append(Block(LINE, _inline(inline) if inline is not None else line))
        else:
            blocks.append(Block(PARAGRAPH, ""))
    return _paragraphs(blocks)


def _paragraphs(blocks: list[Block]) -> list[Block]:
    """Lines grouped into paragraphs at blank lines (an empty PARAGRAPH block marks one)."""
    grouped: list[Block] = []
    current: list[str] = []
    for block in blocks + [Block(PARAGRAPH, "")]:
        if block.kind == LINE:
            current.append(block.text)
        elif current:
            grouped.append(Block(PARAGRAPH, "\n".join(current)))
            current = []
    return grouped
