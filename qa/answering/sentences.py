"""The sentence scorer: rank the sentences of the retrieved passages by how likely each answers the question.

Every sentence of the retrieved passages gets these signals:

* ``cosine``: similarity of the question and sentence vectors;
* ``coverage``: the IDF-weighted share of the question's stemmed content
  words that the sentence contains (words unseen in the corpus count fully
  against it, which is what makes off-topic questions abstain);
* ``soft``: the same share with each word's best word-vector match (so
  "maritime" partly matches "naval");
* ``min_match``: the match of the worst-matched question word;
* ``type_ok``: whether the sentence holds the kind of answer asked for (a date
  for *when*, an amount for *how much* ...).

(The retrieval rank of a sentence's passage is not a signal: fitted, it
over-rode a clearly better sentence in a lower-ranked passage.)

A logistic model of "this sentence answers the question", fitted per sentence
on the tuning splits of the evaluation sets (``eval/calibration/tune.py``), turns them
into a probability.  Sentences are ranked by it; the answer is the most
probable sentence plus up to two more almost as probable, in document order;
``confidence`` is the best sentence's probability, and the engine abstains
when it is below ``AnswerParams.threshold``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.documents.lexical import ANSWER_KINDS, answer_candidates, asked_of, content_words, expected_answer_type, stem
from qa.index.store import Hit
from qa.index.store import IndexStore


@dataclass(frozen=True)
class AnswerParams:
    """The sentence model, answer length and abstention threshold.

    The ``a_*`` weights and ``bias`` were fitted by ``python -m eval.calibration.tune``
    (a logistic regression over every candidate sentence of the tuning splits,
    labelled by whether it holds an accepted answer); the threshold maximises
    the share of right decisions (a right answer, or abstaining on an
    unanswerable question) on the same splits.

    Attributes:
        bias, a_cosine, a_coverage, a_soft, a_min_match, a_type: The logit of a sentence is
            ``bias + a_cosine * cosine + a_coverage * coverage + a_soft * soft + a_min_match * min_match
            + a_type * type_ok``.
        relative_margin: Extra sentences are kept when their probability is at least this share of the best's.
        max_sentences: Most sentences in one answer.
        threshold: Abstain when the best sentence's probability is below this.
    """

    bias: float = -5.9202
    a_cosine: float = 4.1209
    a_coverage: float = 0.3501
    a_soft: float = 5.3373
    a_min_match: float = -0.9645
    a_type: float = 0.7964
    relative_margin: float = 0.9
    max_sentences: int = 3
    threshold: float = 0.225


DEFAULT_PARAMS = AnswerParams()


@dataclass(frozen=True)
class Query:
    """A question prepared for scoring.

    Attributes:
        text: The cleaned question.
        vector: Its unit vector.
        tokens: Stemmed content words (for BM25 and exact coverage).
        terms: Distinct unstemmed content words.
        term_stems: Stem of each term.
        term_vectors: ``(len(terms), dimension)`` unit vectors of the terms.
        kind: Expected answer type (see :func:`qa.documents.lexical.expected_answer_type`).
    """

    text: str
    vector: np.ndarray
    tokens: list[str]
    terms: list[str]
    term_stems: list[str]
    term_vectors: np.ndarray
    kind: str | None


def make_query(store: IndexStore, text: str, encode: Callable[[list[str]], np.ndarray]) -> Query:
    """Encode a question and its content words (corpus words reuse their stored vectors) in one call."""
    words = content_words(text)
    terms = list(dict.fromkeys(words))
    known = [i for i, t in enumerate(terms) if t in store.words]
    unseen = [i for i, t in enumerate(terms) if t not in store.words]
    vectors = encode([text, *(terms[i] for i in unseen)])
    term_vectors = np.empty((len(terms), vectors.shape[1]), dtype=np.float32)
    if known:
        term_vectors[known] = store.word_vectors[[store.words[terms[i]] for i in known]]
    if unseen:
        term_vectors[unseen] = vectors[1:]
    stems = {t: stem(t) for t in terms}
    tokens = [stems[w] for w in words]  # the same as qa.documents.lexical.tokenize(text)
    return Query(text, vectors[0], tokens, terms, [stems[t] for t in terms], term_vectors, expected_answer_type(text))


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate answer sentence with its signals.

    Attributes:
        sentence: Global sentence index in the store.
        passage: Best-ranked passage holding it.
        rank: Retrieval rank of that passage (1-based).
        cosine: Question–sentence cosine similarity.
        coverage: IDF-weighted share of question terms found in the sentence (exact stems).
        score: Logit of the sentence model (see :class:`AnswerParams`); sentences are ranked by it.
        soft: IDF-weighted mean over question terms of their best word-vector match in the sentence.
        min_match: The worst-matched question term's match.
        type_ok: 1.0 when the sentence holds the kind of answer asked for (or none is implied).
    """

    sentence: int
    passage: int
    rank: int
    cosine: float
    coverage: float
    score: float
    soft: float = 0.0
    min_match: float = 0.0
    type_ok: float = 1.0


