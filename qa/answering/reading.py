"""Turn the reader's verdicts on retrieved passages into exact answer phrases in sentences.

The reader (:class:`qa.answering.reader.Reader`) reads the question with each passage;
its best span, stripped of surrounding white space and kept inside one
sentence, is that passage's candidate phrase, and the sentence holding it a
candidate answer (:class:`PassageRead`).  :mod:`qa.answering.decision` chooses among them and
the sentence scorer's best sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.answering.reader_tokens import SpanScore
from qa.index.store import Hit, IndexStore
from qa.types import Span

if TYPE_CHECKING:
    from qa.answering.reader import Reader


TRAILING = ",;:."
"""Punctuation stripped from the end of a phrase (a word piece span may end on the sentence's full stop)."""


def _sentence_of(store: IndexStore, hit: Hit, start: int) -> int:
    """Global index of the passage's sentence holding document offset ``start`` (the nearest one after a gap)."""
    record = store.passages[hit.passage]
    chosen = record.first_sentence
    for sid in range(record.first_sentence, record.last_sentence):
        if store.sentences[sid].start <= start:
            chosen = sid
        else:
            break
    return chosen


def _phrase(store: IndexStore, hit: Hit, span: SpanScore) -> tuple[Span, int] | None:
    """A reader span as an exact, stripped document span inside one sentence, with that sentence."""
    record = store.passages[hit.passage]
    text = store.documents[record.doc_id].text
    start, end = record.start + span.start, record.start + span.end
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


@dataclass(frozen=True)
class PassageRead:
    """The reader's best answer in one retrieved passage.

    Attributes:
        passage: The passage read (its position in the store).
        rank: Its retrieval rank (1-based).
        answerable: The answerable head's logit.
        margin: The best span's logit minus the no-answer logit (floored at -20).
        phrase: The span as an exact, stripped document span inside one sentence (None when there is none).
        sentence: Global index of the sentence holding the phrase (-1 when none).
        focus: The best span inside the focus sentence asked for, when this passage holds it; else None.
    """

    passage: int
    rank: int
    answerable: float
    margin: float
    phrase: Span | None
    sentence: int
    focus: Span | None = None

    @property
    def score(self) -> float:
        """How strongly the reader backs this passage's span: answerable logit plus margin."""
        return self.answerable + self.margin


def read_passages(store: IndexStore, reader: Reader, question: str, hits: Sequence[Hit], focus: int = -1) -> list[PassageRead]:
    """Read every hit with the question (one batch) and return each passage's best span, in hit order.

    Args:
        store: The index.
        reader: The reader model.
        question: The cleaned question.
        hits: The passages to read.
        focus: A global sentence index: in the passages holding it, the best span inside it is
            found too (:attr:`PassageRead.focus`); -1 for none.
    """
    texts, windows = [], []
    for hit in hits:
        record = store.passages[hit.passage]
        texts.append(store.documents[record.doc_id].text[record.start : record.end])
        inside = focus >= 0 and record.first_sentence <= focus < record.last_sentence
        if inside:
            sentence = store.sentences[focus]
            windows.append(((sentence.start - record.start, sentence.end - record.start),))
        else:
            windows.append(())
    out = []
    for read, hit in zip(reader.read(question, texts, windows), hits):
        found = _phrase(store, hit, read.span) if read.span is not None else None
        phrase, sid = found if found is not None else (None, -1)
        focused = _phrase(store, hit, read.within[0]) if read.within and read.within[0] is not None else None
        out.append(PassageRead(hit.passage, hit.rank, read.answerable, max(-20.0, read.margin), phrase, sid,
                             focused[0] if focused is not None and focused[1] == focus else None))
    return out


def verifier_for(reader: Reader, store: IndexStore, question: str) -> Callable[[Sequence[int]], list[float]] | None:
    """The reader's verifier as a map from sentence indices to logits (None when the reader has none)."""
    if not reader.has_verifier:
        return None

    def verify(sentences: Sequence[int]) -> list[float]:
        texts = []
        for sid in sentences:
            s = store.sentences[sid]
            texts.append(store.documents[s.doc_id].text[s.start : s.end])
        return reader.verify(question, texts)

    return verify
