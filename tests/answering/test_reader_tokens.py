"""Pair encoding and span decoding shared by the reader and its training script."""

from __future__ import annotations

import numpy as np
import pytest

from qa.index.embedding import default_model_path
from qa.answering.reader_tokens import MAX_QUESTION_TOKENS, answer_positions, best_span, encode_pairs, load_tokenizer

PASSAGE = "The EU and Japan signed the pact in Tokyo on Nov. 1, 2024. It covers maritime security."


@pytest.fixture(scope="module")
def tokenizer() -> object:
    return load_tokenizer(default_model_path() / "tokenizer.json", 64)


def test_offsets_point_into_the_passage(tokenizer: object) -> None:
    batch = encode_pairs(tokenizer, "When was it signed?", [PASSAGE, "Short one."])
    assert batch.input_ids.shape == batch.attention_mask.shape == batch.context_mask.shape
    row = 0
    pos = np.flatnonzero(batch.context_mask[row])
    assert pos.size > 10 and batch.token_type_ids[row, pos].all()
    assert not batch.context_mask[row, 0]  # [CLS]
    start, end = batch.offsets[row, pos[0]]
    assert PASSAGE[start:end].lower() == "the"
    # the shorter pair is padded, its padding is neither passage nor attended
    assert batch.attention_mask[1].sum() < batch.attention_mask[0].sum()
    assert not batch.context_mask[1, batch.attention_mask[1] == 0].any()


def test_answer_positions_round_trip(tokenizer: object) -> None:
    batch = encode_pairs(tokenizer, "When was it signed?", [PASSAGE])
    start = PASSAGE.index("Nov. 1, 2024")
    first, last = answer_positions(batch, 0, start, start + len("Nov. 1, 2024"))
    lo, hi = batch.offsets[0, first, 0], batch.offsets[0, last, 1]
    assert PASSAGE[lo:hi] == "Nov. 1, 2024"


def test_answer_cut_off_by_truncation_has_no_position(tokenizer: object) -> None:
    long_passage = "word " * 200 + "Tokyo"
    batch = encode_pairs(tokenizer, "Where?", [long_passage])
    assert batch.input_ids.shape[1] == 64
    start = long_passage.index("Tokyo")
    assert answer_positions(batch, 0, start, start + 5) is None


def test_long_question_is_cut(tokenizer: object) -> None:
    question = "why " * 100
    batch = encode_pairs(tokenizer, question, [PASSAGE])
    first_passage_token = int(np.flatnonzero(batch.context_mask[0])[0])
    assert first_passage_token == MAX_QUESTION_TOKENS + 2  # [CLS], the cut question, [SEP]
    assert batch.input_ids[0, first_passage_token - 1] == tokenizer.sep_id


def test_best_span_respects_order_and_length(tokenizer: object) -> None:
    batch = encode_pairs(tokenizer, "When?", [PASSAGE])
    n = batch.input_ids.shape[1]
    pos = np.flatnonzero(batch.context_mask[0])
    start, end = np.zeros(n), np.zeros(n)
    start[pos[5]], end[pos[3]] = 9.0, 9.0  # the best end lies before the best start: not allowed together
    end[pos[7]] = 5.0
    span = best_span(start, end, batch.context_mask[0], batch.offsets[0])
    assert span.start == batch.offsets[0, pos[5], 0] and span.end == batch.offsets[0, pos[7], 1]
    assert span.span_logit == pytest.approx(14.0) and span.null_logit == pytest.approx(0.0)
    assert best_span(start, end, np.zeros(n, dtype=bool), batch.offsets[0]) is None
