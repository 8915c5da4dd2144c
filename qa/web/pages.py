"""The chat's page viewer: a "page" control on each PDF, scan or image citation opens the page, the quote boxed.

Each such citation in a reply carries a small link (:func:`page_link`) whose address
(``#qa-page=...``, a fragment: nothing is fetched by following it) holds what to show: the document, the page, the quote's characters and the phrase's.  A
click is caught by a script of the page (:data:`PAGE_JS`), which hands that request to a
hidden textbox and presses a hidden button; the server renders the page then, not for every
answer (:func:`open_page`, through :meth:`qa.QA.page`, which keeps the last pages shown), in
the answers' concurrency group.  Only documents and pages of the index are shown: the request
names a ``doc_id``, never a path.
"""

from __future__ import annotations

import html
import io
import json
import logging
from typing import Any
from urllib.parse import quote

import qa
from qa.types import Citation, Span

logger = logging.getLogger(__name__)

CSS = """
#chat a.qa-open-page { margin-left: 0.4em; font-size: 0.85em; cursor: pointer; }
#page-request, #page-open { display: none !important; }
#page-caption .qa-error { color: var(--error-text-color, #b91c1c); }
"""

PAGE_JS = """
() => {
  if (window.__qaPages) return;
  window.__qaPages = true;
  const PREFIX = "#qa-page=";
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-open-page");
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const box = document.querySelector("#page-request textarea, #page-request input");
    const button = document.querySelector("#page-open");
    if (!box || !button) return;
    const href = link.getAttribute("href") || "";
    const at = href.indexOf(PREFIX);
    box.value = at < 0 ? "" : decodeURIComponent(href.slice(at + PREFIX.length));
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => button.click(), 50);
  }, true);
}
"""
"""Sends a click on a page link to the hidden request box and button (event delegation: replies come and go)."""

PREFIX = "#qa-page="
"""How a page link's address starts (the chat's sanitiser keeps an ``href``, not ``data-`` attributes)."""
EMPTY_CAPTION = "Click <strong>page</strong> beside a PDF or scan source to see the quoted sentence on its page."


def page_link(citation: Citation, phrase: Span | None = None) -> str:
    """The "page" control of a citation with a page (``""`` for documents without pages).

    Args:
        citation: The citation.
        phrase: The answer phrase, marked more strongly when it lies inside the citation.
    """
    if citation.page is None:
        return ""
    request = {"doc_id": citation.doc_id, "page": citation.page, "start": citation.start, "end": citation.end}
    if phrase is not None and phrase.doc_id == citation.doc_id and citation.start <= phrase.start < phrase.end <= citation.end:
        request["phrase"] = [phrase.start, phrase.end]
    data = html.escape(PREFIX + quote(json.dumps(request, ensure_ascii=True, separators=(",", ":")), safe=""), quote=True)
    return f' <a class="qa-open-page" href="{data}" title="see the quote on its page">page</a>'


def parse_request(raw: Any) -> dict[str, Any]:
    """The page request of a link, checked.

    Raises:
        ValueError: Not a request :func:`page_link` makes.
    """
    try:
        request = json.loads(raw) if isinstance(raw, str) and len(raw) < 10_000 else None
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("doc_id"), str):
        raise ValueError("not a page request: click a page link beside a source")
    numbers = [request.get(k) for k in ("page", "start", "end")] + list(request.get("phrase") or [])
    if any(isinstance(n, bool) or not isinstance(n, int) for n in numbers) or len(request.get("phrase") or []) not in (0, 2):
        raise ValueError("not a page request: click a page link beside a source")
    return request


def open_page(bot: qa.QA, raw: Any) -> tuple[Any, str]:
    """Render the page a link asks for: the image (PIL) and its caption; a failure is a caption, never a traceback."""
    from PIL import Image

    try:
        request = parse_request(raw)
        phrase = tuple(request["phrase"]) if request.get("phrase") else None
        view = bot.page(request["doc_id"], request["page"], start=request["start"], end=request["end"], phrase=phrase)  # type: ignore[arg-type]
    except (ValueError, qa.QAError) as exc:
        logger.info("page not shown: %s", exc)
        return None, f'<span class="qa-error">The page cannot be shown: {html.escape(str(exc))}</span>'
    except Exception:  # noqa: BLE001 - logged with its traceback for the operator; the reader sees one line
        logger.exception("showing a page failed")
        return None, '<span class="qa-error">The page cannot be shown (the error is in the server log).</span>'
    how = "the words OCR read" + (f" on the page straightened by {view.deskew:.1f}°" if view.deskew else "") if view.read_by == "ocr" else "the PDF's text layer"
    caption = (
        f"<strong>{html.escape(view.doc_id)}</strong>, page {view.page}: the quoted sentence is highlighted "
        f"({len(view.boxes)} line{'s' if len(view.boxes) != 1 else ''}; boxes from {how})."
    )
    return Image.open(io.BytesIO(view.png)), caption
