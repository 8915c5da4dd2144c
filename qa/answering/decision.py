"""The answer decision: which sentence answers, and whether to answer at all.

Two readers of the retrieved passages each propose answer sentences:

* the sentence scorer (:mod:`qa.answering.sentences`) ranks every sentence of the retrieved
  passages; its best sentence is one option;
* the reader (:mod:`qa.answering.reader`) reads the top ``depth`` passages, plus the passage of
  the scorer's best sentence; the sentence holding each passage's best span is an option.

**Choice.** Each option gets a logit from :data:`OPTION_FEATURES` (the scorer's
probability of the sentence, whether it is the scorer's best, whether and how
strongly the reader picked it, whether it is the reader's overall best, and
whether it lies in the top passage); the highest wins.  **Decision.** A second
logistic model over :data:`DECISION_FEATURES` (the winner's logit, the
reader's answerable and span scores, agreement of the two readers, the
scorer's probability, the verifier's logits) gives the confidence.  **Tiers.** At or above
the answer threshold (``t_answer``) the reply is *answered*; between the decline threshold
(``t_decline``) and ``t_answer`` it is *unconfirmed*: the chosen sentence is shown as the
closest sentence, not as the answer; below ``t_decline``, or when both keys say no
(:func:`nothing_relevant`), it is *declined* with nothing to propose.  Models and thresholds are
fitted by ``eval/calibration/calibrate_reader.py`` on data neither the reader nor anything else was trained
on (see its docstring for how each threshold is chosen).

The answer phrase is the reader's span inside the chosen sentence: its best
span there when it picked that sentence, else its best span restricted to the
sentence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qa.answering.evidence import EVIDENCE_FEATURES, evidence, question_of
from qa.answering.reading import PassageRead, read_passages, verifier_for
from qa.answering.sentences import AnswerParams, ScoredSentence, confidence_of, probability, select
from qa.errors import ModelLoadError
from qa.index.store import Hit, IndexStore
from qa.types import Span

if TYPE_CHECKING:
    from qa.answering.reader import Reader

OPTION_FEATURES = ("scorer_logit", "scorer_best", "reader_pick", "reader_score", "reader_best", "top_passage", "verified")
"""Features of one answer option (see the module docstring); ``reader_score`` is 0 when the reader did not pick it,
``verified`` the verifier's logit for the sentence (0 without a verifier)."""
DECISION_FEATURES = ("choice_logit", "max_answerable", "best_read_score", "chose_reader_best", "scorer_logit",
                     "top_answerable", "top_margin", "chosen_verified", "max_verified", *EVIDENCE_FEATURES)
"""Features of the chosen option for the confidence (the last ones: :mod:`qa.answering.evidence`)."""
NO_READ = -30.0
"""The reader score of a question with no usable read."""


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Linear:
    """A logistic model: ``sigmoid(bias + weights . features)``."""

    bias: float
    weights: tuple[float, ...]

    def logit(self, features: Sequence[float]) -> float:
        """The model's logit for one feature vector."""
        return self.bias + sum(w * f for w, f in zip(self.weights, features))


