"""The lexical evidence features of an answer sentence (qa/answering/evidence.py), on the bundled article."""

from __future__ import annotations

import pytest

import qa
from qa.answering.evidence import EVIDENCE_FEATURES, MARGIN_CAP, evidence, question_of
from qa.answering.sentences import ScoredSentence
from qa.types import Span


def _sentence_with(bot: qa.QA, words: str) -> int:
    for sid, record in enumerate(bot.store.sentences):
        if words in bot.document(record.doc_id).text[record.start : record.end]:
            return sid
    raise AssertionError(f"no sentence holds {words!r}")


def _features(bot: qa.QA, question: str, sentence: int, phrase: str | None = None) -> dict[str, float]:
    record = bot.store.sentences[sentence]
    passage = next(i for i, p in enumerate(bot.store.passages)
                   if p.doc_id == record.doc_id and p.first_sentence <= sentence < p.last_sentence)
    scored = [ScoredSentence(sentence, passage, 1, 0.5, 0.5, 1.0)]
    span = None
    if phrase is not None:
        start = bot.document(record.doc_id).text.index(phrase, record.start)
        span = Span(record.doc_id, start, start + len(phrase), phrase)
    found = evidence(bot.store, question_of(bot.store, question), sentence, passage, scored, span)
    return dict(zip(EVIDENCE_FEATURES, found))


def test_cover_and_missing_words(article_bot: qa.QA) -> None:
    drills = _sentence_with(article_bot, "joint military drills")
    pact = _features(article_bot, "What does the pact cover?", drills)
    assert 0.0 < pact["sentence_cover"] < 1.0  # "pact" is there, "cover" is not
    assert pact["passage_cover"] >= pact["sentence_cover"]
    assert pact["numbers_missing"] == 0.0 and pact["names_missing"] == 0.0
    year = _features(article_bot, "What did Borrell and Iwaya unveil in 2019?", drills)
    assert year["numbers_missing"] == 1.0  # a false premise: the text has no 2019
    korea = _features(article_bot, "What did Borrell and Kishida unveil?", drills)
    assert korea["names_missing"] == pytest.approx(0.5)  # Borrell is in the passage, Kishida is not


def test_the_phrase_must_hold_the_kind_of_answer_asked_for(article_bot: qa.QA) -> None:
    jet = _sentence_with(article_bot, "set to be airborne by 2035")
    assert _features(article_bot, "When will the jet be airborne?", jet, "2035")["type_agree"] == 1.0
    assert _features(article_bot, "When will the jet be airborne?", jet, "Italy and Britain")["type_agree"] == -1.0
    assert _features(article_bot, "When will the jet be airborne?", jet)["type_agree"] == -1.0  # no phrase
    assert _features(article_bot, "What is the jet?", jet)["type_agree"] == 0.0  # no kind implied


def test_the_margin_is_capped_without_another_document(article_bot: qa.QA) -> None:
    drills = _sentence_with(article_bot, "joint military drills")
    assert _features(article_bot, "What does the pact cover?", drills)["other_doc_margin"] == MARGIN_CAP
