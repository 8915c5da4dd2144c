"""The chat page (qa/web/chat.py) without a browser or a model: answers as chat HTML, the /chat
endpoint's errors, the queue, the top-k slider's values, and which events exist."""

from __future__ import annotations

import html
import logging
from typing import Any

import pytest

import qa
from qa.web import chat
from qa.web import render as ui
from qa.types import Answer
from qa.web.settings import DEFAULT_TOP_K
from tests.web.test_render import INFO, P0, answer_two_citations


@pytest.mark.parametrize(("value", "expected"), [(None, 5), (1, 1), (3.0, 3), (10, 10)])
def test_as_top_k_accepts_whole_numbers(value: Any, expected: int) -> None:
    k = chat._as_top_k(value)
    assert k == expected and type(k) is int


@pytest.mark.parametrize("value", [0, 11, -1, 2.5, True, "3", float("nan"), float("inf"), [3]])
def test_as_top_k_rejects_other_values(value: Any) -> None:
    with pytest.raises(ValueError, match="top_k"):
        chat._as_top_k(value)


class FakeBot:
    """Records questions; answers from a fixed Answer or raises a given exception."""

    def __init__(self, answer: Answer | None = None, error: BaseException | None = None) -> None:
        self.answer = answer or answer_two_citations()
        self.error = error
        self.calls: list[tuple[str, Any]] = []

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        self.calls.append((question, top_k))
        if self.error is not None:
            raise self.error
        return self.answer


def test_reply_formats_the_engine_answer() -> None:
    bot = FakeBot()
    assert chat.reply(bot, "What is in the pact?", 3.0) == ui.format_answer(bot.answer)
    assert bot.calls == [("What is in the pact?", 3)] and type(bot.calls[0][1]) is int
    chat.reply(bot, "again")
    assert bot.calls[-1] == ("again", DEFAULT_TOP_K)


def test_reply_shows_abstention() -> None:
    bot = FakeBot(Answer("q", "", True, 0.1, [], [P0]))
    out = chat.reply(bot, "What is the population of Japan?")
    assert ui.NO_ANSWER in out and ui.RELATED_HEADING in out


@pytest.mark.parametrize("question", ["", "   \n\t", None, 42])
def test_reply_to_an_empty_question_does_not_ask_the_engine(question: Any) -> None:
    bot = FakeBot()
    assert chat.reply(bot, question) == ui.format_empty_question()
    assert bot.calls == []


def test_reply_rejects_a_bad_top_k_without_asking() -> None:
    bot = FakeBot()
    out = chat.reply(bot, "question", 0)
    assert "That question could not be used: top_k must be from 1 to 10, not 0" in html.unescape(out)
    assert bot.calls == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (qa.StaleIndexError("a.txt changed; run `qa index` again"), "The question could not be answered: a.txt changed; run &#96;qa index&#96; again"),
        (ValueError("question is empty: ask"), ui.EMPTY_QUESTION),
        (RuntimeError("boom at /secret/path"), "Something went wrong while answering (RuntimeError). Please try again."),
    ],
)
def test_reply_turns_engine_errors_into_messages(error: BaseException, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="qa.web.chat"):
        out = chat.reply(FakeBot(error=error), "question")
    assert expected in out
    assert "Traceback" not in out and "secret" not in out
    if isinstance(error, RuntimeError):  # unexpected failures are logged with their traceback for the operator
        assert any(r.exc_info for r in caplog.records)


def test_api_answer_returns_the_chat_text_and_raises_friendly_errors() -> None:
    import gradio as gr

    bot = FakeBot()
    assert chat.api_answer(bot, "What is in the pact?") == ui.format_answer(bot.answer)
    for question in ["", "  ", None]:
        with pytest.raises(gr.Error) as info:
            chat.api_answer(bot, question)
        assert info.value.message == ui.EMPTY_QUESTION
    with pytest.raises(gr.Error, match="top_k must be from 1 to 10, not 11"):
        chat.api_answer(bot, "q", 11)
    with pytest.raises(gr.Error) as info:
        chat.api_answer(FakeBot(error=OSError("disk /secret")), "q")
    assert info.value.message == "Something went wrong while answering (OSError). Please try again."
    with pytest.raises(gr.Error) as info:
        chat.api_answer(FakeBot(error=qa.CorruptIndexError("index.faiss is truncated")), "q")
    assert info.value.message == "The question could not be answered: index.faiss is truncated"


class InfoBot(FakeBot):
    info = INFO