@dataclass(frozen=True)
class DecisionModel:
    """The fitted choice and decision (``reader.json``'s ``"decision"``).

    Attributes:
        depth: Retrieved passages the reader reads (the scorer's best sentence's passage is read too).
        choice: Logistic model over :data:`OPTION_FEATURES`.
        answer: Logistic model over :data:`DECISION_FEATURES`.
        threshold: ``t_answer``: the confidence at or above which the reply is answered.
        decline: ``t_decline``: the confidence below which it is declined (between the two: unconfirmed).
    """

    depth: int
    choice: Linear
    answer: Linear
    threshold: float
    decline: float = 0.0

    @classmethod
    def from_config(cls, config: dict) -> DecisionModel:
        """Read the ``"decision"`` entry of ``reader.json``.

        ``"t_answer"`` and ``"t_decline"`` are the thresholds (a folder fitted before the tiers has one
        ``"threshold"``: it is ``t_answer``, and ``t_decline`` is 0: every reply with a sentence below it is unconfirmed).
        A decision fitted before some evidence features (:mod:`qa.answering.evidence`) existed gives them weight 0
        (its ``"features"`` must then be the first of :data:`DECISION_FEATURES`, in order).

        Raises:
            ValueError: A weight list has the wrong length, or the depth or a threshold is out of range.
        """
        choice = Linear(float(config["choice"]["bias"]), tuple(float(w) for w in config["choice"]["weights"]))
        answer = Linear(float(config["answer"]["bias"]), tuple(float(w) for w in config["answer"]["weights"]))
        named = tuple(config["answer"].get("features", DECISION_FEATURES[: len(answer.weights)]))
        if len(answer.weights) < len(DECISION_FEATURES) and named == DECISION_FEATURES[: len(answer.weights)]:
            answer = Linear(answer.bias, answer.weights + (0.0,) * (len(DECISION_FEATURES) - len(answer.weights)))
        if len(choice.weights) != len(OPTION_FEATURES) or len(answer.weights) != len(DECISION_FEATURES):
            raise ValueError(
                f"reader.json's decision has {len(choice.weights)} choice and {len(answer.weights)} answer weights; "
                f"expected {len(OPTION_FEATURES)} and {len(DECISION_FEATURES)}: refit with eval/calibration/calibrate_reader.py"
            )
        depth = int(config["depth"])
        threshold = float(config["t_answer"] if "t_answer" in config else config["threshold"])
        decline = float(config.get("t_decline", 0.0))
        if depth < 1 or not 0.0 <= decline <= threshold <= 1.0:
            raise ValueError(f"reader.json's decision has depth {depth}, t_answer {threshold} and t_decline {decline} "
                             "(0 <= t_decline <= t_answer <= 1 expected): refit with eval/calibration/calibrate_reader.py")
        return cls(depth, choice, answer, threshold, decline)

    def to_config(self) -> dict:
        """The ``"decision"`` entry of ``reader.json``."""
        return {
            "depth": self.depth,
            "choice": {"features": list(OPTION_FEATURES), "bias": self.choice.bias, "weights": list(self.choice.weights)},
            "answer": {"features": list(DECISION_FEATURES), "bias": self.answer.bias, "weights": list(self.answer.weights)},
            "t_answer": self.threshold,
            "t_decline": self.decline,
        }


DEFAULT_DECISION = DecisionModel(
    1, Linear(-3.0, (0.0, 3.5, 0.5, 0.2, 0.5, 0.5, 0.0)),
    Linear(-1.5, (0.9, 0.2, 0.1, -1.0, 0.2, 0.2, 0.0, 0.0, 0.0) + (0.0,) * len(EVIDENCE_FEATURES)), 0.1
)
"""Used for a reader folder whose ``reader.json`` has no fitted decision (round figures of a fit)."""


def hits_to_read(hits: Sequence[Hit], scored: Sequence[ScoredSentence], depth: int) -> list[Hit]:
    """The top ``depth`` hits, plus the hit holding the scorer's best sentence when it is deeper."""
    chosen = list(hits[:depth])
    if scored and all(h.passage != scored[0].passage for h in chosen):
        chosen += [h for h in hits if h.passage == scored[0].passage][:1]
    return chosen


@dataclass(frozen=True)
class Option:
    """One candidate answer sentence.

    Attributes:
        sentence: Global sentence index.
        scorer_prob: The sentence scorer's probability for it (0 when it did not score it).
        scorer_best: It is the scorer's best sentence.
        read: The reader's pick in this sentence (its best-scoring passage), or None.
        reader_best: It holds the reader's best span over all passages read.
        verified: The verifier's logit that the sentence answers the question (0 without a verifier).
    """

    sentence: int
    scorer_prob: float
    scorer_best: bool
    read: PassageRead | None
    reader_best: bool
    verified: float = 0.0

    def features(self) -> list[float]:
        """Its :data:`OPTION_FEATURES`."""
        return [
            _logit(self.scorer_prob), float(self.scorer_best), float(self.read is not None),
            self.read.score if self.read is not None else 0.0, float(self.reader_best),
            float(self.read is not None and self.read.rank == 1), self.verified,
        ]


def options(scored: Sequence[ScoredSentence], reads: Sequence[PassageRead]) -> list[Option]:
    """The scorer's best sentence and every sentence the reader picked, each once (scorer's first)."""
    usable = [r for r in reads if r.phrase is not None]
    best = max(usable, key=lambda r: r.score) if usable else None
    prob = {s.sentence: probability(s.score) for s in scored}
    picks: dict[int, PassageRead] = {}
    for r in usable:
        if r.sentence not in picks or r.score > picks[r.sentence].score:
            picks[r.sentence] = r
    order = ([scored[0].sentence] if scored else []) + [s for s in picks if not scored or s != scored[0].sentence]
    return [
        Option(sid, prob.get(sid, 0.0), bool(scored) and sid == scored[0].sentence, picks.get(sid),
               best is not None and sid == best.sentence)
        for sid in order
    ]


