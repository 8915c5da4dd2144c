"""Follow-up questions: read a question with the conversation it belongs to, without writing anything.

Peers rewrite a follow-up with a language model; qa only chooses what to search for and where.
For a question asked after earlier turns (``history``, oldest first):

1. **Only the last few turns give words and anchors** (:data:`MAX_TURNS`, 3; the document's evidence looks further
   back, see :mod:`qa.answering.topic`).  In CoQA and QuAC a follow-up leans on
   the turn before it far more often than on older ones (in the CoQA tune half the next answer is in
   the same sentence as the last one 49% of the time, the next sentence 19%), and every older turn
   adds words that pull retrieval back to what was already answered; three turns keep the topic of
   a short exchange ("Who ...?" / "When?" / "Where?") and bound the work per question.
2. **Does it depend on them?** (:func:`depends`): it refers back (a pronoun or demonstrative:
   "who is building *it*?"), it is elliptic ("and when?", "what about Korea?", "anything else?"),
   or it names nothing of its own: none of its words is a topic word of the corpus (rare enough to
   pick out documents, see :data:`TOPIC_DF_SHARE`) — a weak retrieval of its own, told from the
   index's term statistics without a second search.
3. **The conversation's document** (:mod:`qa.answering.topic`): each document gathers evidence over the
   dialogue (the earlier questions' own searches, the earlier answers' documents, a declined turn's unconfirmed
   candidate less, decayed per turn, and the question's own search), so a wrong first answer is outvoted later.
   A ``(question, text)`` pair gets the document of the indexed sentence its text starts with.
4. **A dependent question** (:func:`resolve`):

   * *HQE-style expansion* (Lin et al. 2020, "Query Reformulation using Query History for Passage
     Retrieval in Conversational Search"): topic words of the earlier QUESTIONS whose own search favoured the
     conversation's document, the most recent turn first and the rarest (highest BM25 IDF) first within a turn,
     above an IDF floor and held by that document, are added to what is searched for and scored
     (:data:`MAX_TERMS`, 1 when tuned) — never words of the earlier answers, which HQE found to hurt;
   * *document focus*: it is answered from the passages of the conversation's document (:data:`FOCUS_ONLY`),
     those its own search found first, then the others nearest the last cited passage (:func:`focus`), so the
     reader reads where the conversation is;
   * a question that names topic words the document lacks while its own search strongly prefers another
     document (:data:`RESET_SHARE`) has changed the subject: it is answered as if it were the first.
5. **A question of its own** keeps the focus (:data:`SOFT_FOCUS`) only when the conversation's document
   holds one of the topic words it names and its own search found that document; otherwise it has changed
   the subject and is answered as if it were the first.
6. **A follow-up to an off-topic decline** ("What is the population of Brazil?" of an article that
   never names Brazil, then "and its capital?") is declined too (:func:`off_topic`), but only when that
   turn found nothing relevant at all (no candidate, confidence 0), never after a turn that was merely unsure.
7. **History never costs an answer** (:data:`FALLBACK_ALONE`): a follow-up declined with its conversation is
   asked alone too, and takes that answer when it cites the conversation's document or the one its own search
   points to; otherwise a follow-up that refers back is shown as unconfirmed with the closest sentence of the
   conversation's document (:data:`KEEP_CANDIDATE`), never declined outright.

The answer stays extractive: the reader reads the question (with the added words after it), the
decision is the same fitted one, and a follow-up still declines when the documents do not answer.
:class:`qa.types.FollowUp` records what was used.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from qa.answering import topic
from qa.answering.sentences import idf_weights, sentence_terms
from qa.answering.topic import find_sentence
from qa.documents.lexical import content_words, stem
from qa.errors import a_or_an, counted
from qa.index.store import Hit, IndexStore
from qa.types import Answer, FollowUp, Span

logger = logging.getLogger(__name__)

MAX_TURNS = 3
"""Earlier turns that count (the most recent ones; see the module docstring)."""
MAX_TERMS = 1
"""Most topic words added to a follow-up (tuned: 1 beat 2, 3 and 6 on the CoQA and DoQA tune halves)."""
TOPIC_DF_SHARE = 0.05
"""A word is a topic word when at most this share of the passages (and at least one) holds it."""
TOPIC_MIN_DF = 3
"""... or at most this many passages, in a small corpus."""
FOCUS_PASSAGES = 8
"""Most passages of a focused document put ahead of the other retrieved passages."""
WIDE_SEARCH = 20
"""Passages searched for a follow-up before the focus picks ``top_k`` of them."""
FOCUS_ONLY = True
"""Whether a follow-up with a focused document is answered from that document's passages alone."""
ALWAYS_DEPENDS = False
"""Whether every question asked with history is read as a follow-up (the tuning's upper bound of :func:`depends`)."""
SOFT_FOCUS = True
"""Whether a question that does not depend on the conversation still stays in the earlier answers' document when
that document holds one of the topic words it names (:data:`SOFT_WORDS`) and its own search found it among its first
:data:`SOFT_TOP` passages (a conversation mostly stays on one document)."""
SOFT_TOP = 20
"""See :data:`SOFT_FOCUS`."""
SOFT_WORDS = True
"""Whether a question of its own keeps the focus only when the focused document holds one of the topic words it
names (one that names only things the document never mentions has changed the subject)."""
TERMS_BY_IDF = True
"""Whether a turn's topic words are taken rarest first (else in the order asked; on the tune halves rarest
first did as well on CoQA and better on DoQA)."""
DECLINE_OFF_TOPIC = True
"""Whether a follow-up that refers back to a declined, off-topic turn is declined (see :func:`off_topic`)."""
READ_WITH_TERMS = True
"""Whether the reader and the sentence scorer read the follow-up with its added topic words (else as asked)."""
OWN_WEIGHT_ALONE = 1.5
"""Weight of a question's own search shares in the conversation's evidence when it does not depend on the
conversation (see :mod:`qa.answering.topic`; :data:`qa.answering.topic.OWN_WEIGHT` when it does)."""
RESET_SHARE = 0.5
"""A follow-up naming topic words the conversation's document lacks leaves it when its own search gives another
document at least this share (a change of subject: "what about Korea?" when Korea lives elsewhere)."""
TERMS_FROM_TOPIC = True
"""Whether topic words are added only from earlier questions whose own search favoured the conversation's document."""
TERMS_IN_FOCUS = True
"""Whether only topic words the conversation's document holds are added."""
PAIR_LOOKUP = True
"""Whether a ``(question, text)`` history item gets the document of the indexed sentence its text starts with."""
FALLBACK_ALONE = 3
"""A follow-up declined with its conversation (nothing to show: an unconfirmed answer still shows its sentence) is
asked alone too, and answered so when that answers (history never costs an answer): 0 never, 1 always, 2 only when that answer cites a document in focus, 3 also when it cites the
document the question's own search prefers with at least :data:`RESET_SHARE` (the question points there itself)."""
KEEP_CANDIDATE = True
"""Whether a follow-up that refers back to the conversation (:func:`refers_back`; not one about something the
documents never mention, :func:`off_topic`), declined outright in the conversation's document and not answered alone
either, is shown as unconfirmed with the best sentence of that document instead (answers first: the thread says where
to look, so "nothing relevant" there is the reader's doubt, not the documents' silence)."""
FOCUS_DOCS = 1
"""Documents in focus: the one the evidence favours, then the next ones by evidence (their passages after its own,
:data:`FOCUS_PASSAGES` each), so a short document does not leave the reader with fewer passages."""
PHRASE_WITH_TURN = True
"""Whether a follow-up answered with the sentence the previous turn quoted gets as its phrase the reader's span in
that sentence read with the previous turn before the question ("When will the new fighter jet be airborne? 2035.
And who is building it?"), as conversational readers take their history: the reader then knows what was already
answered there."""
RELIABLE_SHARE = 0.5
"""The evidence share of the conversation's document above which the thread is reliable (see :attr:`Resolution.near`)."""
NEAR_BONUS = (0.0, 0.0)
"""Scorer logit bonus for the sentence of the last answer and the next one when the thread is reliable (0: no prior)."""

