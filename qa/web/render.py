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
from typing import TYPE_CHECKING, Any

from qa.types import Answer, Citation, Passage, Span
from qa.web.pages import page_link

if TYPE_CHECKING:
    from qa.documents.ingest import Skipped
    from qa.index.intake import AddReport, RemoveReport

NO_ANSWER = "The documents do not answer this question."
"""Shown instead of an answer when the engine abstains and found nothing it could propose."""
NOT_CONFIRMED = "Not confirmed \u2014 the closest sentence in the documents:"
"""Shown instead of an answer when the status is unconfirmed, above the closest sentence."""
CANDIDATE_HEADING = "Closest sentence (not confirmed, not an answer: check it before relying on it)"
"""Heading of the unconfirmed sentence's source shown under :data:`NOT_CONFIRMED`."""
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


def emphasise(text: str, doc_id: str, start: int, phrase: Span | None) -> str:
    """Escape ``text`` (document ``doc_id`` from offset ``start``), the answer phrase in ``<strong class="qa-phrase">``.

    The phrase is placed by offsets and only when it lies wholly inside ``text``
    and matches it there; otherwise the text is escaped as it is.
    """
    if phrase is None or phrase.doc_id != doc_id:
        return escape_text(text)
    lo, hi = phrase.start - start, phrase.end - start
    if not 0 <= lo < hi <= len(text) or text[lo:hi] != phrase.text:
        return escape_text(text)
    return f'{escape_text(text[:lo])}<strong class="qa-phrase">{escape_text(text[lo:hi])}</strong>{escape_text(text[hi:])}'


def format_marked_answer(citations: Sequence[Citation], phrase: Span | None = None) -> str:
    """Render the answer sentences, each followed by its citation marker.

    Args:
        citations: The answer's citations (one per sentence, in answer order).
        phrase: The answer phrase, emphasised inside its sentence.

    Returns:
        ``sentence [1] sentence [2]`` with every sentence escaped.
    """
    return " ".join(
        f'{emphasise(c.quote, c.doc_id, c.start, phrase)} <span class="qa-marker">[{int(c.number)}]</span>' for c in citations
    )


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