def question_stats(scored: Sequence[ScoredSentence], reads: Sequence[PassageRead]) -> list[float]:
    """Question-level signals: max answerable logit, best read score, top passage's answerable and margin, scorer logit."""
    usable = [r for r in reads if r.phrase is not None]
    top = reads[0] if reads else None
    return [
        max((r.answerable for r in usable), default=-10.0),
        max((r.score for r in usable), default=NO_READ),
        top.answerable if top is not None else -10.0,
        top.margin if top is not None else -20.0,
        _logit(probability(scored[0].score)) if scored else _logit(0.0),
    ]


def decision_features(choice_logit: float, chosen: Option, stats: Sequence[float], opts: Sequence[Option],
                      found: Sequence[float]) -> list[float]:
    """The :data:`DECISION_FEATURES` of a chosen option among ``opts``, given :func:`question_stats` and its
    :func:`qa.answering.evidence.evidence`."""
    return decision_vector(choice_logit, chosen.reader_best, chosen.verified, max(o.verified for o in opts), stats, found)


def decision_vector(choice_logit: float, reader_best: bool, chosen_verified: float, max_verified: float,
                    stats: Sequence[float], found: Sequence[float]) -> list[float]:
    """:data:`DECISION_FEATURES` from plain values (what :func:`decision_features` and the fitting share)."""
    max_answerable, best_read, top_answerable, top_margin, scorer_logit = stats
    return [choice_logit, max_answerable, best_read, float(reader_best), scorer_logit, top_answerable, top_margin,
            chosen_verified, max_verified, *found]


def site(option: Option, scored: Sequence[ScoredSentence], reads: Sequence[PassageRead]) -> tuple[Span | None, int, int]:
    """An option's phrase, passage and that passage's rank: the reader's pick in it, else (the scorer's best
    sentence) the reader's best span inside it, in the scorer's passage."""
    if option.read is not None:
        return option.read.phrase, option.read.passage, option.read.rank
    inside = next((r for r in reads if r.focus is not None), None)
    best = next((s for s in scored if s.sentence == option.sentence), scored[0])
    return (inside.focus if inside is not None else None), best.passage, best.rank


def evidence_for(store: IndexStore, question: str, scored: Sequence[ScoredSentence]) -> Callable[[int, int, Span | None], list[float]]:
    """Maps (sentence, passage, phrase) to the :data:`qa.answering.evidence.EVIDENCE_FEATURES` for ``question``."""
    asked = question_of(store, question)
    return lambda sentence, passage, phrase: evidence(store, asked, sentence, passage, scored, phrase)


def verified(opts: Sequence[Option], verify: Callable[[Sequence[int]], Sequence[float]] | None) -> list[Option]:
    """The options with the verifier's logits (``verify`` maps sentence indices to logits; None leaves them 0)."""
    if verify is None or not opts:
        return list(opts)
    return [replace(o, verified=float(v)) for o, v in zip(opts, verify([o.sentence for o in opts]))]


def nothing_relevant(scored: Sequence[ScoredSentence], reads: Sequence[PassageRead], scorer_threshold: float) -> bool:
    """Both keys say no: no passage read backs a span (its span logit above its no-answer logit) and the
    sentence scorer's best sentence is below ``scorer_threshold`` (where ``reader=False`` declines).

    Declining then never loses an answer ``reader=False`` gives: it declines the same question.
    """
    return not backs_a_span(reads) and (not scored or probability(scored[0].score) < scorer_threshold)


def backs_a_span(reads: Sequence[PassageRead]) -> bool:
    """Whether the reader backs a span in some passage read: its span logit above its no-answer logit."""
    return any(r.phrase is not None and r.margin > 0 for r in reads)


@dataclass(frozen=True)
class Choice:
    """The chosen answer sentence, its phrase and the confidence that it answers the question.

    Attributes:
        sentence: Global sentence index.
        phrase: The reader's span inside it, or None when the reader found none there.
        confidence: Probability that the sentence answers the question.
        passage: The passage the phrase (or the scorer's sentence) was found in.
        rank: That passage's retrieval rank.
    """

    sentence: int
    phrase: Span | None
    confidence: float
    passage: int
    rank: int


def choose(model: DecisionModel, scored: Sequence[ScoredSentence], reads: Sequence[PassageRead],
           verify: Callable[[Sequence[int]], Sequence[float]] | None = None,
           found: Callable[[int, int, Span | None], list[float]] | None = None) -> Choice | None:
    """The best option and its confidence (None when there is no option at all).

    Args:
        model: The fitted choice and decision.
        scored: The sentence scorer's ranking.
        reads: The reader's candidates (see :func:`hits_to_read`).
        verify: Maps sentence indices to the verifier's logits; None without a verifier.
        found: Maps the chosen (sentence, passage, phrase) to its evidence features (:func:`evidence_for`);
            None: zeros.
    """
    opts = verified(options(scored, reads), verify)
    if not opts:
        return None
    logits = [model.choice.logit(o.features()) for o in opts]
    i = max(range(len(opts)), key=lambda j: logits[j])
    chosen = opts[i]
    phrase, passage, rank = site(chosen, scored, reads)
    checks = found(chosen.sentence, passage, phrase) if found is not None else [0.0] * len(EVIDENCE_FEATURES)
    confidence = _sigmoid(model.answer.logit(decision_features(logits[i], chosen, question_stats(scored, reads), opts, checks)))
    return Choice(chosen.sentence, phrase, confidence, passage, rank)


