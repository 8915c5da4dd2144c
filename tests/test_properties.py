"""Property-based tests: ``ask()`` over arbitrary Unicode never fails in an unplanned way."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qa

QUESTIONS = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs"]), max_size=40),
    st.builds(lambda a, b: f"{a} pact {b}?", st.text(max_size=40), st.text(max_size=40)),
)


def check_answer(bot: qa.QA, question: str, ans: qa.Answer) -> None:
    assert ans.question
    assert 0.0 <= ans.confidence <= 1.0
    assert ans.abstained == (ans.text == "") == (ans.citations == [])
    for c in ans.citations:
        assert bot.document(c.doc_id).text[c.start : c.end] == c.quote
    if not ans.abstained:
        assert ans.text == " ".join(c.quote for c in ans.citations)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=QUESTIONS)
def test_ask_answers_abstains_or_rejects_blank(article_bot: qa.QA, question: str) -> None:
    blank = not question.encode("utf-8", "replace").decode("utf-8").split()
    if blank:
        with pytest.raises(ValueError, match="question is empty"):
            article_bot.ask(question)
        return
    check_answer(article_bot, question, article_bot.ask(question))


@settings(max_examples=25, deadline=None)
@given(top_k=st.integers(min_value=1, max_value=50), question=st.text(min_size=1, max_size=60).filter(str.strip))
def test_any_positive_top_k_works(article_bot: qa.QA, top_k: int, question: str) -> None:
    check_answer(article_bot, question, article_bot.ask(question, top_k=top_k))


def test_long_question_is_cut_and_logged(article_bot: qa.QA, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="qa"):
        ans = article_bot.ask("What does the pact cover? " + "very " * 40_000)
    assert any("cut to 2000" in r.getMessage() for r in caplog.records)
    check_answer(article_bot, "", ans)
