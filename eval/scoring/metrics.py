"""Small, pure evaluation metrics (no numpy, no I/O).

Conventions:
    * A *rank* is the 1-based position of the first relevant passage in a
      ranked list, or ``None`` if no relevant passage was retrieved.
    * Spans are ``(start, end)`` character offsets, end exclusive; passages and
      gold spans are ``(doc_id, start, end)``.
    * Empty inputs give 0.0 for averages and rates rather than raising, except
      where no sensible value exists (:func:`percentile`, :func:`best_threshold`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

Span = tuple[int, int]
DocSpan = tuple[str, int, int]


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    return _safe_div(2 * tp, 2 * tp + fp + fn)


def recall_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Fraction of queries whose first relevant passage is within the top ``k``.

    Args:
        ranks: 1-based rank of the first relevant passage per query, or None.
        k: Cut-off (>= 1).

    Returns:
        Recall@k in [0, 1]; 0.0 for no queries.

    Raises:
        ValueError: If ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _safe_div(sum(1 for r in ranks if r is not None and r <= k), len(ranks))


def mrr(ranks: Sequence[int | None]) -> float:
    """Mean reciprocal rank; a None rank contributes 0.

    Args:
        ranks: 1-based rank of the first relevant passage per query, or None.

    Returns:
        MRR in [0, 1]; 0.0 for no queries.
    """
    return _safe_div(sum(1.0 / r for r in ranks if r is not None), len(ranks))


def span_covers(outer: Span, inner: Span) -> bool:
    """Whether ``outer`` contains ``inner`` entirely (shared boundaries count).

    Args:
        outer: ``(start, end)`` of the containing span.
        inner: ``(start, end)`` of the contained span.

    Returns:
        True if ``outer.start <= inner.start`` and ``inner.end <= outer.end``.
    """
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def first_relevant_rank(passages: Sequence[DocSpan], gold: Sequence[DocSpan]) -> int | None:
    """1-based rank of the first passage that fully covers some gold span.

    Args:
        passages: Ranked ``(doc_id, start, end)`` passages, best first.
        gold: ``(doc_id, start, end)`` gold evidence spans.

    Returns:
        The rank, or None if no passage covers any gold span (always None when
        ``gold`` is empty).
    """
    for rank, (doc_id, start, end) in enumerate(passages, 1):
        for g_doc, g_start, g_end in gold:
            if doc_id == g_doc and span_covers((start, end), (g_start, g_end)):
                return rank
    return None


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_text(text: str) -> str:
    """Normalise text for answer matching (SQuAD-style, Unicode-aware).

    NFKC-normalises, lower-cases, turns every Unicode punctuation or symbol
    character into a space, drops the articles a/an/the and collapses
    whitespace.

    Args:
        text: Any string.

    Returns:
        The normalised string (tokens separated by single spaces).
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """Whether ``text`` contains any accepted answer, after normalisation.

    Matching is on whole tokens of :func:`normalize_text` output, so ``"Korea"``
    matches ``"South Korea."`` but ``"in"`` does not match ``"Iwaya"``. Answers
    that normalise to nothing never match.

    Args:
        text: Predicted answer or passage text.
        answers: Accepted answer strings.

    Returns:
        True if some non-empty normalised answer occurs in the normalised text.
    """
    haystack = f" {normalize_text(text)} "
    for answer in answers:
        needle = normalize_text(answer)
        if needle and f" {needle} " in haystack:
            return True
    return False


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between a predicted and a gold answer (after :func:`normalize_text`)."""
    pred, ref = normalize_text(prediction).split(), normalize_text(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best :func:`token_f1` of a prediction against any accepted answer (0 for no answers)."""
    return max((token_f1(prediction, a) for a in answers), default=0.0)


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    """Whether the prediction equals some accepted answer after :func:`normalize_text`."""
    norm = normalize_text(prediction)
    return any(norm == normalize_text(a) for a in answers)


