"""How the reader's training examples become batches, and the loss that compares passages (shared normalisation).

Batches keep the training order by blocks of 50 and sort by length inside a block,
so that padding stays short (:func:`batch_order`).

**Shared normalisation** (Clark & Gardner 2018, "Simple and Effective Multi-Paragraph Reading
Comprehension"): the engine reads several passages for one question and compares the reader's
scores across them, yet a reader trained on one passage at a time learns scores that are only
comparable within a passage.  For a round with ``shared_norm``, the passages of one question (its
answer passage and its ``other-passage`` negative, same article and question text) are kept in one
batch (:func:`group_order`), and :func:`shared_loss` adds one softmax over the start (and end)
positions of all of them: the answer's positions are the target, or, when none of the passages
holds the answer, all their [CLS] positions.  The per-passage loss stays, so each passage's
[CLS] still means "not in this passage"; the shared one ranks the right passage's span above
every other passage's spans and [CLS].
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from eval.training.reader_data import Example
from qa.answering.reader_tokens import encode_pairs

BLOCK_BATCHES = 50
"""Batches per block: the order of blocks is the training order, lengths are sorted inside one."""


def example_lengths(tokenizer: object, examples: Sequence[Example]) -> list[int]:
    """Tokens of each (question, passage) pair, as the reader's tokenizer cuts it."""
    return [int(m.sum()) for b0 in range(0, len(examples), 256) for m in encode_pairs(
        tokenizer, [x.question for x in examples[b0 : b0 + 256]], [x.context for x in examples[b0 : b0 + 256]]).attention_mask]


def batch_order(tokenizer: object, examples: list[Example], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of example indices: training order kept by blocks of 50 batches, sorted by length inside a block."""
    return _pack([[i] for i in range(len(examples))], example_lengths(tokenizer, examples), batch_size, seed)


def question_key(example: Example) -> tuple[str, str]:
    """What makes the passages of one question: its article and its text (a swapped-term negative is another question)."""
    return example.article, example.question


def question_groups(examples: Sequence[Example], stages: Sequence[int]) -> list[list[int]]:
    """Indices of the examples of one question (same article and question text), in order of first appearance;
    never across training stages (``stages``: the examples in each stage, in order)."""
    groups: list[list[int]] = []
    begin = 0
    for size in stages:
        found: dict[tuple[str, str], list[int]] = {}
        for i in range(begin, begin + size):
            key = question_key(examples[i])
            if key not in found:
                found[key] = []
                groups.append(found[key])
            found[key].append(i)
        begin += size
    return groups


def group_order(tokenizer: object, examples: list[Example], batch_size: int, seed: int,
                stages: Sequence[int]) -> list[list[int]]:
    """Like :func:`batch_order`, with every question's passages in one batch (a question with more than
    ``batch_size`` pairs, none in the shipped rounds, is cut into batch-sized parts)."""
    groups = [g[i : i + batch_size] for g in question_groups(examples, stages) for i in range(0, len(g), batch_size)]
    return _pack(groups, example_lengths(tokenizer, examples), batch_size, seed)


def _pack(groups: list[list[int]], lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Whole groups (each at most ``batch_size``) into batches: blocks of about 50 batches in order, groups sorted by
    their longest pair inside a block, the block's batches shuffled."""
    rng = random.Random(seed)
    batches: list[list[int]] = []
    block = batch_size * BLOCK_BATCHES
    b0 = 0
    while b0 < len(groups):
        chunk, count = [], 0
        while b0 < len(groups) and count < block:
            chunk.append(groups[b0])
            count += len(groups[b0])
            b0 += 1
        chunk.sort(key=lambda g: max(lengths[i] for i in g))
        packed: list[list[int]] = [[]]
        for g in chunk:
            if len(packed[-1]) + len(g) > batch_size:
                packed.append([])
            packed[-1].extend(g)
        rng.shuffle(packed)
        batches.extend(packed)
    return batches


def shared_loss(start: object, end: object, starts: np.ndarray, ends: np.ndarray, has: np.ndarray,
                examples: Sequence[Example]) -> object:
    """Mean over the batch's questions read with more than one passage of the shared start/end softmax loss.

    Args:
        start, end: ``(pairs, tokens)`` logits, non-context positions already masked (torch tensors).
        starts, ends: Target positions per pair (0: [CLS]).
        has: 1.0 where the pair's passage holds the answer.
        examples: The batch's examples (their article and question make the groups).

    Returns:
        A scalar tensor (0 when no question has two passages in the batch).
    """
    import torch

    rows: dict[tuple[str, str], list[int]] = {}
    for i, e in enumerate(examples):
        rows.setdefault(question_key(e), []).append(i)
    width = start.shape[1]  # type: ignore[attr-defined]
    losses = []
    for members in rows.values():
        if len(members) < 2:
            continue
        index = torch.tensor(members)
        answered = [k for k, i in enumerate(members) if has[i] > 0]
        if answered:
            s_pos = [k * width + int(starts[members[k]]) for k in answered]
            e_pos = [k * width + int(ends[members[k]]) for k in answered]
        else:
            s_pos = e_pos = [k * width for k in range(len(members))]
        loss = 0.0
        for logits, pos in ((start, s_pos), (end, e_pos)):
            flat = logits[index].reshape(-1)  # type: ignore[index]
            loss = loss + torch.logsumexp(flat, 0) - torch.logsumexp(flat[torch.tensor(pos)], 0)
        losses.append(loss / 2)
    if not losses:
        return torch.zeros(())
    return torch.stack(losses).mean()