REFERRING = frozenset(
    "he she it they him her his hers its their theirs them himself herself itself themselves this that these those "
    "there then one ones former latter such same other another else".split()
)
"""Words that point back to something said before."""
_ELLIPTIC = re.compile(
    r"^\W*(?:and|but|also|so|or|then|what about|how about|what else|anything else|any other|anything|any more|"
    r"what other|which other|who else|where else|when else|how else|why not|did (?:he|she|they|it)|"
    r"was (?:he|she|it)|were they|is (?:he|she|it)|are they)\b",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True)
class Turn:
    """An earlier turn as the conversation needs it.

    Attributes:
        question: The question asked.
        text: The answer's text (``""`` when declined).
        cited: The spans its citations point at, first citation first (empty for a ``(question, text)``
            pair, or a declined turn); for a declined turn with an unconfirmed candidate, the candidate's span.
        tentative: ``cited`` is an unconfirmed candidate's (the turn was declined): it counts less.
        nothing: The turn was declined with nothing relevant found (confidence 0, no candidate).
        phrase: The answer phrase of an answered turn (``""`` when none).
    """

    question: str
    text: str
    cited: tuple[Span, ...] = ()
    tentative: bool = False
    nothing: bool = False
    phrase: str = ""


def turn_of_answer(answer: Answer) -> Turn:
    """What the conversation keeps of an answer: its question, text and cited spans (a declined answer's candidate
    as a tentative span; a decline with nothing relevant marked as such)."""
    if not answer.abstained or answer.candidate is None:
        cited = tuple(Span(c.doc_id, c.start, c.end, c.quote) for c in answer.citations)
        phrase = answer.phrase.text if answer.phrase is not None and not answer.abstained else ""
        return Turn(answer.question, answer.text, cited, nothing=answer.abstained and not answer.citations and answer.confidence == 0.0,
                    phrase=phrase)
    c = answer.candidate.citation
    return Turn(answer.question, answer.text, (Span(c.doc_id, c.start, c.end, c.quote),), tentative=True)