def test_build_demo_shares_one_bounded_queue_between_chat_and_api() -> None:
    demo = chat.build_demo(InfoBot())
    fns = list(demo.fns.values())
    respond = [f for f in fns if f.name == "respond"]
    chat_api = [f for f in fns if f.name == "chat"]
    assert len(respond) == 2  # Enter in the box, the Ask button (no examples: INFO is not the bundled article)
    assert len(chat_api) == 1 and chat_api[0].api_name == "chat"
    assert {f.concurrency_id for f in respond + chat_api} == {"answer"}
    assert all(f.concurrency_limit == "default" for f in respond + chat_api)
    assert demo._queue.default_concurrency_limit == chat.CONCURRENCY_LIMIT == 4
    assert demo._queue.max_size == chat.QUEUE_MAX_SIZE == 64
    assert all(f.api_visibility == "private" for f in respond)


def test_examples_are_four_questions_the_engine_answers(article_bot: object) -> None:
    assert len(chat.EXAMPLES) == 4 and len(set(chat.EXAMPLES)) == 4
    for question in chat.EXAMPLES:
        ans = article_bot.ask(question)  # type: ignore[attr-defined]
        assert not ans.abstained and ans.phrase is not None, question


def test_examples_come_from_the_index(article_bot: qa.QA, api_bot: qa.QA) -> None:
    assert chat.example_questions(article_bot) == chat.EXAMPLES  # the bundled article: its questions
    assert chat.example_questions(api_bot) == []  # another index: none, never the pact's questions
    assert chat.example_questions(InfoBot()) == []

    def demo_examples(bot: Any) -> tuple[list[str], int]:
        demo = chat.build_demo(bot)
        found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "examples"]
        respond = [f for f in demo.fns.values() if f.name == "respond"]
        return ([row[0] for row in found[0].samples] if found else []), len(respond)

    assert demo_examples(article_bot) == (chat.EXAMPLES, 3)  # a click on an example asks it
    assert demo_examples(api_bot) == ([], 2)

    class Renamed(InfoBot):  # the article's doc_id over another text: not the article
        info = {**INFO, "documents": [{"doc_id": "eu-japan-security-pact.txt", "title": "Other"}]}
        store = type("Store", (), {"manifest": {"documents": [{"doc_id": "eu-japan-security-pact.txt", "text_sha256": "0" * 64}]}})()

    assert chat.example_questions(Renamed()) == []


def test_build_demo_has_upload_events_only_when_uploads_are_on() -> None:
    off = chat.build_demo(InfoBot())
    assert not any(f.name in ("add_files", "remove_one") for f in off.fns.values())
    assert "uploads" not in {getattr(b, "elem_id", None) for b in off.blocks.values()}
    assert "uploads-off" in {getattr(b, "elem_id", None) for b in off.blocks.values()}

    on = chat.build_demo(InfoBot(), uploads=True)
    add = [f for f in on.fns.values() if f.name == "add_files"]
    assert len(add) == 1 and add[0].concurrency_id == "build" and add[0].concurrency_limit == chat.BUILD_CONCURRENCY_LIMIT == 1
    assert add[0].api_visibility == "private"
    ids = {getattr(b, "elem_id", None) for b in on.blocks.values()}
    assert {"uploads", "add-docs", "documents", "doc-status"} <= ids and "uploads-off" not in ids
    upload = next(b for b in on.blocks.values() if getattr(b, "elem_id", None) == "uploads")
    assert upload.file_count == "multiple" and {".pdf", ".docx", ".txt", ".md", ".html"} <= set(upload.file_types)


# main()'s upload rule and address checks: tests/web/test_server.py


def test_the_server_upload_limit_is_the_library_limit() -> None:
    from qa.index.intake import DEFAULT_MAX_FILE_MB

    assert chat.UPLOAD_MAX_FILE_MB == DEFAULT_MAX_FILE_MB
    assert chat.build_demo(InfoBot(), uploads=True).delete_cache == (chat.UPLOAD_CACHE_SECONDS,) * 2
    assert chat.build_demo(InfoBot()).delete_cache is None


def test_an_unconfirmed_reply_keeps_its_closest_sentence_for_the_next_question() -> None:
    from qa.types import Candidate, Citation

    quote = "The pact covers joint military drills."
    c = Citation(1, "pact.txt", "Pact", quote, 10, 10 + len(quote), 0.7, 0)
    turn = chat.turn_of(Answer("What does the pact cover?", "", True, 0.3, [], [], None, Candidate(quote, c, None, 0.3)))
    assert turn.text == "" and [(s.doc_id, s.start, s.end, s.text) for s in turn.cited] == [("pact.txt", 10, 48, quote)]
    assert chat.turn_of(Answer("q", "", True, 0.0)).cited == ()  # declined: nothing to follow
