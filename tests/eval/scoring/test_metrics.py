"""Hand-computed cases for eval/scoring/metrics.py."""

from __future__ import annotations

import math
import random

import pytest

from eval.scoring import metrics as m  # noqa: E402


# --- ranking -----------------------------------------------------------------


def test_recall_at_k() -> None:
    ranks = [1, 3, None, 2]
    assert m.recall_at_k(ranks, 1) == 0.25
    assert m.recall_at_k(ranks, 2) == 0.5
    assert m.recall_at_k(ranks, 3) == 0.75
    assert m.recall_at_k(ranks, 100) == 0.75


def test_recall_at_k_edge_cases() -> None:
    assert m.recall_at_k([], 5) == 0.0
    assert m.recall_at_k([None, None], 5) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        m.recall_at_k([1], 0)


def test_mrr() -> None:
    assert m.mrr([1, 2, None, 4]) == pytest.approx((1 + 0.5 + 0 + 0.25) / 4)
    assert m.mrr([1, 1]) == 1.0
    assert m.mrr([]) == 0.0
    assert m.mrr([None]) == 0.0


def test_span_covers() -> None:
    assert m.span_covers((0, 10), (2, 5))
    assert m.span_covers((2, 5), (2, 5))  # shared boundaries count
    assert m.span_covers((0, 10), (3, 3))  # empty inner span inside
    assert not m.span_covers((0, 10), (5, 11))  # overhangs the end
    assert not m.span_covers((3, 10), (2, 5))  # overhangs the start
    assert not m.span_covers((0, 4), (6, 8))  # disjoint


def test_first_relevant_rank() -> None:
    passages = [("d", 0, 50), ("e", 0, 100), ("d", 40, 120)]
    assert m.first_relevant_rank(passages, [("d", 60, 80)]) == 3
    assert m.first_relevant_rank(passages, [("e", 10, 20), ("d", 60, 80)]) == 2
    assert m.first_relevant_rank(passages, [("d", 0, 50)]) == 1
    # same offsets but another document is not relevant
    assert m.first_relevant_rank([("x", 0, 100)], [("d", 10, 20)]) is None


def test_first_relevant_rank_partial_overlap_is_not_relevant() -> None:
    assert m.first_relevant_rank([("d", 0, 50), ("d", 50, 100)], [("d", 45, 60)]) is None


def test_first_relevant_rank_empty() -> None:
    assert m.first_relevant_rank([], [("d", 0, 1)]) is None
    assert m.first_relevant_rank([("d", 0, 10)], []) is None


# --- answers -----------------------------------------------------------------


def test_normalize_text() -> None:
    assert m.normalize_text("  The “Very”   TIMELY,\nstep! ") == "very timely step"
    assert m.normalize_text("Japan’s") == "japan s"
    assert m.normalize_text("") == ""


@pytest.mark.parametrize(
    ("text", "answers", "expected"),
    [
        ("Borrell heads to South Korea.", ["south korea"], True),
        ("describing it as “historical and very timely.”", ["Historical and very timely"], True),
        ("The United States", ["united states"], True),  # articles dropped
        ("the U.S.-Japan alliance", ["U.S."], True),  # punctuation normalised both sides
        ("joint\n   exercises and port calls", ["joint exercises"], True),  # whitespace
        ("Ｔｏｋｙｏ talks", ["tokyo"], True),  # NFKC full-width letters
        ("Minister Iwaya", ["Borrell", "iwaya"], True),  # any answer suffices
        ("Minister Iwaya", ["in"], False),  # whole tokens only
        ("by 2035", ["203"], False),
        ("anything", [], False),
        ("anything", ["", "...", "the"], False),  # answers normalising to nothing
        ("", ["x"], False),
    ],
)
def test_contains_answer(text: str, answers: list[str], expected: bool) -> None:
    assert m.contains_answer(text, answers) is expected


# --- abstention --------------------------------------------------------------


def test_abstention_prf() -> None:
    abstained = [True, True, False, False, True]
    answerable = [False, True, False, True, False]
    # TP = items 0 and 4, FP = item 1, FN = item 2
    p, r, f = m.abstention_prf(abstained, answerable)
    assert (p, r, f) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


def test_abstention_prf_asymmetric() -> None:
    # abstains on 1 of 2 unanswerable, never wrongly: P=1, R=0.5, F1=2/3
    assert m.abstention_prf([True, False, False], [False, False, True]) == pytest.approx((1.0, 0.5, 2 / 3))


def test_abstention_prf_zero_division_is_zero() -> None:
    assert m.abstention_prf([], []) == (0.0, 0.0, 0.0)
    assert m.abstention_prf([False, False], [True, True]) == (0.0, 0.0, 0.0)
    assert m.abstention_prf([True], [True]) == (0.0, 0.0, 0.0)  # only a false positive
    assert m.abstention_prf([False], [False]) == (0.0, 0.0, 0.0)  # only a miss
    assert m.abstention_prf([True, True], [False, False]) == (1.0, 1.0, 1.0)


def test_abstention_prf_length_mismatch() -> None:
    with pytest.raises(ValueError, match="length mismatch"):
        m.abstention_prf([True], [True, False])