def turns_of(history: Sequence[object] | None) -> list[Turn]:
    """Check a ``history`` argument and turn it into :class:`Turn` objects (all of them, oldest first).

    Args:
        history: None, or a list of earlier turns, each a :class:`qa.Answer`, a :class:`Turn`, or a
            ``(question, answer_text)`` pair of strings.

    Returns:
        One turn per item, in the order given.

    Raises:
        ValueError: ``history`` is not a list or tuple, or an item (named by its position) is not one
            of the accepted kinds or has an empty question.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, (list, tuple)):
        raise ValueError(
            f"history must be a list of earlier turns (qa.Answer objects or (question, answer_text) pairs), "
            f"oldest first. Currently, history is {a_or_an(type(history).__name__)}."
        )
    turns = []
    for i, item in enumerate(history):
        if isinstance(item, Answer):
            turn = turn_of_answer(item)
        elif isinstance(item, Turn):
            turn = item
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            turn = Turn(item[0], item[1])
        else:
            raise ValueError(
                f"history[{i}] must be a qa.Answer or a (question, answer_text) pair of strings. "
                f"Currently, history[{i}] is {_describe(item)}."
            )
        if not isinstance(turn.question, str) or not turn.question.strip():
            raise ValueError(f"history[{i}] has an empty question: give each earlier turn the question that was asked")
        if not isinstance(turn.text, str):
            raise ValueError(f"history[{i}] has an answer text of type {type(turn.text).__name__}: pass a string ('' when declined)")
        turns.append(turn)
    return turns


def _describe(item: object) -> str:
    if isinstance(item, (tuple, list)):
        return f"{a_or_an(type(item).__name__)} of {counted(len(item), 'item')} ({', '.join(type(x).__name__ for x in item[:3])})"
    return f"{a_or_an(type(item).__name__)} ({item!r:.40})"


def refers_back(question: str) -> bool:
    """Whether the question points back to the conversation: a pronoun or demonstrative, or an elliptic opening."""
    if _ELLIPTIC.match(question):
        return True
    return any(w.lower() in REFERRING for w in _WORDS.findall(question))


def topic_floor(store: IndexStore) -> float:
    """The IDF above which a stem is a topic word of this corpus (see :data:`TOPIC_DF_SHARE`)."""
    n = len(store.passages)
    df = max(TOPIC_MIN_DF, int(TOPIC_DF_SHARE * n))
    return _idf(n, df)


def _idf(n: int, df: int) -> float:
    import math

    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def topic_stems(store: IndexStore, question: str) -> set[str]:
    """The stems of a question's topic words: held by some passages, and rare enough (see :func:`topic_floor`)."""
    stems = {stem(w) for w in content_words(question)}
    floor = topic_floor(store)
    return {s for s, w in idf_weights(store, sorted(stems)).items() if w >= floor and store.bm25.doc_freq(s) > 0}


