"""eval/training/reader_batches.py: length-sorted batches, question groups kept whole, the shared-normalisation loss."""

from __future__ import annotations

import math

import numpy as np
import pytest


torch = pytest.importorskip("torch")

from eval.training.reader_batches import group_order, question_groups, shared_loss  # noqa: E402
from eval.training.reader_data import Example  # noqa: E402


def examples() -> list[Example]:
    out = []
    for n in range(12):
        q = f"question {n}?"
        passage = " ".join(["word"] * (5 + n))
        out.append(Example(q, passage, 0, "word", "answer", "A"))
        if n % 3 == 0:
            out.append(Example(q, "other " + passage, -1, "", "other-passage", "A"))
    out.append(Example("question 0?", "the same question, another article", -1, "", "squad2", "B"))
    return out


def test_question_groups_never_cross_a_stage() -> None:
    ex = examples()
    groups = question_groups(ex, [len(ex)])
    assert [0, 1] in groups and [len(ex) - 1] in groups  # the other article's question is its own group
    assert sorted(i for g in groups for i in g) == list(range(len(ex)))
    split = question_groups(ex, [1, len(ex) - 1])
    assert [0] in split and [1] in split


def test_group_order_keeps_a_question_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import eval.training.reader_batches as rb

    ex = examples()
    monkeypatch.setattr(rb, "example_lengths", lambda _tok, items: [len(e.context.split()) for e in items])
    batches = group_order(None, ex, 4, seed=1, stages=[len(ex)])
    assert sorted(i for b in batches for i in b) == list(range(len(ex))) and all(len(b) <= 4 for b in batches)
    for g in question_groups(ex, [len(ex)]):
        assert sum(1 for b in batches if set(g) <= set(b)) == 1
    small = group_order(None, ex, 1, seed=1, stages=[len(ex)])  # a question larger than a batch is cut, never dropped
    assert sorted(i for b in small for i in b) == list(range(len(ex))) and all(len(b) == 1 for b in small)


def test_shared_loss_is_one_softmax_over_the_passages_of_a_question() -> None:
    ex = [Example("q?", "p one", 0, "p", "answer", "A"), Example("q?", "p two", -1, "", "other-passage", "A"),
          Example("lonely?", "p three", -1, "", "squad2", "A")]
    start = torch.tensor([[0.0, 1.0, 2.0], [0.5, 3.0, -1e4], [1.0, 1.0, 1.0]])
    end = torch.tensor([[0.0, 0.0, 2.0], [0.0, 1.0, -1e4], [1.0, 0.0, 0.0]])
    starts, ends, has = np.array([2, 0, 0]), np.array([2, 0, 0]), np.array([1.0, 0.0, 0.0])
    got = float(shared_loss(start, end, starts, ends, has, ex))

    def nll(row0: list[float], row1: list[float], target: float) -> float:
        return math.log(sum(math.exp(v) for v in row0 + row1)) - target

    want = (nll([0.0, 1.0, 2.0], [0.5, 3.0, -1e4], 2.0) + nll([0.0, 0.0, 2.0], [0.0, 1.0, -1e4], 2.0)) / 2
    assert got == pytest.approx(want, rel=1e-5)  # the lone question adds nothing
    # no passage holds the answer: every [CLS] is a target
    none = float(shared_loss(start, end, np.zeros(3, int), np.zeros(3, int), np.zeros(3), ex))
    cls = (math.log(sum(math.exp(v) for v in [0.0, 1.0, 2.0, 0.5, 3.0])) - math.log(math.exp(0.0) + math.exp(0.5))
           + math.log(sum(math.exp(v) for v in [0.0, 0.0, 2.0, 0.0, 1.0])) - math.log(2.0)) / 2
    assert none == pytest.approx(cls, rel=1e-5)
    assert float(shared_loss(start[2:], end[2:], starts[2:], ends[2:], has[2:], ex[2:])) == 0.0
