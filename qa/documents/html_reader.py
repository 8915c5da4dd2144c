"""Read the main text of an HTML page: trafilatura finds it, and its blocks are laid out as plain text.

trafilatura drops the page's furniture (menus, footers, ads) and returns the main text as XML
blocks (headings, paragraphs, lists, tables, quotes, code), laid out by
:func:`qa.documents.layout.layout`: no list bullets or table pipes, and a table's header row
names the cells of each row.

lxml, which trafilatura parses with, stops reading at 256 nested elements.  A page nested deeper
(or one where trafilatura finds no main text) is read whole by a streaming parser
(:class:`_FlatText`, Python's :mod:`html.parser`: no depth limit), furniture included, and a
warning says why; never "no text" for a page that has text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser

from qa.documents.layout import HEADING, LINE, PARAGRAPH, Block, layout, looks_like_header, table_lines

logger = logging.getLogger(__name__)

MAX_PARSER_DEPTH = 256
"""lxml's (libxml2's) limit of nested elements, past which it reads nothing more."""
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe", "object"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_ITEMS = frozenset({"li", "dt", "dd"})
_BLOCKS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "blockquote", "pre", "ul", "ol", "dl",
    "figure", "figcaption", "form", "fieldset", "address", "details", "summary", "body", "html", "table", "caption",
    "tbody", "thead", "tfoot", "tr", "hr", *_HEADINGS, *_ITEMS,
})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


@dataclass(frozen=True)
class HtmlText:
    """What was read from an HTML page.

    Attributes:
        text: The main text, laid out (before :func:`qa.documents.ingest.clean_text`).
        title: The page's ``<title>`` (or its metadata's), else ``""``.
        whole_page: True when the page was read whole (too deeply nested, or no main text found).
    """

    text: str
    title: str
    whole_page: bool = False


def read_html(source: str, drop_line: Callable[[str], bool] | None = None) -> HtmlText:
    """Read the main text and the title of an HTML page.

    Args:
        source: The page source.
        drop_line: Tells the lines of paragraphs to leave out (truncated teasers); None keeps all.
            List items, table rows and headings are always kept.

    Returns:
        The laid-out text (``""`` when the page shows none) and the title.
    """
    import trafilatura

    meta = trafilatura.extract_metadata(source)
    title = ((meta.title or "") if meta is not None else "").strip()
    if not too_deep(source):
        xml = trafilatura.extract(
            source, output_format="xml", include_comments=False, include_tables=True, favor_recall=True,
            include_formatting=False, include_links=False, include_images=False,
        )
        text = layout(_kept(_xml_blocks(xml), drop_line)) if xml else ""
        if text.strip():
            return HtmlText(text, title)
        why = "no main text was found in it"
    else:
        why = f"its elements are nested {nesting_depth(source):,} deep, past the {MAX_PARSER_DEPTH} the HTML parser reads"
    flat = _FlatText()
    flat.feed(source)
    flat.close()
    text = layout(_kept(flat.blocks, drop_line))
    if text.strip():
        logger.warning("reading the whole page, menus and footers included: %s", why)
    return HtmlText(text, title or " ".join(flat.title.split()), whole_page=True)


def _kept(blocks: Sequence[Block], drop_line: Callable[[str], bool] | None) -> list[Block]:
    if drop_line is None:
        return list(blocks)
    kept = []
    for block in blocks:
        if block.kind == PARAGRAPH:
            block = Block(PARAGRAPH, "\n".join(line for line in block.text.split("\n") if not drop_line(" ".join(line.split()))))
        kept.append(block)
    return kept


def too_deep(source: str) -> bool:
    """Whether lxml stops reading the page for nesting past ``MAX_PARSER_DEPTH`` (it says so in its error log)."""
    import lxml.etree
    import lxml.html

    parser = lxml.html.HTMLParser(recover=True, encoding="utf-8")
    try:
        lxml.html.document_fromstring(source.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        pass
    return any("depth" in entry.message.lower() for entry in parser.error_log)


def nesting_depth(source: str) -> int:
    """How deep a page's elements nest, counted by a streaming parser (void elements and unclosed ``<p>``s aside)."""
    counter = _DepthCounter()
    counter.feed(source)
    counter.close()
    return counter.deepest


class _DepthCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002 - the signature of HTMLParser
        if tag in _VOID:
            return
        if tag in ("p", "li") and self.open and self.open[-1] == tag:  # an unclosed <p> or <li> ends at the next
            return
        self.open.append(tag)
        self.deepest = max(self.deepest, len(self.open))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass


def _text(element: object) -> str:
    """An XML element's text, its ``<lb/>`` as line breaks, nested lists left out."""
    parts = [element.text or ""]  # type: ignore[attr-defined]
    for child in element:  # type: ignore[attr-defined]
        if child.tag == "lb":
            parts.append("\n")
        elif child.tag != "list":
            parts.append(_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _xml_blocks(xml: str) -> list[Block]:
    """The blocks of trafilatura's XML output, in order."""
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    main = root.find("main")
    blocks: list[Block] = []
    stack = list(reversed(list(main))) if main is not None else []
    while stack:
        element = stack.pop()
        tag = element.tag
        if tag == "head":
            blocks.append(Block(HEADING, _text(element)))
        elif tag == "list":
            stack.extend(reversed(list(element)))
        elif tag == "item":
            blocks.append(Block(LINE, _text(element)))
            stack.extend(reversed([child for child in element if child.tag == "list"]))
        elif tag == "table":
            rows = [[" ".join(_text(cell).split()) for cell in row.iter("cell")] for row in element.iter("row")]
            marked = bool(rows) and all(cell.get("role") == "head" for cell in element.find("row").iter("cell"))
            blocks.extend(Block(LINE, line) for line in table_lines(rows, marked or looks_like_header(rows)))
        elif tag == "code":
            blocks.append(Block(LINE, _text(element)))
        elif tag != "graphic":
            blocks.append(Block(PARAGRAPH, _text(element)))
    return blocks


class _FlatText(HTMLParser):
    """The text of a whole page in blocks, read as a stream (no tree, so no depth limit)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._buffer: list[str] = []
        self._kind = PARAGRAPH
        self._skip: list[str] = []
        self._in_title = False
        self._rows: list[list[str]] | None = None
        self._header = False

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        if not text.strip():
            return
        if self._rows is not None and self._rows:
            self._rows[-1].append(" ".join(text.split()))
        else:
            self.blocks.append(Block(self._kind, text))

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002 - the signature of HTMLParser
        if self._skip:
            if tag not in _VOID:
                self._skip.append(tag)
            return
        if tag == "title":
            self._in_title = True
            return
        if tag in _SKIPPED:
            self._skip.append(tag)
            return
        if tag in _BLOCKS or tag in ("td", "th"):
            self._flush()
        if tag in _HEADINGS:
            self._kind = HEADING
        elif tag in _ITEMS or tag == "pre":
            self._kind = LINE
        elif tag == "table":
            self._rows, self._header = [], True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag == "td":
            self._header = self._header and len(self._rows or []) > 1
        if tag == "br":
            self._buffer.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in self._skip:
                while self._skip and self._skip.pop() != tag:
                    pass
            return
        if tag == "title":
            self._in_title = False
            return
        if tag in _BLOCKS or tag in ("td", "th"):
            self._flush()
            self._kind = PARAGRAPH
        if tag == "table" and self._rows is not None:
            rows = [row for row in self._rows if row]
            header = self._header or looks_like_header(rows)
            self._rows = None
            self.blocks.extend(Block(LINE, line) for line in table_lines(rows, header))

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
