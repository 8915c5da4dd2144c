"""Render answers, errors and index information as chat-ready Markdown/HTML.

Pure string functions, no Gradio import: the web app (``app.py``) shows their
output in a ``gr.Chatbot`` / ``gr.Markdown``, and the ``/chat`` API returns the
same text.

Safety rule: every piece of text that comes from a document, a title, a
``doc_id``, an exception or the user's question goes through
:func:`escape_text` before it is put into the output.  Only the fixed markup
written in this module (``<div>``, ``<mark>``, ``<strong>`` ... and the
``[n]`` markers built from integers) is emitted unescaped.

Every block of markup is emitted on a single line and blocks are separated by
blank lines, so a Markdown renderer treats each block as raw HTML and never
re-interprets document text as Markdown (lists, headings, links).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from qa.types import Answer, Citation, Passage

NO_ANSWER = "The documents do not answer this question."
"""Shown instead of an answer when the engine abstains."""
RELATED_HEADING = "Related passages (not an answer)"
"""Heading of the closest passages listed under an abstention."""
EMPTY_QUESTION = "Please type a question first \u2014 the question box was empty."
"""Shown when the question is empty or only white space."""
MAX_RELATED = 3
"""How many related passages an abstention lists by default."""

# Characters that Markdown (or KaTeX / GFM tables) would interpret.  They are
# replaced by numeric character references, which every renderer shows as the
# literal character but never parses as syntax.  ``& < > " '`` are handled by
# :func:`html.escape` first.
_MARKDOWN_ACTIVE = {
    "\\": "&#92;",
    "`": "&#96;",
    "*": "&#42;",
    "_": "&#95;",
    "[": "&#91;",
    "]": "&#93;",
    "$": "&#36;",
    "~": "&#126;",
    "|": "&#124;",
}
_MARKDOWN_TABLE = str.maketrans(_MARKDOWN_ACTIVE)


def escape_text(text: str) -> str:
    """Make arbitrary text safe to embed in chat Markdown/HTML.

    Applies :func:`html.escape` (``& < > " '``), then replaces the Markdown
    punctuation that could form links, images, emphasis, code, tables or math
    (:data:`_MARKDOWN_ACTIVE`) by numeric character references, and turns line
    breaks into ``<br>`` so the text stays on the line of its surrounding markup.

    Args:
        text: Untrusted text (document text, title, doc_id, question, error message).

    Returns:
        Text that renders literally, character for character, in HTML and Markdown.
    """
    escaped = html.escape(text, quote=True).translate(_MARKDOWN_TABLE)
    return escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def format_question(question: str) -> str:
    """Render the user's question for the user's chat bubble.

    Args:
        question: The question as typed.

    Returns:
        The escaped question in a paragraph.
    """
    return f'<p class="qa-question">{escape_text(question.strip())}</p>'


def format_marked_answer(citations: Sequence[Citation]) -> str:
    """Render the answer sentences, each followed by its citation marker.

    Args:
        citations: The answer's citations (one per sentence, in answer order).

    Returns:
        ``sentence [1] sentence [2]`` with every sentence escaped.
    """
    return " ".join(f'{escape_text(c.quote)} <span class="qa-marker">[{int(c.number)}]</span>' for c in citations)


def passage_for(citation: Citation, passages: Sequence[Passage]) -> Passage | None:
    """Find the passage a citation was taken from.

    Args:
        citation: The citation.
        passages: Candidate passages (usually ``answer.passages``).

    Returns:
        The passage with the citation's ``passage_id`` and ``doc_id`` that
        contains the cited span, or None when there is none.
    """
    for p in passages:
        if (
            p.passage_id == citation.passage_id
            and p.doc_id == citation.doc_id
            and p.start <= citation.start
            and citation.end <= p.end
        ):
            return p
    return None


def highlight_passage(passage: Passage, citation: Citation) -> str:
    """Render a passage with the cited sentence wrapped in ``<mark>``.

    The highlight is computed from offsets: the passage text is split at
    ``citation.start - passage.start`` and ``citation.end - passage.start`` and
    each of the three pieces is escaped separately.

    Args:
        passage: The passage the citation lies in.
        citation: The citation to highlight.

    Returns:
        Escaped passage text with one ``<mark>`` element.  When the offsets do
        not fit the passage (or do not point at the quote), the escaped quote
        alone is returned, highlighted.
    """
    lo = citation.start - passage.start
    hi = citation.end - passage.start
    text = passage.text
    if passage.doc_id != citation.doc_id or not 0 <= lo <= hi <= len(text) or text[lo:hi] != citation.quote:
        return f"<mark>{escape_text(citation.quote)}</mark>"
    return f"{escape_text(text[:lo])}<mark>{escape_text(text[lo:hi])}</mark>{escape_text(text[hi:])}"


def _source_title(title: str, doc_id: str) -> str:
    shown = title.strip() or doc_id
    return f'<strong class="qa-title">{escape_text(shown)}</strong> <span class="qa-docid">{escape_text(doc_id)}</span>'


def format_sources(answer: Answer) -> str:
    """Render the sources block: one entry per citation with its highlighted passage.

    Args:
        answer: A non-abstained answer.

    Returns:
        A single-line HTML block (empty string when there are no citations).
    """
    if not answer.citations:
        return ""
    items = []
    for c in answer.citations:
        passage = passage_for(c, answer.passages)
        body = highlight_passage(passage, c) if passage is not None else f"<mark>{escape_text(c.quote)}</mark>"
        items.append(
            '<div class="qa-source">'
            f'<div class="qa-source-head"><span class="qa-marker">[{int(c.number)}]</span> {_source_title(c.title, c.doc_id)}</div>'
            f'<blockquote class="qa-passage">{body}</blockquote>'
            "</div>"
        )
    head = f'<div class="qa-sources-head"><strong>Sources</strong> <span class="qa-meta">confidence {answer.confidence:.2f}</span></div>'
    return f'<div class="qa-sources">{head}{"".join(items)}</div>'


def format_related(passages: Sequence[Passage], limit: int = MAX_RELATED) -> str:
    """Render the closest passages shown under an abstention.

    Args:
        passages: The related passages, closest first.
        limit: Most passages listed.

    Returns:
        A single-line HTML block headed :data:`RELATED_HEADING` (empty string
        when there are no passages).
    """
    shown = list(passages)[: max(limit, 0)]
    if not shown:
        return ""
    items = "".join(
        f'<div class="qa-source qa-related-item"><div class="qa-source-head">{_source_title(p.title, p.doc_id)}</div>'
        f'<blockquote class="qa-passage">{escape_text(p.text)}</blockquote></div>'
        for p in shown
    )
    return f'<div class="qa-sources qa-related"><div class="qa-sources-head"><strong>{RELATED_HEADING}</strong></div>{items}</div>'


def format_answer(answer: Answer, max_related: int = MAX_RELATED) -> str:
    """Render a full chat reply: the answer with markers and its sources, or an abstention.

    Args:
        answer: The engine's answer.
        max_related: Most related passages listed under an abstention.

    Returns:
        Chat Markdown/HTML.  For an answer: the sentences with ``[n]`` markers,
        then the sources block.  For an abstention: :data:`NO_ANSWER`, then the
        related passages (not an answer).
    """
    if answer.abstained or not answer.citations:
        blocks = [f'<p class="qa-abstain">{NO_ANSWER}</p>', format_related(answer.passages, max_related)]
    else:
        blocks = [f'<p class="qa-answer">{format_marked_answer(answer.citations)}</p>', format_sources(answer)]
    return "\n\n".join(b for b in blocks if b)


def format_empty_question() -> str:
    """The friendly reply to an empty question.

    Returns:
        A one-paragraph message asking for a question.
    """
    return f'<p class="qa-notice">{EMPTY_QUESTION}</p>'


def error_message(error: BaseException) -> str:
    """The plain-text message for a failed question; never a traceback.

    ``ValueError`` (empty question, bad ``top_k``) and ``qa.QAError`` (engine
    problems) carry messages written for people and are shown; any other
    exception gets a generic message naming only its type.

    Args:
        error: The exception raised while answering.

    Returns:
        One line of plain text (not escaped).
    """
    from qa.errors import QAError

    if isinstance(error, ValueError) and "empty" in str(error):
        return EMPTY_QUESTION
    if isinstance(error, ValueError):
        return f"That question could not be used: {error}"
    if isinstance(error, QAError):
        return f"The question could not be answered: {error}"
    return f"Something went wrong while answering ({type(error).__name__}). Please try again."


def format_error(error: BaseException) -> str:
    """The friendly chat reply to a failed question; never shows a traceback.

    Args:
        error: The exception raised while answering.

    Returns:
        A one-paragraph message: :func:`format_empty_question` for an empty
        question, else :func:`error_message`, escaped.
    """
    message = error_message(error)
    if message == EMPTY_QUESTION:
        return format_empty_question()
    return f'<p class="qa-notice qa-error">{escape_text(message)}</p>'


def _format_time(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return str(value)


def format_info(info: Mapping[str, Any]) -> str:
    """Render ``bot.info`` for the side panel.

    Args:
        info: The engine's :attr:`qa.QA.info` dictionary.

    Returns:
        Markdown/HTML listing the indexed document titles, the passage count,
        the model and the build time.
    """
    docs = list(info.get("documents") or [])
    titles = "".join(
        f'<li>{escape_text(str(d.get("title") or d.get("doc_id") or "untitled"))}</li>' for d in docs
    ) or "<li><em>none</em></li>"
    rows = [
        ("Documents", str(len(docs))),
        ("Passages", str(info.get("passages", "?"))),
        ("Sentences", str(info.get("sentences", "?"))),
        ("Model", str(info.get("model", "?"))),
        ("Index", f'{info.get("index", "?")}, {info.get("dimension", "?")} dimensions'),
        ("Built", _format_time(info.get("built_at", "?"))),
    ]
    table = "".join(f"<tr><th>{escape_text(k)}</th><td>{escape_text(v)}</td></tr>" for k, v in rows)
    return (
        '<div class="qa-info"><div class="qa-info-head"><strong>What is indexed</strong></div>'
        f'<ul class="qa-info-docs">{titles}</ul><table class="qa-info-table">{table}</table></div>'
    )
