"""Unit tests of the chat formatting (qa/web/render.py), without a browser or a model (the chat's plumbing: tests/web/test_chat.py).

Answers, citations and passages are built by hand; the rendered Markdown/HTML is
also run through a CommonMark renderer (markdown-it, HTML blocks enabled, like
the chat's Markdown renderer) and parsed, to check which elements a browser
would really create from it.
"""

from __future__ import annotations

import dataclasses
import html
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qa
from qa.web import render as ui
from qa.types import Answer, Citation, Passage

# --------------------------------------------------------------------------------------------
# helpers


def render_markdown(text: str) -> str:
    """Render chat text as CommonMark with raw HTML allowed (what the chat bubble does)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).render(text)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> tuple[list[tuple[str, list[tuple[str, str | None]]]], str]:
    """The elements (tag, attributes) and the visible text of an HTML fragment."""
    collector = _Collector()
    collector.feed(markup)
    collector.close()
    return collector.tags, "".join(collector.text)


def browser_view(chat_text: str) -> tuple[set[str], set[str], str]:
    """Tags, attribute names and visible text after Markdown rendering."""
    tags, text = parse(render_markdown(chat_text))
    return {t for t, _ in tags}, {name for _, attrs in tags for name, _ in attrs}, text


SAFE_TAGS = {"p", "div", "span", "strong", "blockquote", "mark", "br", "ul", "li", "table", "tr", "th", "td", "em"}

DOC = "d/pact.txt"
TITLE = "EU and Japan pact"
TEXT = (
    "Japan and the EU announced a partnership. "
    "The pact covers joint military drills and space security. "
    "Borrell then flew to Seoul. "
    "The jet flies by 2035."
)


def span(sentence: str) -> tuple[int, int]:
    start = TEXT.index(sentence)
    return start, start + len(sentence)


def passage(start: int, end: int, pid: int, doc_id: str = DOC, title: str = TITLE, text: str = TEXT) -> Passage:
    return Passage(doc_id=doc_id, passage_id=pid, text=text[start:end], start=start, end=end, score=0.5, title=title)


def citation(number: int, sentence: str, pid: int, doc_id: str = DOC, title: str = TITLE) -> Citation:
    start, end = span(sentence)
    return Citation(number, doc_id, title, sentence, start, end, 0.9, pid)


S1 = "The pact covers joint military drills and space security."
S2 = "The jet flies by 2035."
P0 = passage(0, span("Borrell then flew to Seoul.")[1], 0)  # sentences 1-3
P1 = passage(span("Borrell then flew to Seoul.")[0], len(TEXT), 1)  # sentences 3-4


def answer_two_citations() -> Answer:
    c1, c2 = citation(1, S1, 0), citation(2, S2, 1)
    return Answer("What is in the pact?", f"{S1} {S2}", False, 0.83, [c1, c2], [P0, P1])


HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_LINK = '<a href="javascript:alert(1)">click</a>'
HOSTILE_MD = "[click](javascript:alert(1)) ![x](http://evil.example/x.png) **bold** _em_ `code` $x^2$ ~~s~~ | a | b | \\*"
HOSTILE_TEXT = f"Zorblax {HOSTILE_SCRIPT} powers {HOSTILE_IMG} the lamp. See {HOSTILE_LINK} now.\n# Not a heading\n- not a list {HOSTILE_MD}"
HOSTILE_TITLE = '<b onmouseover="alert(1)">Evil</b> <img src=x onerror=alert(1)> & [t](javascript:x)'


# --------------------------------------------------------------------------------------------
# answers, markers and sources


def test_answer_shows_sentences_with_numbered_markers_in_order() -> None:
    out = ui.format_answer(answer_two_citations())
    tags, attrs, text = browser_view(out)
    answer_line = text.split("Sources")[0]
    assert f"{S1} [1] {S2} [2]" in " ".join(answer_line.split())
    assert out.index(S1) < out.index("[1]") < out.index(S2) < out.index("[2]")
    assert "confidence 0.83" in text
    assert ui.NO_ANSWER not in text and ui.RELATED_HEADING not in text
    assert tags <= SAFE_TAGS and attrs <= {"class"}


def test_each_source_shows_its_title_and_passage_with_the_quote_marked() -> None:
    out = ui.format_answer(answer_two_citations())
    sources = out[out.index('class="qa-sources"') :]
    assert sources.count('<div class="qa-source">') == 2
    assert sources.count(f'<strong class="qa-title">{TITLE}</strong>') == 2
    # [1] is in passage 0 (which starts at offset 0), [2] in passage 1 (which does not)
    first, second = sources.split('<div class="qa-source">')[1:]
    assert first.startswith('<div class="qa-source-head"><span class="qa-marker">[1]</span>')
    assert f"announced a partnership. <mark>{S1}</mark> Borrell then flew to Seoul.</blockquote>" in first
    assert second.startswith('<div class="qa-source-head"><span class="qa-marker">[2]</span>')
    assert f"Borrell then flew to Seoul. <mark>{S2}</mark></blockquote>" in second
    assert out.count("<mark>") == 2


def test_highlight_follows_the_offsets_not_the_first_match() -> None:
    text = "Yes. No. Yes."
    p = Passage("r.txt", 4, text[5:], 5, len(text), 0.1, "R")  # passage starts mid-document
    c = Citation(1, "r.txt", "R", "Yes.", 9, 13, 0.9, 4)  # the second "Yes."
    assert ui.highlight_passage(p, c) == "No. <mark>Yes.</mark>"
    c_first = Citation(1, "r.txt", "R", "No.", 5, 8, 0.9, 4)
    assert ui.highlight_passage(p, c_first) == "<mark>No.</mark> Yes."


def test_highlight_escapes_each_piece_separately() -> None:
    text = "a<b & c. <i>x</i> *y*. tail"
    quote = "<i>x</i> *y*."
    start = text.index(quote)
    p = Passage("h.txt", 0, text, 0, len(text), 0.1, "H")
    c = Citation(1, "h.txt", "H", quote, start, start + len(quote), 0.9, 0)
    out = ui.highlight_passage(p, c)
    assert out == "a&lt;b &amp; c. <mark>&lt;i&gt;x&lt;/i&gt; &#42;y&#42;.</mark> tail"


@pytest.mark.parametrize(
    ("start", "end", "quote"),
    [
        (0, 4, "Yes."),  # before the passage
        (9, 40, "Yes."),  # past its end
        (9, 13, "Nope"),  # offsets do not point at the quote
    ],
)
def test_highlight_falls_back_to_the_quote_when_offsets_do_not_fit(start: int, end: int, quote: str) -> None:
    text = "Yes. No. Yes."
    p = Passage("r.txt", 4, text[5:], 5, len(text), 0.1, "R")
    c = Citation(1, "r.txt", "R", quote, start, end, 0.9, 4)
    assert ui.highlight_passage(p, c) == f"<mark>{quote}</mark>"


def test_passage_for_matches_id_document_and_span() -> None:
    c = citation(1, S1, 0)
    assert ui.passage_for(c, [P1, P0]) is P0
    assert ui.passage_for(c, [P1]) is None  # wrong passage id
    other_doc = passage(0, P0.end, 0, doc_id="other.txt")
    assert ui.passage_for(c, [other_doc]) is None  # same id, other document
    too_short = passage(0, 10, 0)
    assert ui.passage_for(c, [too_short]) is None  # does not contain the span


def test_citation_without_its_passage_still_shows_the_marked_quote() -> None:
    c = citation(1, S1, 7)
    out = ui.format_answer(Answer("q", S1, False, 0.7, [c], [P1]))
    assert f'<blockquote class="qa-passage"><mark>{S1}</mark></blockquote>' in out


def test_title_falls_back_to_doc_id() -> None:
    c = Citation(1, "notes/a.txt", "  ", "The jet flies by 2035.", *span(S2), 0.9, 1)
    out = ui.format_sources(Answer("q", S2, False, 0.7, [c], [passage(P1.start, P1.end, 1, doc_id="notes/a.txt")]))
    assert '<strong class="qa-title">notes/a.txt</strong>' in out


# --------------------------------------------------------------------------------------------
# abstention


def test_abstention_says_so_and_lists_related_passages() -> None:
    related = [passage(0, 42, 0), passage(42, 100, 1), passage(100, 128, 2), passage(128, len(TEXT), 3)]
    ans = Answer("What is the population of Japan?", "", True, 0.12, [], related)
    out = ui.format_answer(ans)
    tags, _, text = browser_view(out)
    assert text.startswith(ui.NO_ANSWER)
    assert ui.NO_ANSWER == "The documents do not answer this question."
    assert ui.RELATED_HEADING in text and ui.RELATED_HEADING == "Related passages (not an answer)"
    assert out.index(ui.NO_ANSWER) < out.index(ui.RELATED_HEADING)
    assert out.count('class="qa-source qa-related-item"') == ui.MAX_RELATED == 3
    for p in related[:3]:
        assert html.escape(p.text) in out
    assert related[3].text not in out
    assert "mark" not in tags and "[1]" not in text and "Sources" not in text
    assert ui.format_answer(ans, max_related=1).count("qa-related-item") == 1


def test_abstention_without_passages_has_no_related_heading() -> None:
    out = ui.format_answer(Answer("q", "", True, 0.0, [], []))
    assert ui.NO_ANSWER in out and ui.RELATED_HEADING not in out


def test_answer_without_citations_is_shown_as_an_abstention() -> None:
    out = ui.format_answer(Answer("q", "something", False, 0.9, [], [P0]))
    assert ui.NO_ANSWER in out and ui.RELATED_HEADING in out and "something" not in out


# --------------------------------------------------------------------------------------------
# escaping


def test_escape_text_neutralises_html_and_markdown() -> None:
    out = ui.escape_text(HOSTILE_SCRIPT + HOSTILE_IMG + HOSTILE_LINK + HOSTILE_MD)
    for ch in "<>\"'`*_[]$~|\\":
        assert ch not in out, ch
    assert html.unescape(out) == HOSTILE_SCRIPT + HOSTILE_IMG + HOSTILE_LINK + HOSTILE_MD


def test_escape_text_turns_line_breaks_into_br() -> None:
    assert ui.escape_text("a\r\nb\rc\nd") == "a<br>b<br>c<br>d"
    assert ui.escape_text("<br>") == "&lt;br&gt;"


@given(st.text())
def test_escape_text_round_trips_and_emits_no_markup(text: str) -> None:
    out = ui.escape_text(text)
    without_breaks = out.replace("<br>", "")
    assert not set(without_breaks) & set("<>\"'`*_[]$~|\\\n\r")
    assert html.unescape(out.replace("<br>", "\n")) == text.replace("\r\n", "\n").replace("\r", "\n")


def hostile_answer() -> Answer:
    quote = f"Zorblax {HOSTILE_SCRIPT} powers {HOSTILE_IMG} the lamp."
    c = Citation(1, "evil<x>.md", HOSTILE_TITLE, quote, 0, len(quote), 0.9, 0)
    p = Passage("evil<x>.md", 0, HOSTILE_TEXT, 0, len(HOSTILE_TEXT), 0.5, HOSTILE_TITLE)
    return Answer("q", quote, False, 0.9, [c], [p])


TEXT_PIECES = [HOSTILE_SCRIPT, HOSTILE_IMG, "[click](javascript:alert(1))", "**bold**", "_em_", "`code`", "$x^2$", "# Not a heading"]


@pytest.mark.parametrize(
    ("make", "visible"),
    [
        (lambda: ui.format_answer(hostile_answer()), TEXT_PIECES + [HOSTILE_TITLE]),
        (lambda: ui.format_answer(Answer("q", "", True, 0.1, [], hostile_answer().passages)), TEXT_PIECES + [HOSTILE_TITLE]),
        (lambda: ui.format_question(HOSTILE_TEXT), TEXT_PIECES),
        (lambda: ui.format_error(qa.QAError(HOSTILE_TEXT)), TEXT_PIECES),
        (
            lambda: ui.format_info({"documents": [{"doc_id": "evil<x>.md", "title": HOSTILE_TITLE}], "model": HOSTILE_SCRIPT}),
            [HOSTILE_TITLE, HOSTILE_SCRIPT],
        ),
    ],
    ids=["answer", "abstention", "question", "error", "info"],
)
def test_hostile_text_renders_as_literal_text(make: Any, visible: list[str]) -> None:
    out = make()
    tags, attrs, text = browser_view(out)
    # no element or attribute that could run code, load anything or link anywhere ...
    assert tags <= SAFE_TAGS - {"em"}, tags
    assert attrs <= {"class"}, attrs
    # ... and the hostile strings are visible, character for character
    flat = " ".join(text.split())
    for piece in visible:
        assert piece in flat, piece


def test_hostile_answer_keeps_markers_and_highlight() -> None:
    out = ui.format_answer(hostile_answer())
    tags, _, text = browser_view(out)
    assert "mark" in tags
    assert "the lamp. [1]" in text
    assert "# Not a heading" in text and "- not a list" in text  # Markdown syntax stays literal
    assert "[click](javascript:alert(1))" in text and "**bold**" in text and "$x^2$" in text
    assert HOSTILE_TITLE in text and "evil<x>.md" in text
    marked = out[out.index("<mark>") + 6 : out.index("</mark>")]
    assert html.unescape(marked) == hostile_answer().citations[0].quote


# --------------------------------------------------------------------------------------------
# errors, notices, question, info panel


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - we want the exception with its traceback
        return caught


def test_empty_question_notice() -> None:
    assert ui.format_empty_question() == f'<p class="qa-notice">{ui.EMPTY_QUESTION}</p>'
    assert ui.format_error(ValueError("question is empty: ask a question with at least one word")) == ui.format_empty_question()


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError("top_k must be greater than 0."), "That question could not be used: top_k must be greater than 0."),
        (qa.IndexNotFoundError("no index in ./idx; run `qa index` first"), "The question could not be answered: no index in ./idx; run `qa index` first"),
        (RuntimeError("secret /home/me/.key leaked"), "Something went wrong while answering (RuntimeError). Please try again."),
        (KeyError("x"), "Something went wrong while answering (KeyError). Please try again."),
    ],
)
def test_errors_are_one_friendly_line_without_traceback(exc: BaseException, expected: str) -> None:
    err = _raised(exc)
    assert err.__traceback__ is not None
    assert ui.error_message(err) == expected
    out = ui.format_error(err)
    tags, _, text = browser_view(out)
    assert text.strip() == expected
    assert tags == {"p"} and 'class="qa-notice qa-error"' in out
    assert "Traceback" not in out and "File " not in out and "secret" not in out


def test_question_is_escaped_and_stripped() -> None:
    assert ui.format_question("  <b>hi</b> *x*?  ") == '<p class="qa-question">&lt;b&gt;hi&lt;/b&gt; &#42;x&#42;?</p>'


INFO = {
    "path": "/tmp/idx",
    "documents": [{"doc_id": "a.txt", "title": "First <doc>"}, {"doc_id": "b.txt", "title": ""}],
    "passages": 12,
    "sentences": 40,
    "model": "sentence-transformers/all-MiniLM-L6-v2",
    "dimension": 384,
    "index": "flat",
    "built_at": "2024-11-01T09:30:00+00:00",
}


def test_info_panel_lists_titles_counts_model_and_build_time() -> None:
    out = ui.format_info(INFO)
    tags, _, text = browser_view(out)
    assert "<li>First &lt;doc&gt;</li><li>b.txt</li>" in out
    rows = dict(
        (row.split("</th><td>")[0], row.split("</th><td>")[1].split("</td>")[0])
        for row in out.split("<tr><th>")[1:]
    )
    assert rows == {
        "Documents": "2",
        "Passages": "12",
        "Sentences": "40",
        "Model": "sentence-transformers/all-MiniLM-L6-v2",
        "Index": "flat, 384 dimensions",
        "Built": "2024-11-01 09:30 UTC",
    }
    assert tags <= SAFE_TAGS


def test_info_panel_copes_with_missing_fields() -> None:
    out = ui.format_info({"documents": [], "built_at": "not a date"})
    assert "<li><em>none</em></li>" in out
    assert "<td>not a date</td>" in out and "<td>?</td>" in out


# --------------------------------------------------------------------------------------------
# documents panel: page labels, document list, upload/remove reports, errors (qa/web/render.py)


def paged_citation(number: int, sentence: str, pid: int, page: int | None) -> Citation:
    """A citation on a PDF page (``Citation.page``)."""
    return dataclasses.replace(citation(number, sentence, pid), page=page)


def test_document_entry_shows_the_page_count_of_pdfs() -> None:
    assert ui.format_document({"doc_id": "r.pdf", "title": "R", "pages": 3}).endswith('<span class="qa-pages">3 pages</span></div>')
    assert "1 page<" in ui.format_document({"doc_id": "r.pdf", "title": "R", "pages": 1})
    for pages in (None, 0, True, "3"):
        assert "qa-pages" not in ui.format_document({"doc_id": "r.txt", "title": "R", "pages": pages})


@pytest.mark.parametrize(("page", "label"), [(1, "p. 1"), (3, "p. 3"), (None, ""), (0, ""), (-2, ""), (True, ""), ("3", "")])
def test_format_page(page: Any, label: str) -> None:
    assert ui.format_page(page) == label


def test_sources_show_the_page_of_pdf_citations_only() -> None:
    c1, c2 = paged_citation(1, S1, 0, 2), paged_citation(2, S2, 1, None)
    out = ui.format_sources(Answer("q", f"{S1} {S2}", False, 0.8, [c1, c2], [P0, P1]))
    first, second = out.split('<div class="qa-source">')[1:]
    assert '<span class="qa-page">p. 2</span> <a class="qa-open-page" href="#qa-page=%7B%22doc_id%22' in first  # the page control
    assert "qa-page" not in second and "p. " not in second and "qa-open-page" not in second
    tags, _, text = browser_view(out)
    assert tags <= SAFE_TAGS | {"a"} and f"{TITLE} {DOC} p. 2 page" in text


def test_document_entry_escapes_title_and_doc_id_and_falls_back_to_doc_id() -> None:
    hostile = {"doc_id": "../<img src=x onerror=alert(1)>.pdf", "title": HOSTILE_TITLE}
    out = ui.format_document(hostile)
    tags, attrs, text = browser_view(out)
    assert tags <= SAFE_TAGS and attrs == {"class"}
    assert html.unescape(text) == f"{HOSTILE_TITLE} {hostile['doc_id']}"
    assert ui.format_document({"doc_id": "a.txt", "title": "  "}) == (
        '<div class="qa-doc"><strong class="qa-title">a.txt</strong> <span class="qa-docid">a.txt</span></div>'
    )
    assert ">untitled<" in ui.format_document({"doc_id": "", "title": ""})


def test_document_list_and_empty_list() -> None:
    out = ui.format_documents(INFO["documents"])
    assert out.count("<li>") == 2 and "First &lt;doc&gt;" in out
    assert "No documents are indexed." in ui.format_documents([])


def test_uploads_off_notice_names_the_host_and_the_flag() -> None:
    out = ui.format_uploads_off("0.0.0.0")
    _, _, text = browser_view(out)
    assert "served on 0.0.0.0" in text and "--allow-uploads" in text


def test_build_progress_names_the_files_escaped_and_at_most_five() -> None:
    out = ui.format_build_progress("Adding", ["/tmp/gradio/abc/<img src=x onerror=alert(1)>.pdf", "b.docx"])
    tags, _, text = browser_view(out)
    assert text.startswith("Adding 2 files (<img src=x onerror=alert(1)>.pdf, b.docx)\u2026") and "/tmp/gradio" not in text
    assert tags == {"p"}
    many = ui.format_build_progress("Adding", [f"f{i}.txt" for i in range(8)])
    assert "f4.txt and 3 more" in many and "f5.txt" not in many
    assert "Removing 1 document (a.txt)" in ui.format_build_progress("Removing", ["a.txt"], noun="document")


def _add_report(added: Any = (), unchanged: Any = (), skipped: Any = ()) -> Any:
    from pathlib import Path

    from qa.index.intake import AddReport

    return AddReport(Path("/tmp/idx"), tuple(added), tuple(unchanged), tuple(skipped), 1 + len(added))


def _added(doc_id: str, title: str, pages: int | None = None, replaced: bool = False) -> Any:
    from qa.index.intake import AddedDocument

    return AddedDocument(doc_id, title, pages, replaced)


def test_add_report_lists_added_and_skipped_files_with_reasons() -> None:
    from qa.documents.ingest import Skipped

    report = _add_report(
        added=[_added("report.pdf", "Annual <report>", pages=12), _added("notes.txt", "Notes", replaced=True)],
        skipped=[
            Skipped("/tmp/gradio/0f3a/scan.pdf", "no text layer \u2014 scanned image? OCR is not supported"),
            Skipped("/tmp/gradio/77aa/<img src=x onerror=alert(1)>.docx", "not a DOCX file (it is a ZIP without word/document.xml)"),
        ],
    )
    out = ui.format_add_report(report)
    tags, attrs, text = browser_view(out)
    assert tags <= SAFE_TAGS and attrs == {"class"}
    assert text.startswith("Indexed 2 documents; the chat now answers from them.")
    assert "Added (1)Annual <report> report.pdf 12 pages" in text
    assert "Replaced by the new version (1)Notes notes.txt" in text
    assert "Skipped (2)scan.pdf \u2014 no text layer \u2014 scanned image? OCR is not supported" in text
    assert "<img src=x onerror=alert(1)>.docx \u2014 not a DOCX file" in text
    assert "/tmp/gradio" not in text  # server paths are never shown
    _, _, one = browser_view(ui.format_add_report(_add_report(added=[_added("a.pdf", "A", pages=1)])))
    assert one.startswith("Indexed 1 document; the chat now answers from it.") and "A a.pdf 1 page" in one


def test_add_report_for_nothing_new() -> None:
    from qa.documents.ingest import Skipped

    _, _, text = browser_view(ui.format_add_report(_add_report(unchanged=["a.pdf"])))
    assert text.startswith("Nothing changed: these files are already indexed.") and "Already indexed, unchanged (1)a.pdf" in text
    _, _, text = browser_view(ui.format_add_report(_add_report(skipped=[Skipped("x.exe", "unsupported file type '.exe'")])))
    assert text.startswith("No document was added.") and "x.exe \u2014 unsupported file type '.exe'" in text


def test_remove_report() -> None:
    from pathlib import Path

    from qa.index.intake import RemoveReport

    _, _, text = browser_view(ui.format_remove_report(RemoveReport(Path("/tmp/idx"), ("<b>a</b>.pdf",), 1)))
    assert text.startswith("Removed 1 document; the chat no longer answers from it.") and "Removed (1)<b>a</b>.pdf" in text
    _, _, text = browser_view(ui.format_remove_report(RemoveReport(Path("/tmp/idx"), ("a.pdf", "b.txt"), 1)))
    assert text.startswith("Removed 2 documents; the chat no longer answers from them.")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (qa.IndexLockedError("index is locked by pid 7"), "Could not add the documents: another build of this index is running. Try again when it has finished. (index is locked by pid 7)"),
        (qa.IngestError("no usable documents"), "Could not add the documents: no usable documents"),
        (ValueError("too many files: 30 (at most 20)"), "Could not add the documents: too many files: 30 (at most 20)"),
        (PermissionError("/secret/index"), "Could not add the documents: a file could not be read or written (PermissionError). Please try again."),
        (RuntimeError("boom /secret"), "Could not add the documents (RuntimeError). Please try again."),
    ],
)
def test_build_errors_are_one_line_without_traceback(exc: BaseException, expected: str) -> None:
    err = _raised(exc)
    assert ui.build_error_message(err) == expected
    out = ui.format_build_error(err)
    tags, _, text = browser_view(out)
    assert tags == {"p"} and text == expected and "Traceback" not in out
    assert "remove the document" in ui.build_error_message(err, "remove the document")


def test_answer_phrase_is_emphasised_inside_the_marked_sentence() -> None:
    from qa.web import render as ui
    from qa.types import Answer, Citation, Passage, Span

    text = "Intro. The jet <b>flies</b> by 2035. End."
    start = text.index("The jet")
    end = text.index(" End.")
    cite = Citation(1, "d", "Doc", text[start:end], start, end, 0.9, 0)
    phrase = Span("d", text.index("2035"), text.index("2035") + 4, "2035")
    passage = Passage("d", 0, text, 0, len(text), 1.0, "Doc")
    out = ui.format_answer(Answer("q", cite.quote, False, 0.8, [cite], [passage], phrase))
    assert '<p class="qa-answer">The jet &lt;b&gt;flies&lt;/b&gt; by <strong class="qa-phrase">2035</strong>.' in out
    assert '<mark>The jet &lt;b&gt;flies&lt;/b&gt; by <strong class="qa-phrase">2035</strong>.</mark>' in out
    # a phrase that does not match its offsets is not emphasised (the text is still escaped)
    wrong = Span("d", phrase.start, phrase.end, "2036")
    assert "qa-phrase" not in ui.emphasise(cite.quote, "d", start, wrong)
    assert ui.emphasise("<i>", "d", 0, None) == "&lt;i&gt;"


# --------------------------------------------------------------------------------------------
# declined with an unconfirmed candidate


def candidate_answer(quote: str = S1, doc_id: str = DOC, title: str = TITLE) -> Answer:
    from qa.types import Candidate, Span

    start = TEXT.index(quote) if quote in TEXT else 0
    c = Citation(1, doc_id, title, quote, start, start + len(quote), 0.7, 0)
    phrase = Span(doc_id, start + quote.index("joint"), start + quote.index("drills") + 6, "joint military drills") if "joint" in quote else None
    return Answer("What does the pact cover?", "", True, 0.31, [], [P0, P1], None, Candidate(quote, c, phrase, 0.31))


def test_unconfirmed_says_not_confirmed_and_shows_the_closest_sentence() -> None:
    answer = candidate_answer()
    assert answer.status == "unconfirmed"
    out = ui.format_answer(answer)
    tags, _, text = browser_view(out)
    assert text.startswith(ui.NOT_CONFIRMED) and ui.NO_ANSWER not in text
    assert ui.NOT_CONFIRMED == "Not confirmed \u2014 the closest sentence in the documents:"
    assert ui.CANDIDATE_HEADING in text and "not confirmed" in ui.CANDIDATE_HEADING
    assert out.index(ui.NOT_CONFIRMED) < out.index(ui.CANDIDATE_HEADING) < out.index(ui.RELATED_HEADING)
    assert S1 in text and "[1]" in text and TITLE in text
    assert "confidence" not in text and "0.31" not in text  # nothing that reads like an answer's confidence
    assert out.startswith('<div class="qa-unconfirmed">')  # the muted block (chat.CSS)
    marked = out[out.index('<mark class="qa-unconfirmed-mark">') :]
    assert '<strong class="qa-phrase">joint military drills</strong>' in marked
    assert "Sources" not in text  # never presented as an answer


def test_unconfirmed_candidate_is_escaped() -> None:
    quote = f"Zorblax {HOSTILE_SCRIPT} powers {HOSTILE_IMG} the lamp."
    out = ui.format_answer(candidate_answer(quote, "evil<x>.md", HOSTILE_TITLE))
    tags, attrs, text = browser_view(out)
    assert tags <= SAFE_TAGS - {"em"}, tags
    assert attrs <= {"class"}, attrs
    flat = " ".join(text.split())
    assert quote in flat and HOSTILE_TITLE in flat
