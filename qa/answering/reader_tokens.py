"""Question-passage pairs as reader inputs, and answer spans out of reader logits.

Shared by the query path (:mod:`qa.answering.reader`, ONNX Runtime) and the training
script (``eval/training/train_reader.py``, torch), so both read exactly the same tokens
and decode spans the same way.  Imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_QUESTION_TOKENS = 48
"""Questions are cut to this many word pieces before pairing."""
MAX_ANSWER_TOKENS = 30
"""Longest answer span, in word pieces."""


@dataclass(frozen=True)
class PairTokenizer:
    """A BERT word-piece tokenizer that builds ``[CLS] question [SEP] passage [SEP]`` inputs.

    Attributes:
        tokenizer: The ``tokenizers.Tokenizer`` (special tokens and truncation off).
        max_length: Longest pair, in tokens; the passage is cut to fit.
        cls_id: Id of ``[CLS]``.
        sep_id: Id of ``[SEP]``.
    """

    tokenizer: object
    max_length: int
    cls_id: int
    sep_id: int


def load_tokenizer(path: Path, max_length: int) -> PairTokenizer:
    """The pair tokenizer from a ``tokenizer.json`` (BERT-style, with ``[CLS]`` and ``[SEP]``)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ValueError(f"tokenizer {path} has no [CLS] or [SEP] token; the reader needs a BERT-style vocabulary")
    return PairTokenizer(tokenizer, max_length, cls_id, sep_id)


@dataclass(frozen=True)
class PairBatch:
    """Encoded question-passage pairs, padded to one length.

    Attributes:
        input_ids: ``(n, length)`` int64 token ids.
        attention_mask: ``(n, length)`` int64, 1 for real tokens.
        token_type_ids: ``(n, length)`` int64, 1 for passage tokens.
        context_mask: ``(n, length)`` bool, True where a token belongs to the passage.
        offsets: Per pair, ``(length, 2)`` int array of character offsets into the passage (0, 0 elsewhere).
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    context_mask: np.ndarray
    offsets: np.ndarray


def encode_pairs(tokenizer: PairTokenizer, question: str | Sequence[str], passages: Sequence[str]) -> PairBatch:
    """Tokenise ``(question, passage)`` pairs for the reader.

    The question keeps at most :data:`MAX_QUESTION_TOKENS` word pieces; the passage
    is cut at the end so that the pair fits ``tokenizer.max_length`` tokens.

    Args:
        tokenizer: From :func:`load_tokenizer`.
        question: One question for every passage, or one question per passage.
        passages: Passage texts.

    Returns:
        The padded batch with passage offsets.
    """
    questions = [question] * len(passages) if isinstance(question, str) else list(question)
    distinct = list(dict.fromkeys(questions))
    q_enc = dict(zip(distinct, tokenizer.tokenizer.encode_batch(distinct, add_special_tokens=False)))  # type: ignore[attr-defined]
    p_enc = tokenizer.tokenizer.encode_batch(list(passages), add_special_tokens=False)  # type: ignore[attr-defined]
    rows = []
    for q, p in zip(questions, p_enc):
        q_ids = q_enc[q].ids[:MAX_QUESTION_TOKENS]
        room = max(0, tokenizer.max_length - len(q_ids) - 3)
        rows.append((q_ids, p.ids[:room], p.offsets[:room]))
    n = len(rows)
    length = max((len(q) + len(p) + 3 for q, p, _ in rows), default=0)
    ids = np.zeros((n, length), dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    types = np.zeros((n, length), dtype=np.int64)
    context = np.zeros((n, length), dtype=bool)
    offsets = np.zeros((n, length, 2), dtype=np.int64)
    for i, (q_ids, p_ids, p_offsets) in enumerate(rows):
        a, b = len(q_ids) + 2, len(q_ids) + 2 + len(p_ids)
        ids[i, : b + 1] = [tokenizer.cls_id, *q_ids, tokenizer.sep_id, *p_ids, tokenizer.sep_id]
        mask[i, : b + 1] = 1
        types[i, a : b + 1] = 1
        context[i, a:b] = True
        if p_ids:
            offsets[i, a:b] = np.asarray(p_offsets, dtype=np.int64).reshape(-1, 2)
    return PairBatch(ids, mask, types, context, offsets)


@dataclass(frozen=True)
class SpanScore:
    """The best answer span of one passage.

    Attributes:
        start: Character offset of the span in the passage.
        end: Character offset one past its end.
        span_logit: ``start_logit + end_logit`` of the span.
        null_logit: ``start_logit + end_logit`` at [CLS] (the "no answer" position).
    """

    start: int
    end: int
    span_logit: float
    null_logit: float


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, context_mask: np.ndarray, offsets: np.ndarray,
              max_tokens: int = MAX_ANSWER_TOKENS, top: int = 20) -> SpanScore | None:
    """The highest-scoring passage span of one pair (start <= end, at most ``max_tokens`` long).

    Args:
        start_logits: ``(length,)`` start scores of one pair.
        end_logits: ``(length,)`` end scores.
        context_mask: ``(length,)`` True for passage tokens.
        offsets: ``(length, 2)`` character offsets of the tokens in the passage.
        max_tokens: Longest span in tokens.
        top: Start and end candidates considered (the best ``top`` of each).

    Returns:
        The span, or None when the passage has no tokens.
    """
    positions = np.flatnonzero(context_mask)
    if positions.size == 0:
        return None
    s, e = start_logits[positions], end_logits[positions]
    k = min(top, positions.size)
    si = np.argpartition(-s, k - 1)[:k]
    ei = np.argpartition(-e, k - 1)[:k]
    total = s[si][:, None] + e[ei][None, :]
    length = ei[None, :] - si[:, None]
    total = np.where((length >= 0) & (length < max_tokens), total, -np.inf)
    a, b = np.unravel_index(int(np.argmax(total)), total.shape)
    if not np.isfinite(total[a, b]):  # no valid pair among the top: take the best single token
        a_pos = int(np.argmax(s))
        start_pos = end_pos = positions[a_pos]
        value = float(s[a_pos] + e[a_pos])
    else:
        start_pos, end_pos, value = positions[si[a]], positions[ei[b]], float(total[a, b])
    return SpanScore(int(offsets[start_pos, 0]), int(offsets[end_pos, 1]), value, float(start_logits[0] + end_logits[0]))


def answer_positions(batch: PairBatch, row: int, start: int, end: int) -> tuple[int, int] | None:
    """Token positions of the first and last passage token of characters ``[start, end)``, or None if cut off."""
    ctx = np.flatnonzero(batch.context_mask[row])
    if ctx.size == 0:
        return None
    offs = batch.offsets[row, ctx]
    inside = np.flatnonzero((offs[:, 1] > start) & (offs[:, 0] < end))
    if inside.size == 0 or offs[inside[-1], 1] < end:
        return None
    return int(ctx[inside[0]]), int(ctx[inside[-1]])