def idf_weights(store: IndexStore, terms: Sequence[str]) -> dict[str, float]:
    """BM25-style IDF of each (stemmed) term over the store's passages (unseen terms get the largest IDF)."""
    n = len(store.passages)
    return {term: math.log(1.0 + (n - (df := store.bm25.doc_freq(term)) + 0.5) / (df + 0.5)) for term in terms}


SENTENCE_CACHE_MAX = 200_000
"""Most sentences whose term data a store keeps (the cache is emptied when full)."""


@dataclass(frozen=True)
class SentenceTerms:
    """What scoring needs of one sentence, computed once per loaded index.

    Attributes:
        tokens: Its stemmed content words.
        word_vectors: ``(m, dimension)`` float32 vectors of its corpus words.
        candidates: Its answer candidates of each kind (see :func:`qa.documents.lexical.answer_candidates`).
        heading: Whether it is a Markdown heading line (see :func:`is_heading`).
    """

    tokens: frozenset[str]
    word_vectors: np.ndarray
    candidates: dict[str, tuple[str, ...]]
    heading: bool = False


def sentence_terms(store: IndexStore, sid: int) -> SentenceTerms:
    """The term data of sentence ``sid``, cached on the store."""
    cached = store.sentence_cache.get(sid)
    if cached is not None:
        return cached  # type: ignore[return-value]
    record = store.sentences[sid]
    text = store.documents[record.doc_id].text[record.start : record.end]
    words = set(content_words(text))
    rows = sorted(store.words[w] for w in words if w in store.words)
    dim = store.word_vectors.shape[1]
    vectors = np.asarray(store.word_vectors[rows], dtype=np.float32).reshape(len(rows), dim)
    candidates = {kind: answer_candidates(kind, text) for kind in ANSWER_KINDS}
    terms = SentenceTerms(frozenset(stem(w) for w in words), vectors, candidates, is_heading(store, sid))
    if len(store.sentence_cache) >= SENTENCE_CACHE_MAX:
        store.sentence_cache.clear()
    store.sentence_cache[sid] = terms
    return terms


def term_matches(query: Query, sentences: Sequence[SentenceTerms]) -> np.ndarray:
    """Best match in [0, 1] of each query term in each sentence: 1 for the same stem, else the best word cosine.

    Returns:
        ``(len(sentences), len(query.terms))`` matches.
    """
    n, t = len(sentences), len(query.terms)
    exact = (s in sentence.tokens for sentence in sentences for s in query.term_stems)
    matches = np.fromiter(exact, dtype=np.float32, count=n * t).reshape(n, t)
    with_words = [i for i, sentence in enumerate(sentences) if len(sentence.word_vectors)]
    if not t or not with_words:
        return matches
    words = np.concatenate([sentences[i].word_vectors for i in with_words])
    sims = words @ query.term_vectors.T  # (all their words, terms)
    starts = np.cumsum([0] + [len(sentences[i].word_vectors) for i in with_words[:-1]])
    best = np.maximum.reduceat(sims, starts, axis=0)
    matches[with_words] = np.maximum(matches[with_words], np.minimum(np.maximum(best, 0.0), 1.0))
    return matches


_MARKDOWN_HEADING = re.compile(r"#{1,6}\s")