def decision_of(reader: Reader) -> DecisionModel:
    """The decision fitted with a reader, read from the settings its folder hands over (``reader.json``'s ``"decision"``).

    Raises:
        ModelLoadError: The settings are unreadable (wrong lengths, out-of-range depth or threshold).
    """
    settings = reader.decision_settings
    if settings is None:
        return DEFAULT_DECISION
    try:
        return DecisionModel.from_config(settings)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"reader.json in {reader.folder} has an unreadable decision ({exc}); refit it with eval/calibration/calibrate_reader.py") from None


@dataclass(frozen=True)
class Verdict:
    """What to reply: the sentences that answer (answered), the closest sentence (unconfirmed), or nothing (declined).

    Attributes:
        chosen: The answering sentences, in the order to cite them; empty unless answered.
        confidence: Probability that the reply answers the question (0 when nothing relevant was found).
        phrase: The reader's answer span inside the first chosen sentence, or None.
        candidate: When unconfirmed (confidence between ``t_decline`` and ``t_answer``): the chosen sentence.
        candidate_phrase: The span inside ``candidate``.
    """

    chosen: tuple[ScoredSentence, ...]
    confidence: float
    phrase: Span | None = None
    candidate: ScoredSentence | None = None
    candidate_phrase: Span | None = None

    @property
    def status(self) -> str:
        """``"answered"``, ``"unconfirmed"`` or ``"declined"`` (see :attr:`qa.types.Answer.status`)."""
        return "answered" if self.chosen else "unconfirmed" if self.candidate is not None else "declined"


def decide(
    store: IndexStore,
    question: str,
    hits: Sequence[Hit],
    scored: Sequence[ScoredSentence],
    params: AnswerParams,
    reader: Reader | None = None,
    model: DecisionModel | None = None,
    read_depth: int = 1,
    keep: bool = False,
) -> Verdict:
    """Decide the reply to a question from its retrieved passages and scored sentences.

    Without a reader, the sentence scorer alone answers above ``params.threshold``. With one, the reader
    reads the top ``read_depth`` passages (and the scorer's best sentence's), :func:`choose` picks the
    sentence, and its confidence sets the tier: answered at or above the model's ``t_answer``,
    unconfirmed (the choice kept as the candidate) down to ``t_decline``, declined below it or when
    both keys say no.

    Args:
        store: The index the hits come from.
        question: The cleaned question.
        hits: Retrieved passages, best first.
        scored: The sentence scorer's ranking of their sentences.
        params: The sentence scorer's weights and threshold.
        reader: The reader, or None for the sentence scorer alone.
        model: The decision fitted with the reader (None: :func:`decision_of` the reader).
        read_depth: Passages the reader reads.
        keep: Never decline outright: what would be declined is unconfirmed, with the best sentence (a follow-up in
            its conversation's document, see :data:`qa.answering.conversation.KEEP_CANDIDATE`); a reply both keys
            say no to is never answered.
    """
    if reader is None:
        best = scored[0] if scored else None
        confidence = round(confidence_of(best, params), 4)
        if best is None or confidence < params.threshold:
            return Verdict((), confidence)
        return Verdict(tuple(select(scored, params)), confidence)
    model = model if model is not None else decision_of(reader)
    reads = read_passages(store, reader, question, hits_to_read(hits, scored, read_depth), scored[0].sentence if scored else -1)
    relevant = not nothing_relevant(scored, reads, params.threshold)
    if not relevant and not keep:
        return Verdict((), 0.0)
    choice = choose(model, scored, reads, verifier_for(reader, store, question), evidence_for(store, question, scored))
    if choice is None:
        return Verdict((), 0.0)
    confidence = round(choice.confidence, 4)
    by_id = {s.sentence: s for s in scored}
    picked = by_id.get(choice.sentence, ScoredSentence(choice.sentence, choice.passage, choice.rank, 0.0, 0.0, -10.0))
    if confidence >= model.threshold and relevant:
        return Verdict((picked,), confidence, choice.phrase)
    if confidence >= model.decline or keep:
        return Verdict((), confidence, candidate=picked, candidate_phrase=choice.phrase)
    return Verdict((), confidence)
