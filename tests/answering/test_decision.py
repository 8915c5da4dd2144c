"""The answer decision on hand-made reads: options, choice, confidence, phrase, and the fitted model's file format."""

from __future__ import annotations

import math

import pytest

from qa.answering.sentences import ScoredSentence
from qa.answering.decision import (
    DECISION_FEATURES,
    DEFAULT_DECISION,
    OPTION_FEATURES,
    DecisionModel,
    Linear,
    choose,
    hits_to_read,
    options,
    question_stats,
)
from qa.answering.evidence import EVIDENCE_FEATURES
from qa.answering.reading import PassageRead
from qa.index.store import Hit
from qa.types import Span


def scored(sentence: int, passage: int, rank: int, score: float) -> ScoredSentence:
    return ScoredSentence(sentence, passage, rank, 0.5, 0.5, score)


def read(passage: int, rank: int, sentence: int, answerable: float = 2.0, margin: float = 3.0,
         focus: Span | None = None) -> PassageRead:
    phrase = Span("d", sentence * 10, sentence * 10 + 3, "abc") if sentence >= 0 else None
    return PassageRead(passage, rank, answerable, margin, phrase, sentence, focus)


def model(choice: list[float], answer: list[float], threshold: float = 0.5, depth: int = 1) -> DecisionModel:
    return DecisionModel(depth, Linear(0.0, tuple(choice)), Linear(0.0, tuple(answer)), threshold)


SCORED = [scored(4, 0, 1, 1.0), scored(7, 1, 2, 0.0), scored(2, 0, 1, -1.0)]


def test_options_list_the_scorer_best_first_and_each_sentence_once() -> None:
    reads = [read(0, 1, 2, margin=1.0), read(1, 2, 7, margin=5.0), read(2, 3, 7, margin=2.0)]
    opts = options(SCORED, reads)
    assert [o.sentence for o in opts] == [4, 2, 7]
    assert opts[0].scorer_best and opts[0].read is None and not opts[0].reader_best
    assert opts[2].read is not None and opts[2].read.margin == 5.0 and opts[2].reader_best  # the better read of sentence 7
    assert opts[1].scorer_prob == pytest.approx(1 / (1 + math.exp(1.0)))
    assert all(len(o.features()) == len(OPTION_FEATURES) for o in opts)


def test_reads_without_a_span_are_no_option() -> None:
    opts = options(SCORED, [read(0, 1, -1)])
    assert [o.sentence for o in opts] == [4]
    assert options([], []) == []
    assert question_stats([], [])[1] == -30.0


def test_hits_to_read_adds_the_passage_of_the_scorer_best() -> None:
    hits = [Hit(10, 0.9, 1), Hit(11, 0.8, 2), Hit(12, 0.7, 3)]
    assert [h.passage for h in hits_to_read(hits, [scored(0, 12, 3, 1.0)], 1)] == [10, 12]
    assert [h.passage for h in hits_to_read(hits, [scored(0, 11, 2, 1.0)], 2)] == [10, 11]
    assert [h.passage for h in hits_to_read(hits, [], 2)] == [10, 11]


def test_choice_follows_the_weights() -> None:
    reads = [read(0, 1, 2, margin=1.0), read(1, 2, 7, margin=5.0)]
    weights = [0.0] * len(OPTION_FEATURES)
    weights[OPTION_FEATURES.index("scorer_best")] = 10.0
    answer = [0.0] * len(DECISION_FEATURES)
    by_scorer = choose(model(weights, answer), SCORED, reads)
    assert by_scorer is not None and by_scorer.sentence == 4
    weights = [0.0] * len(OPTION_FEATURES)
    weights[OPTION_FEATURES.index("reader_score")] = 1.0
    by_reader = choose(model(weights, answer), SCORED, reads)
    assert by_reader is not None and by_reader.sentence == 7 and by_reader.phrase == reads[1].phrase
    assert by_reader.passage == 1 and by_reader.rank == 2
    assert by_reader.confidence == pytest.approx(0.5)  # all answer weights 0


def test_scorer_sentence_gets_the_reader_span_inside_it() -> None:
    focus = Span("d", 41, 44, "xyz")
    reads = [read(0, 1, 2, focus=focus)]
    weights = [0.0] * len(OPTION_FEATURES)
    weights[OPTION_FEATURES.index("scorer_best")] = 10.0
    chosen = choose(model(weights, [0.0] * len(DECISION_FEATURES)), SCORED, reads)
    assert chosen is not None and chosen.sentence == 4 and chosen.phrase == focus
    unfocused = choose(model(weights, [0.0] * len(DECISION_FEATURES)), SCORED, [read(0, 1, 2)])
    assert unfocused is not None and unfocused.phrase is None


def test_verifier_logits_feed_choice_and_confidence() -> None:
    reads = [read(0, 1, 2), read(1, 2, 7)]
    weights = [0.0] * len(OPTION_FEATURES)
    weights[OPTION_FEATURES.index("verified")] = 1.0
    answer = [0.0] * len(DECISION_FEATURES)
    answer[DECISION_FEATURES.index("chosen_verified")] = 1.0
    logits = {4: -3.0, 2: 0.5, 7: 2.0}
    chosen = choose(model(weights, answer), SCORED, reads, lambda sids: [logits[s] for s in sids])
    assert chosen is not None and chosen.sentence == 7
    assert chosen.confidence == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert choose(model(weights, answer), [], []) is None


def test_config_round_trip() -> None:
    config = DEFAULT_DECISION.to_config()
    assert DecisionModel.from_config(config) == DEFAULT_DECISION
    assert config["choice"]["features"] == list(OPTION_FEATURES)


def test_config_with_wrong_weights_is_refused() -> None:
    config = DEFAULT_DECISION.to_config()
    config["choice"]["weights"] = config["choice"]["weights"][:-1]
    with pytest.raises(ValueError, match="choice and .* answer weights; expected 7 and 15"):
        DecisionModel.from_config(config)
    config = DEFAULT_DECISION.to_config()
    config["t_answer"] = 1.5
    with pytest.raises(ValueError, match="t_answer 1.5 and t_decline"):
        DecisionModel.from_config(config)
    config = DEFAULT_DECISION.to_config()
    config["t_decline"] = config["t_answer"] + 0.1  # above t_answer: no reply could be unconfirmed
    with pytest.raises(ValueError, match=r"0 <= t_decline <= t_answer <= 1 expected"):
        DecisionModel.from_config(config)


def test_a_config_fitted_before_the_tiers_reads_its_threshold_as_t_answer() -> None:
    config = DEFAULT_DECISION.to_config()
    config["threshold"] = config.pop("t_answer")
    del config["t_decline"]
    old = DecisionModel.from_config(config)
    assert old.threshold == DEFAULT_DECISION.threshold and old.decline == 0.0


def test_a_config_fitted_before_the_evidence_features_gives_them_weight_zero() -> None:
    config = DEFAULT_DECISION.to_config()
    base = len(DECISION_FEATURES) - len(EVIDENCE_FEATURES)
    config["answer"]["features"] = config["answer"]["features"][:base]
    config["answer"]["weights"] = [1.0] * base
    assert DecisionModel.from_config(config).answer.weights == (1.0,) * base + (0.0,) * len(EVIDENCE_FEATURES)
    config["answer"]["features"] = list(reversed(config["answer"]["features"]))  # other features: refused, not guessed
    with pytest.raises(ValueError, match=f"answer weights; expected 7 and {len(DECISION_FEATURES)}"):
        DecisionModel.from_config(config)