def doc_stems(store: IndexStore, doc_id: str) -> frozenset[str]:
    """The stemmed content words of a document (from its sentences' cached term data)."""
    stems: set[str] = set()
    for sid in _doc_rows(store.sentences, doc_id):
        stems |= sentence_terms(store, sid).tokens
    return frozenset(stems)


def depends(store: IndexStore, question: str) -> bool:
    """Whether a question depends on the conversation: it refers back, is elliptic, or names no topic word.

    A stem no passage holds is no topic word either (it cannot pick out a document).
    """
    return ALWAYS_DEPENDS or refers_back(question) or not topic_stems(store, question)


def off_topic(store: IndexStore, question: str) -> bool:
    """Whether a question is about something the documents never mention: some of its words occur in no
    passage, and none of the others is a topic word (``"What is the population of Brazil?"`` of an article
    that never names Brazil)."""
    stems = {stem(w) for w in content_words(question)}
    unseen = {s for s in stems if store.bm25.doc_freq(s) == 0}
    if not unseen:
        return False
    floor = topic_floor(store)
    return not any(w >= floor for s, w in idf_weights(store, sorted(stems - unseen)).items())


@dataclass(frozen=True)
class Resolution:
    """How a follow-up is asked.

    Attributes:
        query: The text searched for and scored: the question, then the added topic words.
        follow_up: What was taken from the conversation (recorded on the answer).
        focus: The documents preferred, most recent first.
        anchors: The passages the earlier answers cited, most recent first (their neighbours come first).
        soft: The question stands alone: the focus applies only when its own search found a focused document
            among its first :data:`SOFT_TOP` passages.
        declined: The question refers back to a declined turn about something the documents never mention
            (see :func:`off_topic`): it is declined too, rather than answered with whatever it matches alone.
        near: The last answer's cited span when the thread is reliable (it was answered, in the document the
            evidence favours with at least :data:`RELIABLE_SHARE`): the reader reads around it.
    """

    query: str
    follow_up: FollowUp
    focus: tuple[str, ...]
    anchors: tuple[int, ...]
    soft: bool = False
    declined: bool = False
    near: Span | None = None


def cited_spans(store: IndexStore, turn: Turn) -> tuple[Span, ...]:
    """The spans a turn's answer cited; for a ``(question, text)`` pair, the indexed sentence its text starts with
    (:func:`qa.answering.topic.find_sentence`, :data:`PAIR_LOOKUP`)."""
    if turn.cited or not turn.text or not PAIR_LOOKUP:
        return tuple(s for s in turn.cited if s.doc_id in store.documents)
    found = find_sentence(store, turn.text)
    return (found,) if found is not None else ()


