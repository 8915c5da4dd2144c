"""Turn the reader's verdicts on retrieved passages into an answer phrase, its sentences and a confidence.

The reader (:class:`qa.reader.Reader`) reads the question with each of the top
retrieved passages.  The passage whose best span scores highest (answerable
logit plus span-minus-no-answer margin) is chosen; its span, stripped of
surrounding white space and kept inside one sentence, is the answer phrase;
the sentence holding it is the answer.  The confidence is the calibrated
probability (:class:`qa.reader.Calibration`) of the chosen passage's features,
stacked with the sentence scorer's signals of the answer sentence (:data:`FEATURES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.answer import FEATURES as SENTENCE_FEATURES
from qa.answer import ScoredSentence
from qa.answer import features as sentence_features
from qa.reader import ReadPassage, Reader
from qa.retrieve import Hit
from qa.store import Store
from qa.types import Span


TRAILING = ",;:."
"""Punctuation stripped from the end of a phrase (a word piece span may end on the sentence's full stop)."""
READER_FEATURES = ("answerable_logit", "span_minus_null", "first_passage", "runner_up_gap")
FEATURES = READER_FEATURES + SENTENCE_FEATURES
"""Calibration features of the chosen passage, in order: the answerable head's logit, the best
span's logit minus the no-answer logit (floored at -20), 1.0 when it is the top retrieved
passage, its score's lead over the next passage read; then the raw signals of the sentence
holding the span (:data:`qa.answer.FEATURES`: cosine, coverage, soft, min_match, type_ok; zeros
for a heading).  The raw signals, not the sentence model's fitted logit, so that the calibration
depends only on the data it is fitted on."""


@dataclass(frozen=True)
class ReaderResult:
    """What the reader found among the retrieved passages.

    Attributes:
        confidence: Calibrated probability that the phrase answers the question.
        phrase: The answer phrase (None when no passage had a usable span).
        sentence: Global index of the sentence holding the phrase (-1 when none).
        passage: The passage it was read in (-1 when none).
        rank: That passage's retrieval rank (1-based; 0 when none).
        features: The calibration features, named by :data:`FEATURES`.
    """

    confidence: float
    phrase: Span | None
    sentence: int
    passage: int
    rank: int
    features: tuple[float, ...]


def _sentence_of(store: Store, hit: Hit, start: int) -> int:
    """Global index of the passage's sentence holding document offset ``start`` (the nearest one after a gap)."""
    record = store.passages[hit.passage]
    chosen = record.first_sentence
    for sid in range(record.first_sentence, record.last_sentence):
        if store.sentences[sid].start <= start:
            chosen = sid
        else:
            break
    return chosen


def _phrase(store: Store, hit: Hit, read: ReadPassage) -> tuple[Span, int] | None:
    """The reader's span as an exact, stripped document span inside one sentence, with that sentence."""
    assert read.span is not None
    record = store.passages[hit.passage]
    text = store.documents[record.doc_id].text
    start, end = record.start + read.span.start, record.start + read.span.end
    sid = _sentence_of(store, hit, start)
    sentence = store.sentences[sid]
    start, end = max(start, sentence.start), min(end, sentence.end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in TRAILING):
        end -= 1
    if end <= start:
        return None
    return Span(record.doc_id, start, end, text[start:end]), sid


def read_hits(
    store: Store, reader: Reader, question: str, hits: Sequence[Hit], scored: Sequence[ScoredSentence], depth: int
) -> ReaderResult:
    """Read the first ``depth`` hits with the question and pick the answer.

    Args:
        store: The index.
        reader: The reader model.
        question: The cleaned question.
        hits: Retrieved passages, best first.
        scored: Today's sentence scores of those passages (their signals are stacked into the confidence).
        depth: How many hits the reader reads.

    Returns:
        The phrase, its sentence and the calibrated confidence.
    """
    pool = list(hits[:depth])
    texts = []
    for hit in pool:
        record = store.passages[hit.passage]
        texts.append(store.documents[record.doc_id].text[record.start : record.end])
    reads = [r for r in reader.read(question, texts) if r.span is not None]
    if not reads:
        return ReaderResult(0.0, None, -1, -1, 0, tuple(0.0 for _ in FEATURES))
    best = max(reads, key=lambda r: r.answerable + r.margin)
    found = _phrase(store, pool[best.index], best)
    if found is None:
        return ReaderResult(0.0, None, -1, -1, 0, tuple(0.0 for _ in FEATURES))
    phrase, sid = found
    runner_up = max((r.answerable + r.margin for r in reads if r is not best), default=best.answerable + best.margin - 10.0)
    values = (
        best.answerable,
        max(-20.0, best.margin),
        float(best.index == 0),
        best.answerable + best.margin - runner_up,
        *next((sentence_features(s) for s in scored if s.sentence == sid), [0.0] * len(SENTENCE_FEATURES)),
    )
    hit = pool[best.index]
    return ReaderResult(reader.calibration.probability(values), phrase, sid, hit.passage, hit.rank, values)
