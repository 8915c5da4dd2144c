"""Pick the answering sentence(s) among retrieved passages, cite them, or abstain.

Every sentence of the retrieved passages is scored from three signals:

* ``cosine``: similarity of the question and sentence vectors;
* ``coverage``: the IDF-weighted share of the question's content words that
  the sentence contains (words that occur nowhere in the corpus count fully
  against it, which is what makes off-topic questions abstain);
* ``rank``: the retrieval rank of the best passage holding the sentence.

The answer is the best sentence plus up to two more that score almost as well,
in document order.  ``confidence`` is a logistic function of the best
sentence's signals whose weights were fitted on the tuning split of
``eval/qa_article.jsonl`` (see ``eval/tune.py``); the engine abstains when it
falls below ``AnswerParams.threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.lexical import tokenize
from qa.retrieve import Hit
from qa.store import Store
from qa.types import Citation, Passage


@dataclass(frozen=True)
class AnswerParams:
    """Weights of sentence scoring and abstention.

    Attributes:
        w_cosine: Weight of the question–sentence cosine in a sentence's score.
        w_coverage: Weight of the IDF-weighted term coverage.
        w_rank: Weight of ``1 / rank`` of the sentence's best passage.
        relative_margin: Extra sentences are kept when their score is at least this share of the best.
        max_sentences: Most sentences in one answer.
        bias, a_cosine, a_coverage, a_score: Logistic confidence: ``sigmoid(bias + a_cosine * cosine + a_coverage * coverage + a_score * score)``.
        threshold: Abstain below this confidence.
    """

    w_cosine: float = 1.0
    w_coverage: float = 0.35
    w_rank: float = 0.05
    relative_margin: float = 0.93
    max_sentences: int = 3
    bias: float = -7.8
    a_cosine: float = 0.0
    a_coverage: float = 0.0
    a_score: float = 15.0
    threshold: float = 0.5


DEFAULT_PARAMS = AnswerParams()


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate answer sentence with its signals.

    Attributes:
        sentence: Global sentence index in the store.
        passage: Best-ranked passage holding it.
        rank: Retrieval rank of that passage (1-based).
        cosine: Question–sentence cosine similarity.
        coverage: IDF-weighted share of question terms found in the sentence.
        score: Combined score used to rank sentences.
    """

    sentence: int
    passage: int
    rank: int
    cosine: float
    coverage: float
    score: float


def idf_weights(store: Store, terms: Sequence[str]) -> dict[str, float]:
    """BM25-style IDF of each term over the store's passages (unseen terms get the largest IDF)."""
    bm25 = store.bm25
    n = len(store.passages)
    indptr = bm25.scores["indptr"]  # type: ignore[attr-defined]
    weights = {}
    for term in terms:
        tid = bm25.vocab_dict.get(term)  # type: ignore[attr-defined]
        df = 0 if tid is None else int(indptr[tid + 1] - indptr[tid])
        weights[term] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
    return weights


def score_sentences(
    store: Store,
    hits: Sequence[Hit],
    query_vector: np.ndarray,
    query_tokens: Sequence[str],
    params: AnswerParams = DEFAULT_PARAMS,
) -> list[ScoredSentence]:
    """Score every sentence of the retrieved passages, best first.

    Args:
        store: The index.
        hits: Retrieved passages.
        query_vector: Unit vector of the question.
        query_tokens: Tokens of the question.
        params: Scoring weights.

    Returns:
        One entry per distinct sentence, sorted by score (best first).
    """
    best_rank: dict[int, tuple[int, int]] = {}
    for hit in hits:
        record = store.passages[hit.passage]
        for s in range(record.first_sentence, record.last_sentence):
            if s not in best_rank:
                best_rank[s] = (hit.rank, hit.passage)
    if not best_rank:
        return []
    ids = np.fromiter(best_rank, dtype=np.int64)
    cosines = store.sentence_vectors[ids].astype(np.float32) @ query_vector.astype(np.float32).ravel()
    terms = sorted(set(query_tokens))
    idf = idf_weights(store, terms)
    total = sum(idf.values())
    scored = []
    for sid, cosine in zip(ids.tolist(), cosines.tolist()):
        sentence = store.sentences[sid]
        words = set(tokenize(store.documents[sentence.doc_id].text[sentence.start : sentence.end]))
        coverage = sum(idf[t] for t in terms if t in words) / total if total > 0 else 0.0
        rank, passage = best_rank[sid]
        score = params.w_cosine * cosine + params.w_coverage * coverage + params.w_rank / rank
        scored.append(ScoredSentence(sid, passage, rank, float(cosine), float(coverage), float(score)))
    scored.sort(key=lambda s: (-s.score, s.sentence))
    return scored


def confidence_of(best: ScoredSentence | None, params: AnswerParams = DEFAULT_PARAMS) -> float:
    """Estimated probability that the best sentence answers the question."""
    if best is None:
        return 0.0
    z = params.bias + params.a_cosine * best.cosine + params.a_coverage * best.coverage + params.a_score * best.score
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def select(scored: Sequence[ScoredSentence], params: AnswerParams = DEFAULT_PARAMS) -> list[ScoredSentence]:
    """Keep the best sentence and up to ``max_sentences - 1`` close runners-up, in document order."""
    if not scored:
        return []
    best = scored[0]
    floor = best.score * params.relative_margin if best.score > 0 else best.score
    chosen = [s for s in scored[: params.max_sentences] if s is best or s.score >= floor]
    return sorted(chosen, key=lambda s: s.sentence)


def make_citations(store: Store, chosen: Sequence[ScoredSentence]) -> list[Citation]:
    """Citations for the chosen sentences, numbered 1.. in the order given."""
    citations = []
    for number, s in enumerate(chosen, start=1):
        sentence = store.sentences[s.sentence]
        doc = store.documents[sentence.doc_id]
        citations.append(
            Citation(
                number=number,
                doc_id=doc.doc_id,
                title=doc.title,
                quote=doc.text[sentence.start : sentence.end],
                start=sentence.start,
                end=sentence.end,
                score=round(max(0.0, min(1.0, s.cosine)), 4),
                passage_id=s.passage,
            )
        )
    return citations


def make_passages(store: Store, hits: Sequence[Hit]) -> list[Passage]:
    """Public :class:`Passage` objects for retrieval hits."""
    passages = []
    for hit in hits:
        record = store.passages[hit.passage]
        doc = store.documents[record.doc_id]
        passages.append(
            Passage(
                doc_id=doc.doc_id,
                passage_id=hit.passage,
                text=doc.text[record.start : record.end],
                start=record.start,
                end=record.end,
                score=round(hit.score, 6),
                title=doc.title,
            )
        )
    return passages