def resolve(store: IndexStore, question: str, turns: Sequence[Turn], own: dict[str, float] | None = None,
            earlier: Sequence[dict[str, float]] | None = None) -> Resolution | None:
    """How to ask ``question`` after ``turns`` (oldest first); None when it stands alone.

    Args:
        store: The index (its term statistics pick the topic words).
        question: The cleaned question.
        turns: The earlier turns, oldest first.
        own: The question's own search shares (see :func:`qa.answering.topic.search_shares`); None for none.
        earlier: The search shares of the last :data:`qa.answering.topic.MAX_EVIDENCE_TURNS` turns' questions
            (oldest first); None when not searched (the evidence is then the earlier answers' alone).

    Returns:
        The expanded query and the focus, or None when there is no earlier turn, or the question does not
        depend on them, or it changed the subject.
    """
    recent = list(turns[-MAX_TURNS:])
    if not recent:
        return None
    dependent = depends(store, question)
    if not dependent and not SOFT_FOCUS:
        return None
    last = recent[-1]
    if DECLINE_OFF_TOPIC and dependent and refers_back(question) and not last.text and last.nothing and off_topic(store, last.question):
        follow_up = FollowUp(len(turns) - 1, last.question)
        return Resolution(question, follow_up, (), (), declined=True)
    window = list(turns[-topic.MAX_EVIDENCE_TURNS:])
    base = len(turns) - len(window)
    cited = [cited_spans(store, t) for t in window]
    shares = list(earlier) if earlier is not None else [{} for _ in window]
    answer_docs = [(c[0].doc_id if c else None, (topic.CANDIDATE_WEIGHT if t.tentative else topic.ANSWER_WEIGHT) if c else 0.0)
                   for t, c in zip(window, cited)]
    evidence = topic.conversation_document(shares, answer_docs, own or {}, topic.OWN_WEIGHT if dependent else OWN_WEIGHT_ALONE)
    doc = evidence.document
    if doc is None:
        return None
    names = topic_stems(store, question)
    if names and not names & doc_stems(store, doc):
        # it names only things the conversation's document never mentions: a change of subject when its own
        # search strongly prefers another document (a question of its own leaves in any case, see SOFT_WORDS)
        own_top = max(own, key=lambda d: own[d]) if own else None
        if not dependent and SOFT_WORDS:
            return None
        if own_top is not None and own_top != doc and own[own_top] >= RESET_SHARE:
            return None
    topic_turns = [i for i, s in enumerate(shares) if not s or max(s, key=lambda d: s[d]) == doc]
    own_stems = {stem(w) for w in content_words(question)}
    floor = topic_floor(store)
    in_doc = doc_stems(store, doc) if TERMS_IN_FOCUS else None
    added: list[str] = []
    seen = set(own_stems)
    source = None
    for back, turn in enumerate(reversed(recent) if dependent else ()):
        i = len(window) - 1 - back
        if TERMS_FROM_TOPIC and i >= 0 and i not in topic_turns:
            continue
        words = [w for w in dict.fromkeys(content_words(turn.question)) if stem(w) not in seen]
        idf = idf_weights(store, sorted({stem(w) for w in words}))
        topical = [w for w in words if store.bm25.doc_freq(stem(w)) > 0 and idf[stem(w)] >= floor
                   and (in_doc is None or stem(w) in in_doc)]
        if TERMS_BY_IDF:
            topical.sort(key=lambda w: -idf[stem(w)])
        for w in topical:
            if len(added) < MAX_TERMS:
                added.append(w)
                seen.add(stem(w))
        if topical and source is None:
            source = len(turns) - 1 - back
    anchors: list[int] = []
    cited_turn = None
    for back, spans in enumerate(reversed(cited)):
        for span in spans:
            if span.doc_id != doc:
                continue
            passage = _passage_at(store, span) if back < MAX_TURNS else None
            if passage is not None and passage not in anchors:
                anchors.append(passage)
            if cited_turn is None:
                cited_turn = len(turns) - 1 - back
    last_cited = cited[-1]
    reliable = (not last.tentative and bool(last_cited) and last_cited[0].doc_id == doc
                and evidence.share >= RELIABLE_SHARE)
    near = last_cited[0] if reliable else None
    ranked = sorted(evidence.scores, key=lambda d: (-evidence.scores[d], d))
    docs = [doc] + [d for d in ranked if d != doc and (dependent or names & doc_stems(store, d))][: FOCUS_DOCS - 1]
    index = cited_turn if cited_turn is not None else (source if source is not None else len(turns) - 1)
    follow_up = FollowUp(index, turns[index].question, tuple(added), tuple(docs))
    return Resolution(" ".join([question, *added]), follow_up, tuple(docs), tuple(anchors), not dependent,
                      near=near)


_RANGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def doc_passages(store: IndexStore, doc_id: str) -> range:
    """The positions of a document's passages (consecutive in every store), cached per loaded store."""
    return _doc_rows(store.passages, doc_id)


def doc_sentences(store: IndexStore, doc_id: str) -> range:
    """The positions of a document's sentences (consecutive in every store), cached per loaded store."""
    return _doc_rows(store.sentences, doc_id)


def _doc_rows(table: Sequence, doc_id: str) -> range:
    ranges = None
    try:
        ranges = _RANGES.get(table)
    except TypeError:
        pass
    if ranges is None:
        if hasattr(table, "doc_ranges"):
            ranges = table.doc_ranges()
        else:
            ranges = {}
            for i, record in enumerate(table):
                first, _ = ranges.get(record.doc_id, (i, i))
                ranges[record.doc_id] = (first, i + 1)
        try:
            _RANGES[table] = ranges
        except TypeError:
            pass
    first, end = ranges.get(doc_id, (0, 0))
    return range(first, end)


def _passage_at(store: IndexStore, span: Span) -> int | None:
    """The passage of ``span``'s document that holds its first character (None when the document changed)."""
    for p in doc_passages(store, span.doc_id):
        record = store.passages[p]
        if record.start <= span.start < record.end:
            return p
    return None


def focus(store: IndexStore, hits: Sequence[Hit], resolution: Resolution, top_k: int) -> list[Hit] | None:
    """The ``top_k`` passages to answer a follow-up from: the focused documents' passages first.

    Within a focused document, passages the search found keep their order; the others follow, the
    nearest to an earlier answer's passage first (:data:`FOCUS_PASSAGES` at most per document).  The
    other retrieved passages fill the remaining places.  With no focus, the hits are kept as they are.

    Args:
        store: The index.
        hits: The follow-up's own retrieved passages (searched with the expanded query), best first.
        resolution: What :func:`resolve` found.
        top_k: Passages to return.

    Returns:
        Hits renumbered 1.. (a focused passage the search did not find has score 0); None for a soft
        resolution whose search found no focused document (the question changed the subject).
    """
    if resolution.soft and not any(store.passages[h.passage].doc_id in resolution.focus for h in hits[:SOFT_TOP]):
        return None
    if not resolution.focus:
        return [Hit(h.passage, h.score, r) for r, h in enumerate(hits[:top_k], start=1)]
    by_passage = {h.passage: h for h in hits}
    ordered: list[Hit] = []
    for doc_id in resolution.focus:
        own = doc_passages(store, doc_id)
        found = [h for h in hits if h.passage in own]
        anchors = [a for a in resolution.anchors if a in own]
        def near(p: int, anchors: list[int] = anchors) -> tuple[int, int]:
            return (min((abs(p - a) for a in anchors), default=0), p)

        rest = sorted((p for p in own if p not in by_passage), key=near)
        ordered += (found + [Hit(p, 0.0, 0) for p in rest])[:FOCUS_PASSAGES]
    chosen = {h.passage for h in ordered}
    if not (FOCUS_ONLY and ordered):
        ordered += [h for h in hits if h.passage not in chosen]
    return [Hit(h.passage, h.score, r) for r, h in enumerate(ordered[:top_k], start=1)]