# --- percentile ---------------------------------------------------------------


def test_percentile_linear_interpolation() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert m.percentile(values, 0) == 1.0
    assert m.percentile(values, 25) == pytest.approx(1.75)
    assert m.percentile(values, 50) == pytest.approx(2.5)
    assert m.percentile(values, 100) == 4.0
    assert m.percentile([10, 20, 30, 40, 50], 90) == pytest.approx(46.0)
    assert m.percentile([7.0], 95) == 7.0


def test_percentile_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        m.percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        m.percentile([1.0], 101)


# --- calibration -------------------------------------------------------------

CONF = [0.1, 0.15, 0.5, 0.9, 1.0]
CORRECT = [False, True, True, True, False]


def test_calibration_table() -> None:
    table = m.calibration_table(CONF, CORRECT, bins=5)
    assert [row["n"] for row in table] == [2, 0, 1, 0, 2]
    assert [row["lo"] for row in table] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [row["hi"] for row in table] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert table[0]["mean_confidence"] == pytest.approx(0.125)
    assert table[0]["accuracy"] == 0.5
    assert table[1]["mean_confidence"] is None and table[1]["accuracy"] is None
    assert table[2]["accuracy"] == 1.0
    assert table[4]["mean_confidence"] == pytest.approx(0.95)  # 1.0 lands in the last bin
    assert table[4]["accuracy"] == 0.5


def test_expected_calibration_error() -> None:
    # 2/5*|0.5-0.125| + 1/5*|1-0.5| + 2/5*|0.5-0.95| = 0.15 + 0.1 + 0.18
    assert m.expected_calibration_error(CONF, CORRECT, bins=5) == pytest.approx(0.43)
    assert m.expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert m.expected_calibration_error([0.0], [True]) == 1.0


def test_calibration_edge_cases() -> None:
    table = m.calibration_table([], [], bins=3)
    assert [row["n"] for row in table] == [0, 0, 0]
    assert m.expected_calibration_error([], []) == 0.0
    with pytest.raises(ValueError, match="outside"):
        m.calibration_table([1.5], [True])
    with pytest.raises(ValueError, match="bins"):
        m.calibration_table([0.5], [True], bins=0)
    with pytest.raises(ValueError, match="length mismatch"):
        m.expected_calibration_error([0.5], [])


# --- threshold ---------------------------------------------------------------


def _f1_at(threshold: float, scores: list[float], positive: list[bool]) -> float:
    predicted = [s < threshold for s in scores]
    _, _, f1 = m.abstention_prf(predicted, [not p for p in positive])
    return f1


def test_best_threshold_separable() -> None:
    assert m.best_threshold([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == pytest.approx((0.5, 1.0))


def test_best_threshold_noisy() -> None:
    # candidates: 0.1 -> 0, 0.2 -> 2/3, 0.35 -> 1/2, 0.65 -> 4/5, >0.9 -> 2/3
    t, f1 = m.best_threshold([0.1, 0.3, 0.4, 0.9], [True, False, True, False])
    assert (t, f1) == pytest.approx((0.65, 0.8))


def test_best_threshold_ties_and_duplicates() -> None:
    # equal scores cannot be separated: 0.5 -> 0, 0.7 -> 2/3, >0.9 -> 1/2
    assert m.best_threshold([0.5, 0.5, 0.9], [True, False, False]) == pytest.approx((0.7, 2 / 3))


def test_best_threshold_all_positive_and_none_positive() -> None:
    t, f1 = m.best_threshold([0.5, 0.7], [True, True])
    assert f1 == 1.0 and t > 0.7 and t == math.nextafter(0.7, math.inf)
    assert m.best_threshold([1.0, 2.0], [False, False]) == (1.0, 0.0)  # nothing to find: lowest, F1 0


def test_best_threshold_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        m.best_threshold([], [])
    with pytest.raises(ValueError, match="length mismatch"):
        m.best_threshold([0.1], [True, False])


def test_best_threshold_matches_brute_force() -> None:
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        scores = [rng.choice([0.1, 0.2, 0.3, 0.5, 0.8, 1.0]) for _ in range(n)]
        positive = [rng.random() < 0.5 for _ in range(n)]
        t, f1 = m.best_threshold(scores, positive)
        assert _f1_at(t, scores, positive) == pytest.approx(f1)
        candidates = sorted(set(scores)) + [math.inf]
        assert f1 == pytest.approx(max(_f1_at(c, scores, positive) for c in candidates))


def test_token_f1_exact_match_and_best_f1() -> None:
    from eval.scoring.metrics import best_f1, exact_match, token_f1

    assert token_f1("the Nov. 1, 2024", "Nov. 1, 2024") == 1.0  # articles and punctuation are ignored
    assert token_f1("Tokyo Japan", "Tokyo") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0 and token_f1("cats", "dogs") == 0.0
    assert best_f1("Tokyo", ["Osaka", "in Tokyo"]) == pytest.approx(2 / 3) and best_f1("x", []) == 0.0
    assert exact_match("The Rhine.", ["rhine", "Danube"]) and not exact_match("Rhine river", ["Rhine"])
