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
from qa.answering import topic
from qa.answering.conversation import WIDE_SEARCH, Resolution, Turn, focus, resolve
from qa.answering.decision import DecisionModel, Verdict, decide
from qa.answering.sentences import AnswerParams, Query, ScoredSentence, make_query, score_sentences
from qa.documents.lexical import tokenize
from qa.index.store import Hit, IndexStore
from qa.answering.reading import TRAILING
from qa.types import Answer, Candidate, Citation, FollowUp, Passage, Span

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
    near: dict[int, float] | None = None,
    keep: bool = False,
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
        near: Scorer logit bonuses by sentence index (a follow-up's position prior); None or empty for none.
        keep: Never decline outright (see :func:`qa.answering.decision.decide`).

    Returns:
        The answer, with citations and evidence passages (or related passages when declined).
    """
    scored = score_sentences(store, hits, query, params)
    if near:
        scored = sorted((replace(s, score=s.score + near.get(s.sentence, 0.0)) for s in scored), key=lambda s: -s.score)
    verdict = decide(store, query.text, hits, scored, params, reader, model, read_depth, keep)
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
    turns: Sequence[Turn],
    encode: Callable[[list[str]], np.ndarray],
    top_k: int,
    method: str,
    params: AnswerParams,
    reader: Reader | None = None,
    model: DecisionModel | None = None,
    read_depth: int = 1,
) -> Answer:
    """Answer a question read with its conversation (see :func:`qa.answering.conversation.resolve`).

    The question's own search and the earlier questions' (cached, see :mod:`qa.answering.topic`) give the
    conversation's document; a question that does not depend on the conversation, or changed the subject, is
    answered as a first turn.  With :data:`qa.answering.conversation.FALLBACK_ALONE`, a follow-up declined with its
    conversation is answered alone when that answers: the conversation never costs an answer.

    Args:
        store: The index.
        question: The question as asked (shown in the answer).
        text: The cleaned question.
        turns: The earlier turns, oldest first (see :func:`qa.answering.conversation.turns_of`).
        encode: The embedder's ``encode``.
        top_k: Passages retrieved as evidence.
        method: Retrieval method.
        params, reader, model, read_depth: As for :func:`answer`.

    Returns:
        The answer; its ``follow_up`` says what it took from the conversation (None when that changed nothing).
    """
    own_query = make_query(store, text, encode)
    own_hits = store.search(own_query.vector, own_query.tokens, max(top_k, WIDE_SEARCH), method)
    own = topic.search_shares(store, own_hits)
    topic.SHARES.put(store, text, own)
    window = [" ".join(t.question.split()) for t in turns[-topic.MAX_EVIDENCE_TURNS:]]

    def search_many(questions: list[str]) -> list[list[Hit]]:
        vectors = encode(questions)
        return [store.search(v, tokenize(q), topic.EVIDENCE_DEPTH, method) for q, v in zip(questions, vectors)]

    earlier = topic.question_shares(store, window, search_many)
    resolution = resolve(store, text, turns, own, earlier)

    def alone() -> Answer:
        return answer(store, question, own_query, own_hits[:top_k], params, reader, model, read_depth)

    if resolution is None:  # it stands alone, or changed the subject
        return alone()
    if resolution.declined:  # it refers back to a declined turn about something the documents never mention
        return declined(store, question, own_hits[:top_k], resolution.follow_up)
    if resolution.query == text:
        query, wide = own_query, own_hits
    else:
        query = make_query(store, resolution.query, encode)
        wide = store.search(query.vector, query.tokens, max(top_k, WIDE_SEARCH), method)
    hits = focus(store, wide, resolution, top_k)
    if hits is None:  # a question of its own whose search left the conversation's documents
        return alone()
    if not conversation.READ_WITH_TERMS:
        query = replace(query, text=text)
    used = bool(resolution.follow_up.terms) or [h.passage for h in hits] != [h.passage for h in own_hits[:top_k]]
    follow_up = resolution.follow_up if used else None  # the conversation changed nothing: say nothing
    near = near_sentences(store, resolution)
    result = answer(store, question, query, hits, params, reader, model, read_depth, follow_up, near)
    if reader is not None and conversation.PHRASE_WITH_TURN:
        result = rephrased(store, reader, text, turns[-1], result)
    if result.abstained and result.candidate is None and conversation.FALLBACK_ALONE and used:  # declined outright
        first = alone()
        if not first.abstained and fallback_ok(first.citations[0].doc_id, resolution, own):
            return first
        if conversation.KEEP_CANDIDATE and keeps_candidate(store, text):
            kept = answer(store, question, query, hits, params, reader, model, read_depth, follow_up, near, keep=True)
            if reader is not None and conversation.PHRASE_WITH_TURN:
                kept = rephrased(store, reader, text, turns[-1], kept)
            return kept
    return result


def keeps_candidate(store: IndexStore, text: str) -> bool:
    """Whether a follow-up declined outright in its conversation's document shows that document's closest sentence
    (:data:`qa.answering.conversation.KEEP_CANDIDATE`): it refers back ("how much did it cost?") and is not about
    something the documents never mention ("what is the capital of France?" stays declined)."""
    return conversation.refers_back(text) and not conversation.off_topic(store, text)


def fallback_ok(doc_id: str, resolution: Resolution, own: dict[str, float]) -> bool:
    """Whether a follow-up declined with its conversation takes its answer alone, citing ``doc_id``
    (see :data:`qa.answering.conversation.FALLBACK_ALONE`)."""
    mode = conversation.FALLBACK_ALONE
    if mode == 1 or doc_id in resolution.focus:
        return True
    return mode == 3 and own.get(doc_id, 0.0) >= conversation.RESET_SHARE and max(own.values()) == own[doc_id]


def rephrased(store: IndexStore, reader: Reader, text: str, last: Turn, result: Answer) -> Answer:
    """A follow-up's answer (or unconfirmed candidate) whose sentence is the one the previous answered turn quoted,
    with its phrase read with that turn before the question (see :func:`phrase_with_turn`); else as it was."""
    cited = result.citations[0] if result.citations else (result.candidate.citation if result.candidate is not None else None)
    if cited is None or not last.phrase or not last.cited or last.tentative:
        return result
    prev = last.cited[0]
    if (cited.doc_id, cited.start, cited.end) != (prev.doc_id, prev.start, prev.end):
        return result
    phrase = phrase_with_turn(store, reader, text, last, cited)
    if phrase is None:
        return result
    if result.citations:
        return replace(result, phrase=phrase)
    return replace(result, candidate=replace(result.candidate, phrase=phrase))  # type: ignore[arg-type]


def phrase_with_turn(store: IndexStore, reader: Reader, text: str, last: Turn, cited: Citation) -> Span | None:
    """The answer phrase of a follow-up: the reader's best span in the cited sentence, read with the previous
    turn's question and answer phrase before the question (None when it finds none)."""
    read = reader.read(f"{last.question} {last.phrase}. {text}", [cited.quote])[0]
    if read.span is None:
        return None
    start, end = cited.start + read.span.start, cited.start + read.span.end
    doc_text = store.documents[cited.doc_id].text
    while start < end and doc_text[start].isspace():
        start += 1
    while end > start and (doc_text[end - 1].isspace() or doc_text[end - 1] in TRAILING):
        end -= 1
    return Span(cited.doc_id, start, end, doc_text[start:end]) if end > start else None


def near_sentences(store: IndexStore, resolution: Resolution) -> dict[int, float]:
    """Scorer bonuses for the sentence of the last answer and the next one, when the thread is reliable
    (:data:`qa.answering.conversation.NEAR_BONUS`; empty when there is none)."""
    span = resolution.near
    bonus = conversation.NEAR_BONUS
    if span is None or not any(bonus):
        return {}
    rows = conversation.doc_sentences(store, span.doc_id)
    for sid in rows:
        s = store.sentences[sid]
        if s.start <= span.start < s.end:
            return {j: b for j, b in zip(range(sid, sid + len(bonus)), bonus) if j in rows and b}
    return {}
