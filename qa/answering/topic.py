"""The conversation's document: evidence gathered over the whole dialogue, and documents for bare answer texts.

A follow-up is answered in the document the conversation is about.  Which one that is should not hang on
the last answer alone (a wrong first answer would then lead every later turn astray), so each document
gathers evidence over the dialogue (:func:`conversation_document`):

* every earlier **question**'s own search: the documents of its first :data:`EVIDENCE_DEPTH` passages,
  weighted ``1 / rank`` and normalised to a share (:func:`search_shares`);
* every earlier **answer**'s document: :data:`ANSWER_WEIGHT` for an answered turn, :data:`CANDIDATE_WEIGHT`
  for an unconfirmed candidate (a declined turn with a best sentence), nothing for a decline;
* the newest turn counts most: each step back multiplies its evidence by :data:`DECAY`;
* the question being asked adds its own search's shares (:data:`OWN_WEIGHT`).

So a wrong first answer is outvoted two turns later by questions whose searches agree on another document.

The searches of earlier questions are kept per loaded index (:class:`ShareCache`, a bounded LRU of question
text to shares), so a conversation searches each question once; a history from elsewhere (an API client) is
searched on first sight.

``(question, text)`` history items carry no citation.  :func:`find_sentence` finds their text in the index (an
exact match of a sentence, white space normalised), so they give a document too.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.index.store import Hit, IndexStore
from qa.types import Span

EVIDENCE_DEPTH = 10
"""Passages of a question's own search whose documents count as its evidence (a first turn keeps its ``top_k`` hits,
5 by default, as asked: no second search)."""
DECAY = 0.6
"""Each step back in the dialogue multiplies a turn's evidence by this."""
QUESTION_WEIGHT = 0.5
"""Weight of an earlier question's search shares."""
ANSWER_WEIGHT = 2.0
"""Weight of the document an earlier answered turn cited."""
CANDIDATE_WEIGHT = 1.0
"""Weight of the document of an earlier turn's unconfirmed candidate (declined, with a best sentence)."""
OWN_WEIGHT = 0.25
"""Weight of the current question's own search shares."""
CACHE_QUESTIONS = 512
"""Questions whose search shares are kept per loaded index."""
MAX_EVIDENCE_TURNS = 8
"""Earlier turns that give evidence (older ones weigh at most ``DECAY ** 8``, under 2%)."""


def search_shares(store: IndexStore, hits: Sequence[Hit]) -> dict[str, float]:
    """Each document's share of a search: ``1 / rank`` of its passages among the first :data:`EVIDENCE_DEPTH`, summed
    and normalised to 1 (empty when there are no hits)."""
    weights: dict[str, float] = {}
    for rank, hit in enumerate(hits[:EVIDENCE_DEPTH], start=1):
        doc_id = store.passages[hit.passage].doc_id
        weights[doc_id] = weights.get(doc_id, 0.0) + 1.0 / rank
    total = sum(weights.values())
    return {d: w / total for d, w in weights.items()} if total else {}


class PerStore:
    """Values kept per loaded store object (stores are not hashable): dropped when the store is collected."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[weakref.ref, object]] = {}

    def get(self, store: IndexStore) -> object | None:
        """The value kept for ``store``, or None."""
        entry = self._values.get(id(store))
        return entry[1] if entry is not None and entry[0]() is store else None

    def put(self, store: IndexStore, value: object) -> None:
        """Keep ``value`` for ``store`` (nothing when it cannot be weakly referenced)."""
        key = id(store)
        try:
            ref = weakref.ref(store, lambda _: self._values.pop(key, None))
        except TypeError:
            return
        self._values[key] = (ref, value)


class ShareCache:
    """Search shares of questions already asked, per loaded index (a bounded LRU; thread-safe)."""

    def __init__(self, size: int = CACHE_QUESTIONS) -> None:
        self.size = size
        self._stores = PerStore()
        self._lock = threading.Lock()

    def _table(self, store: IndexStore) -> OrderedDict | None:
        table = self._stores.get(store)
        if table is None:
            table = OrderedDict()
            self._stores.put(store, table)
            if self._stores.get(store) is None:
                return None
        return table  # type: ignore[return-value]

    def get(self, store: IndexStore, question: str) -> dict[str, float] | None:
        """The shares stored for ``question``, or None."""
        with self._lock:
            table = self._table(store)
            if table is None or question not in table:
                return None
            table.move_to_end(question)
            return table[question]

    def put(self, store: IndexStore, question: str, shares: dict[str, float]) -> None:
        """Keep ``question``'s shares (the oldest entry goes when full)."""
        with self._lock:
            table = self._table(store)
            if table is None:
                return
            table[question] = shares
            table.move_to_end(question)
            while len(table) > self.size:
                table.popitem(last=False)