def is_heading(store: IndexStore, sentence: int) -> bool:
    """Whether a sentence is a Markdown heading line (``# Title``): it names a topic, it answers nothing."""
    record = store.sentences[sentence]
    return bool(_MARKDOWN_HEADING.match(store.documents[record.doc_id].text, record.start))


def score_sentences(store: IndexStore, hits: Sequence[Hit], query: Query, params: AnswerParams = DEFAULT_PARAMS) -> list[ScoredSentence]:
    """Score every sentence of the retrieved passages, best first.

    Args:
        store: The index.
        hits: Retrieved passages.
        query: The prepared question.
        params: Scoring weights.

    Returns:
        One entry per distinct sentence, sorted by score (best first).
    """
    best_rank: dict[int, tuple[int, int]] = {}
    for hit in hits:
        record = store.passages[hit.passage]
        for s in range(record.first_sentence, record.last_sentence):
            best_rank.setdefault(s, (hit.rank, hit.passage))
    candidates = [(sid, sentence_terms(store, sid)) for sid in best_rank]
    ids = [sid for sid, st in candidates if not st.heading]
    if not ids:
        return []
    terms = [st for _, st in candidates if not st.heading]
    cosines = store.sentence_vectors[ids].astype(np.float32) @ query.vector.astype(np.float32, copy=False).ravel()
    stems = sorted(set(query.tokens))
    idf = idf_weights(store, stems)  # the stems of query.terms are exactly these
    total = sum(idf.values())
    coverage = np.array([sum(idf[t] for t in stems if t in st.tokens) / total if total > 0 else 0.0 for st in terms])
    term_idf = np.array([idf[s] for s in query.term_stems], dtype=np.float32)
    if len(query.terms) and term_idf.sum() > 0:
        matches = term_matches(query, terms)
        soft, min_match = matches @ (term_idf / term_idf.sum()), matches.min(axis=1)
    else:
        soft = min_match = np.zeros(len(ids))
    if query.kind is None:
        type_ok = np.ones(len(ids))
    else:
        asked = asked_of(query.kind, query.text)
        type_ok = np.fromiter((any(c not in asked for c in st.candidates[query.kind]) for st in terms), dtype=np.float64, count=len(ids))
    signals = (cosines, coverage, soft, min_match, type_ok)  # in the order of FEATURES
    logits = params.bias + sum(w * f for w, f in zip(weights_of(params), signals))
    scored = [
        ScoredSentence(sid, best_rank[sid][1], best_rank[sid][0], c, v, z, f, m, k)
        for sid, c, v, z, f, m, k in zip(
            ids, cosines.tolist(), coverage.tolist(), logits.tolist(), soft.tolist(), min_match.tolist(), type_ok.tolist()
        )
    ]
    scored.sort(key=lambda s: (-s.score, s.sentence))
    return scored


FEATURES = ("cosine", "coverage", "soft", "min_match", "type_ok")
"""Names of :func:`features`, in the order of the ``a_*`` weights."""


def features(s: ScoredSentence) -> list[float]:
    """The signals of a sentence, in the order of :data:`FEATURES`."""
    return [s.cosine, s.coverage, s.soft, s.min_match, s.type_ok]


def weights_of(params: AnswerParams) -> tuple[float, ...]:
    """The ``a_*`` weights, in the order of :data:`FEATURES`."""
    return (params.a_cosine, params.a_coverage, params.a_soft, params.a_min_match, params.a_type)


def probability(z: float) -> float:
    """The logistic function, safe for any float."""
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def confidence_of(best: ScoredSentence | None, params: AnswerParams = DEFAULT_PARAMS) -> float:
    """Probability that the best sentence answers the question (0 when there is none)."""
    return 0.0 if best is None else probability(best.score)


def select(scored: Sequence[ScoredSentence], params: AnswerParams = DEFAULT_PARAMS) -> list[ScoredSentence]:
    """Keep the best sentence and up to ``max_sentences - 1`` almost as probable ones, in document order."""
    if not scored:
        return []
    best = scored[0]
    floor = probability(best.score) * params.relative_margin
    chosen = [s for s in scored[: params.max_sentences] if s is best or probability(s.score) >= floor]
    return sorted(chosen, key=lambda s: s.sentence)

