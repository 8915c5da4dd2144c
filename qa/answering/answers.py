"""The one place an :class:`qa.types.Answer` is built: sentences chosen by the decision, cited exactly.

:func:`answer` runs the answering stage for one question: score the sentences of the retrieved
passages (:mod:`qa.answering.sentences`), decide (:mod:`qa.answering.decision`, which runs the
reader), and turn the verdict into the answer, its phrase, its citations and its evidence.
:func:`answer_in_conversation` does the same for a question read with its conversation
(:mod:`qa.answering.conversation`): searched with the earlier questions' topic words, in the
documents the earlier answers cited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from qa.answering import conversation
from qa.answering.conversation import WIDE_SEARCH, Resolution, focus
from qa.answering.decision import DecisionModel, Verdict, decide
from qa.answering.sentences import AnswerParams, Query, ScoredSentence, make_query, score_sentences
from qa.index.store import Hit, IndexStore
from qa.types import Answer, Candidate, Citation, FollowUp, Passage

if TYPE_CHECKING:
    from qa.answering.reader import Reader


def answer(
    store: IndexStore,
    question: str,
    query: Query,
    hits: Sequence[Hit],
    params: AnswerParams,
    reader: Reader | None = None,
    model: DecisionModel | None = None,
    read_depth: int = 1,
    follow_up: FollowUp | None = None,
) -> Answer:
    """Answer a question from its retrieved passages, or decline.

    Args:
        store: The index the hits come from.
        question: The question as asked (shown in the answer).
        query: The cleaned question, its vector and terms (see :func:`qa.answering.sentences.make_query`).
        hits: Retrieved passages, best first.
        params: The sentence scorer's weights and threshold.
        reader: The reader, or None for the sentence scorer alone.
        model: The decision fitted with the reader.
        read_depth: Passages the reader reads.
        follow_up: What a follow-up took from the conversation (see :mod:`qa.answering.conversation`).

    Returns:
        The answer, with citations and evidence passages (or related passages when declined).
    """
    scored = score_sentences(store, hits, query, params)
    verdict = decide(store, query.text, hits, scored, params, reader, model, read_depth)
    return from_verdict(store, question, verdict, make_passages(store, hits), follow_up)


def declined(store: IndexStore, question: str, hits: Sequence[Hit], follow_up: FollowUp | None = None) -> Answer:
    """A decline with nothing to propose (confidence 0), its retrieved passages shown as related."""
    return from_verdict(store, question, Verdict((), 0.0), make_passages(store, hits), follow_up)


def from_verdict(store: IndexStore, question: str, verdict: Verdict, passages: list[Passage],
                 follow_up: FollowUp | None = None) -> Answer:
    """The answer for a verdict: the chosen sentences quoted and cited, their passages first among the evidence
    (``follow_up`` records what a follow-up took from the conversation)."""
    if not verdict.chosen:
        candidate = None
        if verdict.candidate is not None:
            cited = make_citations(store, [verdict.candidate])[0]
            candidate = Candidate(cited.quote, cited, verdict.candidate_phrase, verdict.confidence)
        return Answer(question, "", True, verdict.confidence, [], passages, None, candidate, follow_up, status=verdict.status)
    citations = make_citations(store, verdict.chosen)
    used = {c.passage_id for c in citations}
    evidence = [p for p in passages if p.passage_id in used] + [p for p in passages if p.passage_id not in used]
    return Answer(question, " ".join(c.quote for c in citations), False, verdict.confidence, citations, evidence, verdict.phrase,
                  follow_up=follow_up, status=verdict.status)


def make_citations(store: IndexStore, chosen: Sequence[ScoredSentence]) -> list[Citation]:
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
                page=doc.page_at(sentence.start),
            )
        )
    return citations


def make_passages(store: IndexStore, hits: Sequence[Hit]) -> list[Passage]:
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


def answer_in_conversation(
    store: IndexStore,
    question: str,
    text: str,
    resolution: Resolution,
    encode: Callable[[list[str]], np.ndarray],
    top_k: int,
    method: str,
    params: AnswerParams,
    reader: Reader | None = None,
    model: DecisionModel | None = None,
    read_depth: int = 1,
) -> Answer:
    """Answer a question read with its conversation (see :func:`qa.answering.conversation.resolve`).

    Args:
        store: The index.
        question: The question as asked (shown in the answer).
        text: The cleaned question.
        resolution: What the conversation adds: topic words, the documents in focus, what was followed up.
        encode: The embedder's ``encode``.
        top_k: Passages retrieved as evidence.
        method: Retrieval method.
        params, reader, model, read_depth: As for :func:`answer`.

    Returns:
        The answer; its ``follow_up`` says what it took from the conversation (None when that changed nothing).
    """
    query = make_query(store, resolution.query, encode)
    if resolution.declined:  # it refers back to a declined turn about something the documents never mention
        return declined(store, question, store.search(query.vector, query.tokens, top_k, method), resolution.follow_up)
    wide = store.search(query.vector, query.tokens, max(top_k, WIDE_SEARCH), method)
    hits = focus(store, wide, resolution, top_k)
    if hits is None:  # a question of its own whose search left the conversation's documents
        return answer(store, question, query, wide[:top_k], params, reader, model, read_depth)
    if not conversation.READ_WITH_TERMS:
        query = replace(query, text=text)
    used = bool(resolution.follow_up.terms) or [h.passage for h in hits] != [h.passage for h in wide[:top_k]]
    follow_up = resolution.follow_up if used else None  # the conversation changed nothing: say nothing
    return answer(store, question, query, hits, params, reader, model, read_depth, follow_up)