SHARES = ShareCache()
"""The process's cache of question search shares."""


def question_shares(store: IndexStore, questions: Sequence[str],
                    search: Callable[[list[str]], list[list[Hit]]]) -> list[dict[str, float]]:
    """The search shares of each question, from :data:`SHARES` or searched (all missing ones in one call).

    Args:
        store: The index.
        questions: Cleaned questions.
        search: Searches a list of questions (one encode call), returning each one's hits.
    """
    out: list[dict[str, float] | None] = [SHARES.get(store, q) for q in questions]
    missing = list(dict.fromkeys(q for q, s in zip(questions, out) if s is None))
    if missing:
        found = {q: search_shares(store, hits) for q, hits in zip(missing, search(missing))}
        for q, shares in found.items():
            SHARES.put(store, q, shares)
        out = [s if s is not None else found[q] for q, s in zip(questions, out)]
    return [s or {} for s in out]


@dataclass(frozen=True)
class Evidence:
    """Each document's evidence in a conversation.

    Attributes:
        scores: Document id to its evidence (see the module docstring).
        document: The document the evidence favours (None when there is none).
        share: That document's share of all the evidence (0 when none).
    """

    scores: dict[str, float]
    document: str | None
    share: float


def conversation_document(question_shares: Sequence[dict[str, float]], answer_docs: Sequence[tuple[str | None, float]],
                          own: dict[str, float], own_weight: float = OWN_WEIGHT) -> Evidence:
    """The evidence of each document over the dialogue, and the document it favours.

    Args:
        question_shares: The earlier questions' search shares, oldest first.
        answer_docs: Per earlier turn (oldest first), the document its answer (or candidate) cited and the
            weight of that (0 for a decline).
        own: The current question's search shares.
        own_weight: Weight of ``own``.
    """
    scores: dict[str, float] = {}
    n = len(question_shares)
    for t, (shares, (doc_id, weight)) in enumerate(zip(question_shares, answer_docs)):
        factor = DECAY ** (n - 1 - t)
        for d, s in shares.items():
            scores[d] = scores.get(d, 0.0) + factor * QUESTION_WEIGHT * s
        if doc_id is not None and weight:
            scores[doc_id] = scores.get(doc_id, 0.0) + factor * weight
    for d, s in own.items():
        scores[d] = scores.get(d, 0.0) + own_weight * s
    total = sum(scores.values())
    if not scores or total <= 0:
        return Evidence(scores, None, 0.0)
    best = max(scores, key=lambda d: (scores[d], d))
    return Evidence(scores, best, scores[best] / total)


_SPACE = re.compile(r"\s+")
_ENDS = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_SENTENCES = PerStore()
_SENTENCES_LOCK = threading.Lock()


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _sentence_table(store: IndexStore) -> dict[str, Span]:
    """Normalised sentence text to its first occurrence, built once per loaded store."""
    with _SENTENCES_LOCK:
        table = _SENTENCES.get(store)
        if table is not None:
            return table  # type: ignore[return-value]
        table = {}
        for s in store.sentences:
            doc = store.documents.get(s.doc_id)
            if doc is None:
                continue
            key = _normal(doc.text[s.start : s.end])
            if key and key not in table:
                table[key] = Span(s.doc_id, s.start, s.end, doc.text[s.start : s.end])
        _SENTENCES.put(store, table)
        return table


def find_sentence(store: IndexStore, text: str) -> Span | None:
    """The indexed sentence a bare answer text starts with (an exact match, white space normalised), or None.

    An answer's text is its cited sentences joined by a space, so the whole text is tried first, then each
    prefix that ends a sentence.
    """
    key = _normal(text)
    if not key:
        return None
    table = _sentence_table(store)
    if key in table:
        return table[key]
    for match in _ENDS.finditer(key):
        found = table.get(key[: match.end()])
        if found is not None:
            return found
    return None