def abstention_prf(abstained: Sequence[bool], answerable: Sequence[bool]) -> tuple[float, float, float]:
    """Precision, recall and F1 of abstention as a detector of unanswerable questions.

    The positive class is "unanswerable"; a prediction is positive when the
    system abstained. Any 0/0 (no abstentions, no unanswerable items, or both)
    is defined as 0.0, so a set without unanswerable items scores 0.0 rather
    than a vacuous 1.0.

    Args:
        abstained: Per question, True if the system abstained.
        answerable: Per question, True if the question is answerable.

    Returns:
        ``(precision, recall, f1)``.

    Raises:
        ValueError: If the sequences differ in length.
    """
    if len(abstained) != len(answerable):
        raise ValueError(f"length mismatch: {len(abstained)} != {len(answerable)}")
    tp = sum(1 for a, ok in zip(abstained, answerable) if a and not ok)
    fp = sum(1 for a, ok in zip(abstained, answerable) if a and ok)
    fn = sum(1 for a, ok in zip(abstained, answerable) if not a and not ok)
    return _safe_div(tp, tp + fp), _safe_div(tp, tp + fn), _f1(tp, fp, fn)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation (numpy's default method).

    Args:
        values: Non-empty numbers, in any order.
        q: Percentile in [0, 100].

    Returns:
        The interpolated percentile.

    Raises:
        ValueError: If ``values`` is empty or ``q`` is outside [0, 100].
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def calibration_table(confidences: Sequence[float], correct: Sequence[bool], bins: int = 5) -> list[dict]:
    """Reliability table over equal-width confidence bins on [0, 1].

    Bin ``i`` covers ``[i/bins, (i+1)/bins)``; the last bin also includes 1.0.
    Every bin is returned; an empty bin has ``n == 0`` and None for
    ``mean_confidence`` and ``accuracy``.

    Args:
        confidences: Per prediction, a confidence in [0, 1].
        correct: Per prediction, whether it was correct.
        bins: Number of bins (>= 1).

    Returns:
        One dict per bin with keys ``lo``, ``hi``, ``n``, ``mean_confidence``,
        ``accuracy``.

    Raises:
        ValueError: On a length mismatch, ``bins < 1`` or a confidence outside [0, 1].
    """
    if len(confidences) != len(correct):
        raise ValueError(f"length mismatch: {len(confidences)} != {len(correct)}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for conf, ok in zip(confidences, correct):
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"confidence {conf} outside [0, 1]")
        members[min(int(conf * bins), bins - 1)].append((conf, bool(ok)))
    table = []
    for i, rows in enumerate(members):
        n = len(rows)
        table.append(
            {
                "lo": i / bins,
                "hi": (i + 1) / bins,
                "n": n,
                "mean_confidence": sum(c for c, _ in rows) / n if n else None,
                "accuracy": sum(ok for _, ok in rows) / n if n else None,
            }
        )
    return table


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 5) -> float:
    """Expected calibration error: bin-size-weighted mean ``|accuracy - confidence|``.

    Args:
        confidences: Per prediction, a confidence in [0, 1].
        correct: Per prediction, whether it was correct.
        bins: Number of equal-width bins (as in :func:`calibration_table`).

    Returns:
        ECE in [0, 1]; 0.0 for no predictions.
    """
    total = len(confidences)
    return float(sum(
        row["n"] / total * abs(row["accuracy"] - row["mean_confidence"])
        for row in calibration_table(confidences, correct, bins)
        if row["n"]
    ))


def best_threshold(scores: Sequence[float], is_positive: Sequence[bool]) -> tuple[float, float]:
    """Threshold maximising F1 of the rule "predict positive when score < threshold".

    Used for a plain score-threshold abstention baseline (positive =
    unanswerable, score = the answerer's top score). Candidates are the lowest
    score (nothing positive), midpoints between consecutive distinct scores,
    and the next float above the highest score (everything positive). Ties in
    F1 go to the lowest threshold, i.e. the fewest positive predictions.

    Args:
        scores: Per item, a score (higher = more confident it is negative).
        is_positive: Per item, the true label.

    Returns:
        ``(threshold, f1)``.

    Raises:
        ValueError: If the inputs are empty or differ in length.
    """
    if len(scores) != len(is_positive):
        raise ValueError(f"length mismatch: {len(scores)} != {len(is_positive)}")
    if not scores:
        raise ValueError("best_threshold needs at least one score")
    pairs = sorted(zip(scores, is_positive), key=lambda p: p[0])
    total_pos = sum(1 for _, pos in pairs if pos)
    best_t, best_f1 = pairs[0][0], _f1(0, 0, total_pos)
    tp = fp = 0
    for i, (score, pos) in enumerate(pairs):
        tp, fp = tp + bool(pos), fp + (not pos)
        if i + 1 < len(pairs) and pairs[i + 1][0] == score:
            continue  # predictions only change between distinct scores
        threshold = (score + pairs[i + 1][0]) / 2 if i + 1 < len(pairs) else score
        if threshold <= score:  # last score, or a midpoint lost to rounding
            threshold = math.nextafter(score, math.inf)
        f1 = _f1(tp, fp, total_pos - tp)
        if f1 > best_f1:
            best_t, best_f1 = threshold, f1
    return best_t, best_f1
