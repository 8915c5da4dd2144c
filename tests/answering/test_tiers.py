"""The three outcomes of a question (``Answer.status``) through the Python API, with the packaged models.

The tier follows the decision's two fitted thresholds: answered at or above ``t_answer``, unconfirmed
(with the closest sentence as ``candidate``) down to ``t_decline``, declined when nothing relevant is found.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

import qa
from qa.types import STATUSES, Answer, Candidate, Citation

PACT = "What does the pact cover?"
DRILLS = "joint military drills"
OFF_TOPIC = "What is the population of Brazil?"
BELOW = "Who is Japan's defense minister?"  # the article names Japan's foreign minister only


def consistent(answer: Answer) -> None:
    """``abstained`` and ``candidate`` agree with the status; a candidate quotes its document exactly."""
    assert answer.status in STATUSES
    assert answer.abstained == (answer.status != "answered")
    assert (answer.candidate is not None) == (answer.status == "unconfirmed")
    if answer.status != "answered":
        assert answer.text == "" and answer.citations == []


def with_thresholds(bot: qa.QA, t_answer: float, t_decline: float) -> qa.QA:
    """A shallow copy of ``bot`` whose decision has other thresholds (same models, same index)."""
    other = copy.copy(bot)
    assert bot.decision is not None
    other.decision = dataclasses.replace(bot.decision, threshold=t_answer, decline=t_decline)
    return other


def test_the_pact_question_is_answered_and_off_topic_is_declined(article_bot: qa.QA) -> None:
    answer = article_bot.ask(PACT)
    consistent(answer)
    assert answer.status == "answered" and DRILLS in answer.text
    assert answer.confidence >= article_bot.decision.threshold  # type: ignore[union-attr]
    off = article_bot.ask(OFF_TOPIC)
    consistent(off)
    assert off.status == "declined" and off.candidate is None and off.passages  # related passages still shown


def test_the_shipped_thresholds_show_a_wrong_guess_as_not_confirmed(article_bot: qa.QA) -> None:
    decision = article_bot.decision
    assert decision is not None and 0 < decision.decline < decision.threshold < 1  # fitted, written to the card
    answer = article_bot.ask(BELOW)
    consistent(answer)
    assert answer.status == "unconfirmed" and decision.decline <= answer.confidence < decision.threshold
    assert answer.candidate is not None and "Minister Iwaya" in answer.candidate.text


def test_below_t_answer_the_closest_sentence_is_unconfirmed(article_bot: qa.QA) -> None:
    strict = with_thresholds(article_bot, 1.0, 0.0)  # nothing reaches t_answer
    answer = strict.ask(PACT)
    consistent(answer)
    assert answer.status == "unconfirmed" and answer.abstained
    cand = answer.candidate
    assert cand is not None and DRILLS in cand.text and cand.confidence == answer.confidence < 1.0
    c = cand.citation
    assert article_bot.document(c.doc_id).text[c.start : c.end] == c.quote == cand.text and c.number == 1
    assert cand.phrase is not None and c.start <= cand.phrase.start < cand.phrase.end <= c.end
    assert strict.ask(OFF_TOPIC).status == "declined"  # nothing relevant stays declined, whatever t_answer
    above = with_thresholds(article_bot, 1.0, 1.0)  # below t_decline: declined, no candidate
    assert above.ask(PACT).status == "declined"


def test_an_unconfirmed_turn_is_a_valid_history_item(article_bot: qa.QA) -> None:
    strict = with_thresholds(article_bot, 1.0, 0.0)
    earlier = strict.ask(PACT)
    assert earlier.status == "unconfirmed"
    follow = article_bot.ask("And when was it signed?", history=[earlier])
    consistent(follow)
    again = strict.ask("And when was it signed?", history=[earlier])  # a follow-up uses the same tiers
    consistent(again)
    assert again.status != "answered"


def test_status_must_agree_with_abstained_and_candidate() -> None:
    quote = "The pact covers joint military drills."
    cand = Candidate(quote, Citation(1, "d", "D", quote, 0, len(quote), 0.5, 0), None, 0.3)
    assert Answer("q", "", True, 0.3, candidate=cand).status == "unconfirmed"
    assert Answer("q", "", True, 0.0).status == "declined"
    assert Answer("q", quote, False, 0.9).status == "answered"
    with pytest.raises(ValueError, match="status must be one of answered, unconfirmed, declined"):
        Answer("q", "", True, 0.0, status="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="abstained must be True for status 'declined'"):
        Answer("q", quote, False, 0.9, status="declined")
    with pytest.raises(ValueError, match="candidate must be set exactly when the status is 'unconfirmed'"):
        Answer("q", "", True, 0.3, status="unconfirmed")