def highlight_passage(passage: Passage, citation: Citation, phrase: Span | None = None) -> str:
    """Render a passage with the cited sentence wrapped in ``<mark>``.

    The highlight is computed from offsets: the passage text is split at
    ``citation.start - passage.start`` and ``citation.end - passage.start`` and
    each of the three pieces is escaped separately.

    Args:
        passage: The passage the citation lies in.
        citation: The citation to highlight.
        phrase: The answer phrase, emphasised inside the mark.

    Returns:
        Escaped passage text with one ``<mark>`` element.  When the offsets do
        not fit the passage (or do not point at the quote), the escaped quote
        alone is returned, highlighted.
    """
    lo = citation.start - passage.start
    hi = citation.end - passage.start
    text = passage.text
    marked = emphasise(citation.quote, citation.doc_id, citation.start, phrase)
    if passage.doc_id != citation.doc_id or not 0 <= lo <= hi <= len(text) or text[lo:hi] != citation.quote:
        return f"<mark>{marked}</mark>"
    return f"{escape_text(text[:lo])}<mark>{marked}</mark>{escape_text(text[hi:])}"


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
        body = (
            highlight_passage(passage, c, answer.phrase) if passage is not None
            else f"<mark>{emphasise(c.quote, c.doc_id, c.start, answer.phrase)}</mark>"
        )
        items.append(
            '<div class="qa-source">'
            f'<div class="qa-source-head"><span class="qa-marker">[{int(c.number)}]</span> {_source_title(c.title, c.doc_id)}{_page_label(c, answer.phrase)}</div>'
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


def format_candidate(answer: Answer) -> str:
    """Render the closest sentence of an unconfirmed answer: quoted (phrase emphasised) with its source, and no
    confidence (a number would read like an answer's).

    Args:
        answer: An answer whose status is unconfirmed.

    Returns:
        A single-line HTML block headed :data:`CANDIDATE_HEADING` (empty string without a candidate).
    """
    cand = answer.candidate
    if cand is None:
        return ""
    c = cand.citation
    quote = emphasise(c.quote, c.doc_id, c.start, cand.phrase)
    return (
        '<div class="qa-sources qa-candidate"><div class="qa-sources-head">'
        f'<span class="qa-meta">{CANDIDATE_HEADING}</span></div>'
        f'<div class="qa-source"><div class="qa-source-head"><span class="qa-marker">[{int(c.number)}]</span> '
        f'{_source_title(c.title, c.doc_id)}{_page_label(c, cand.phrase)}</div>'
        f'<blockquote class="qa-passage"><mark class="qa-unconfirmed-mark">{quote}</mark></blockquote></div></div>'
    )


def format_answer(answer: Answer, max_related: int = MAX_RELATED) -> str:
    """Render a full chat reply: the answer with markers and its sources, or an abstention.

    Args:
        answer: The engine's answer.
        max_related: Most related passages listed under an abstention.

    Returns:
        Chat Markdown/HTML.  For an answer: the sentences with ``[n]`` markers,
        then the sources block.  Unconfirmed (see :attr:`qa.Answer.status`): :data:`NOT_CONFIRMED`,
        the closest sentence in a muted block and the related passages; declined: :data:`NO_ANSWER`,
        then the related passages (not an answer).
    """
    if answer.abstained and answer.candidate is not None:
        blocks = [f'<div class="qa-unconfirmed"><p class="qa-abstain qa-unconfirmed-label">{NOT_CONFIRMED}</p>'
                  f'{format_candidate(answer)}</div>', format_related(answer.passages, max_related)]
    elif answer.abstained or not answer.citations:
        blocks = [f'<p class="qa-abstain">{NO_ANSWER}</p>', format_related(answer.passages, max_related)]
    else:
        blocks = [f'<p class="qa-answer">{format_marked_answer(answer.citations, answer.phrase)}</p>', format_sources(answer)]
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


# --------------------------------------------------------------------------------------------
# the documents panel (uploads and removals in the web chat)

UPLOADS_OFF = (
    "Uploads are off: the chat is served on {host}, not on the loopback interface. "
    "Start app.py with --allow-uploads to let readers add and remove documents."
)
"""Shown in the documents panel when uploads are disabled (formatted with the bound host)."""
NO_FILES = "Choose one or more files first (.pdf, .docx, .txt, .md, .html, .png, .jpg, .tif)."
"""Shown when "Add to index" is clicked with no file chosen."""


def format_page(page: int | None) -> str:
    """The page label of a citation: ``"p. 3"``, or ``""`` when the source has no pages.

    Args:
        page: A 1-based page number (PDF sources), or None.

    Returns:
        ``"p. N"`` for a positive integer page, else the empty string.
    """
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        return ""
    return f"p. {page}"


def _page_label(citation: Citation, phrase: Span | None = None) -> str:
    label = format_page(citation.page)
    return f' <span class="qa-page">{label}</span>{page_link(citation, phrase)}' if label else ""


def _doc_field(doc: Any, name: str) -> str:
    value = doc.get(name) if isinstance(doc, Mapping) else getattr(doc, name, None)
    return "" if value is None else str(value)


def format_document(doc: Mapping[str, Any] | Any) -> str:
    """Render one entry of the documents panel: its title (else its ``doc_id``) and its ``doc_id``.

    Args:
        doc: A ``{"doc_id": ..., "title": ..., "pages": ...}`` mapping (an entry of
            ``bot.info["documents"]``; ``pages`` optional) or an object with those attributes.

    Returns:
        A single-line HTML block with every piece of text escaped.
    """
    doc_id = _doc_field(doc, "doc_id")
    title = _doc_field(doc, "title").strip() or doc_id or "untitled"
    pages = doc.get("pages") if isinstance(doc, Mapping) else getattr(doc, "pages", None)
    count = ""
    if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0:
        count = f' <span class="qa-pages">{pages} page{"s" if pages != 1 else ""}</span>'
    return (
        f'<div class="qa-doc"><strong class="qa-title">{escape_text(title)}</strong> '
        f'<span class="qa-docid">{escape_text(doc_id)}</span>{count}</div>'
    )


def format_documents(docs: Sequence[Mapping[str, Any] | Any]) -> str:
    """Render the whole documents list (used where no remove buttons are shown).

    Args:
        docs: The indexed documents, as for :func:`format_document`.

    Returns:
        A single-line HTML list, or a "no documents" line when ``docs`` is empty.
    """
    if not docs:
        return '<p class="qa-notice qa-docs-empty">No documents are indexed.</p>'
    return '<ul class="qa-docs">' + "".join(f"<li>{format_document(d)}</li>" for d in docs) + "</ul>"


def format_uploads_off(host: str) -> str:
    """The notice shown instead of the upload and remove controls when uploads are disabled.

    Args:
        host: The address the server is bound to.

    Returns:
        One escaped paragraph naming the address and the ``--allow-uploads`` flag.
    """
    return f'<p class="qa-notice qa-uploads-off">{escape_text(UPLOADS_OFF.format(host=host))}</p>'


def _file_name(path: Any) -> str:
    """The last component of a path as given (never the server's temporary folders)."""
    text = str(path).replace("\\", "/").rstrip("/")
    return text.rsplit("/", 1)[-1] or text


def format_build_progress(action: str, names: Sequence[str], noun: str = "file") -> str:
    """The status line shown while a build runs.

    Args:
        action: What is being done, e.g. ``"Adding"`` or ``"Removing"``.
        names: The file names or document ids involved (shown escaped, at most five).
        noun: What ``names`` are, singular (``"file"``, ``"document"``).

    Returns:
        One paragraph, e.g. ``Adding 2 files (a.pdf, b.docx)\u2026``.
    """
    shown = [_file_name(n) for n in names]
    listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
    count = f"{len(shown)} {escape_text(noun)}{'s' if len(shown) != 1 else ''}"
    return (
        f'<p class="qa-notice qa-progress">{escape_text(action)} {count} ({escape_text(listed)})\u2026 '
        "the index is being rebuilt; questions are still answered from the current documents.</p>"
    )


def format_ocr_progress(names: Sequence[str], file_name: str, message: str) -> str:
    """:func:`format_build_progress` for ``Adding`` ``names``, saying which scanned page is read:
    ``Adding 1 file (scan.pdf)\u2026 scan.pdf: reading page 3 of 40 with OCR; the index is being rebuilt; ...``."""
    line = format_build_progress("Adding", names)
    return line.replace("\u2026 ", f"\u2026 {escape_text(_file_name(file_name))}: {escape_text(message)}; ", 1)


def _report_list(css: str, heading: str, entries: Sequence[str]) -> str:
    """A headed list of already-escaped entries (empty string when there are none)."""
    if not entries:
        return ""
    rows = "".join(f"<li>{e}</li>" for e in entries)
    return f'<div class="qa-report-{css}"><strong>{heading} ({len(entries)})</strong><ul>{rows}</ul></div>'


def _doc_id_entry(doc_id: str) -> str:
    return f'<span class="qa-docid">{escape_text(doc_id)}</span>'


def format_skipped(skipped: Sequence[Skipped]) -> str:
    """Render skipped files with their reasons.

    Only a file's name is shown, never the folder it was uploaded to.

    Args:
        skipped: The files passed over (:class:`qa.documents.ingest.Skipped`: ``path`` and ``reason``).

    Returns:
        A single-line HTML block ``Skipped (n)`` listing ``file \u2014 reason`` (empty string when none).
    """
    entries = [
        f'<span class="qa-file">{escape_text(_file_name(s.path))}</span> \u2014 <span class="qa-reason">{escape_text(s.reason)}</span>'
        for s in skipped
    ]
    return _report_list("skipped", "Skipped", entries)


def format_add_report(report: AddReport) -> str:
    """Render what an upload did: documents added, replaced, already indexed, files skipped with reasons.

    Args:
        report: The report of :func:`qa.add_documents`.

    Returns:
        A single-line HTML block; its first line says how many documents were indexed.
    """
    new = [format_document(d) for d in report.added if not d.replaced]
    replaced = [format_document(d) for d in report.added if d.replaced]
    if report.added:
        n = len(report.added)
        summary = f"Indexed {n} document{'s' if n != 1 else ''}; the chat now answers from {'it' if n == 1 else 'them'}."
    elif report.unchanged and not report.skipped:
        summary = "Nothing changed: these files are already indexed."
    else:
        summary = "No document was added."
    blocks = [
        f'<p class="qa-report-summary">{summary}</p>',
        _report_list("added", "Added", new),
        _report_list("replaced", "Replaced by the new version", replaced),
        _report_list("unchanged", "Already indexed, unchanged", [_doc_id_entry(d) for d in report.unchanged]),
        format_skipped(report.skipped),
    ]
    return '<div class="qa-report">' + "".join(blocks) + "</div>"


def format_remove_report(report: RemoveReport) -> str:
    """Render what a removal did.

    Args:
        report: The report of :func:`qa.remove_documents`.

    Returns:
        A single-line HTML block naming the removed documents.
    """
    n = len(report.removed)
    if n:
        summary = f"Removed {n} document{'s' if n != 1 else ''}; the chat no longer answers from {'it' if n == 1 else 'them'}."
    else:
        summary = "No document was removed."
    blocks = [
        f'<p class="qa-report-summary">{summary}</p>',
        _report_list("removed", "Removed", [_doc_id_entry(d) for d in report.removed]),
    ]
    return '<div class="qa-report">' + "".join(blocks) + "</div>"


def build_error_message(error: BaseException, action: str = "add the documents") -> str:
    """The plain-text message for a failed upload or removal; never a traceback.

    Args:
        error: The exception raised by :func:`qa.add_documents`, :func:`qa.remove_documents`
            or :meth:`qa.QA.reload`.
        action: What was attempted, completing "Could not ...".

    Returns:
        One line of plain text (not escaped): the message of a ``QAError`` or
        ``ValueError`` (written for people), else only the exception's type.
        (A failed build leaves the index as it was: builds are swapped in atomically.)
    """
    from qa.errors import IndexLockedError, QAError

    if isinstance(error, IndexLockedError):
        return f"Could not {action}: another build of this index is running. Try again when it has finished. ({error})"
    if isinstance(error, (QAError, ValueError)):
        return f"Could not {action}: {error}"
    if isinstance(error, OSError):
        return f"Could not {action}: a file could not be read or written ({type(error).__name__}). Please try again."
    return f"Could not {action} ({type(error).__name__}). Please try again."


def format_build_error(error: BaseException, action: str = "add the documents") -> str:
    """The documents panel's status for a failed build: :func:`build_error_message`, escaped.

    Args:
        error: The exception.
        action: What was attempted.

    Returns:
        One paragraph.
    """
    return f'<p class="qa-notice qa-error">{escape_text(build_error_message(error, action))}</p>'


def format_notice(message: str) -> str:
    """Render a plain status message for the documents panel.

    Args:
        message: Plain text.

    Returns:
        One escaped paragraph.
    """
    return f'<p class="qa-notice">{escape_text(message)}</p>'
