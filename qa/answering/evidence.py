"""How well an answer sentence holds what the question asks: lexical checks the readers' scores lack.

The decision's confidence (:mod:`qa.answering.decision`) ranks answers by the readers' scores; these
features of the chosen sentence add what those scores miss, each cheap and computed from the index:

* ``sentence_cover`` / ``passage_cover``: the IDF-weighted share of the question's content words
  (stems) found in the sentence, and in the passage it was found in;
* ``other_doc_margin``: the sentence scorer's logit of the sentence minus that of the best sentence
  of another document among those retrieved (clipped to +-``MARGIN_CAP``; ``MARGIN_CAP`` when no other
  document was retrieved);
* ``numbers_missing``: 1 when a number of the question (a year, a count, a time) is not in the sentence:
  a sign of a false premise ("at 5 am" against "at 5 pm");
* ``names_missing``: the share of the question's capitalised words (names, after its first word) that
  the passage lacks;
* ``type_agree``: +1 when the reader's phrase holds the kind of answer the question asks for (a time
  for "when", a number for "how many", a name for "who"), -1 when it does not (or there is no phrase),
  0 when the question implies no kind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answering.sentences import ScoredSentence, idf_weights, sentence_terms
from qa.documents.lexical import STOPWORDS, expected_answer_type, has_answer_type, tokenize
from qa.index.store import IndexStore
from qa.types import Span

EVIDENCE_FEATURES = ("sentence_cover", "passage_cover", "other_doc_margin", "numbers_missing", "names_missing", "type_agree")
"""Names of :meth:`Evidence.features`, in order."""
MARGIN_CAP = 5.0
"""Bound of ``other_doc_margin`` (a scorer logit difference)."""
NO_SCORE = -10.0
"""The scorer logit of a sentence the scorer did not score."""

_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NAME = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


@dataclass(frozen=True)
class Question:
    """What the features need of the question, computed once per question.

    Attributes:
        text: The cleaned question.
        idf: IDF of each of its content stems in the index.
        numbers: Its numbers, as written.
        names: Its capitalised words after the first word, lower-cased (stop words left out).
        kind: The kind of answer it asks for (see :func:`qa.documents.lexical.expected_answer_type`), or None.
    """

    text: str
    idf: dict[str, float]
    numbers: tuple[str, ...]
    names: tuple[str, ...]
    kind: str | None


def question_of(store: IndexStore, text: str) -> Question:
    """The :class:`Question` of a cleaned question in this index."""
    stems = sorted(set(tokenize(text)))
    words = _NAME.findall(text)
    names = tuple(dict.fromkeys(w.lower() for w in words[1:] if w[0].isupper() and w.lower() not in STOPWORDS))
    return Question(text, idf_weights(store, stems), tuple(dict.fromkeys(_NUMBER.findall(text))), names, expected_answer_type(text))


def _cover(question: Question, stems: set[str] | frozenset[str]) -> float:
    total = sum(question.idf.values())
    return sum(w for s, w in question.idf.items() if s in stems) / total if total > 0 else 0.0


def _text(store: IndexStore, start: int, end: int, doc_id: str) -> str:
    return store.documents[doc_id].text[start:end]


def evidence(store: IndexStore, question: Question, sentence: int, passage: int, scored: Sequence[ScoredSentence],
             phrase: Span | None) -> list[float]:
    """The :data:`EVIDENCE_FEATURES` of one answer sentence.

    Args:
        store: The index.
        question: The question (:func:`question_of`).
        sentence: The sentence's global index.
        passage: The passage it was found in.
        scored: The sentence scorer's ranking of the retrieved sentences.
        phrase: The reader's phrase inside the sentence, or None.
    """
    record = store.sentences[sentence]
    pas = store.passages[passage]
    sentence_text = _text(store, record.start, record.end, record.doc_id)
    passage_text = _text(store, pas.start, pas.end, pas.doc_id).lower()
    passage_stems: set[str] = set()
    for sid in range(pas.first_sentence, pas.last_sentence):
        passage_stems |= sentence_terms(store, sid).tokens
    own = next((s.score for s in scored if s.sentence == sentence), NO_SCORE)
    other = max((s.score for s in scored if store.sentences[s.sentence].doc_id != record.doc_id), default=None)
    margin = MARGIN_CAP if other is None else max(-MARGIN_CAP, min(MARGIN_CAP, own - other))
    numbers = set(_NUMBER.findall(sentence_text))
    missing_number = float(any(n not in numbers for n in question.numbers))
    names = sum(1 for n in question.names if n not in passage_text) / len(question.names) if question.names else 0.0
    if question.kind is None:
        agree = 0.0
    else:
        agree = 1.0 if phrase is not None and has_answer_type(question.kind, phrase.text, question.text) else -1.0
    return [_cover(question, sentence_terms(store, sentence).tokens), _cover(question, passage_stems), margin,
            missing_number, names, agree]
