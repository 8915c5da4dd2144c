"""Pure helpers of eval/bench/run.py, eval/bench/common.py and eval/bench/scale.py (the benchmark itself is run by hand: `make bench`)."""

from __future__ import annotations

import numpy as np
import pytest

from eval.bench import run as bench, common as bench_common, scale as bench_scale
from qa.onnx.session import normalize


def test_percentile() -> None:
    assert bench_common.percentile([], 50) is None
    assert bench_common.percentile([3.0], 95) == 3.0
    assert bench_common.percentile([1, 2, 3, 4], 50) == 2.5
    assert bench_common.percentile(list(range(101)), 95) == pytest.approx(95.0)


def test_recall_at_k() -> None:
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    assert bench_scale.recall_at_k(truth, truth, 3) == 1.0
    assert bench_scale.recall_at_k(np.array([[3, 2, 9], [7, 8, 9]]), truth, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert bench_scale.recall_at_k(np.array([[1, -1, -1], [6, 5, 4]]), truth, 3) == pytest.approx((1 / 3 + 1) / 2)
    assert bench_scale.recall_at_k(np.array([[2, 1, 3]]), np.array([[1, 2, 3]]), 2) == 1.0  # order within the top k is free
    assert bench_scale.recall_at_k(np.zeros((0, 3)), np.zeros((0, 3)), 3) == 1.0


def test_timed_warms_up_then_times() -> None:
    calls = []
    times = bench_common.timed(lambda: calls.append(1), repeats=5, warmup=3)
    assert len(calls) == 8 and len(times) == 5 and all(t >= 0 for t in times)


def test_synthetic_vectors_are_unit_deterministic_and_near_the_real_ones() -> None:
    rng = np.random.default_rng(7)
    real = normalize(rng.standard_normal((50, 32)).astype(np.float32))
    a = bench_scale.synthetic_vectors(real, 500, seed=1, chunk=128)
    assert a.shape == (500, 32) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, bench_scale.synthetic_vectors(real, 500, seed=1, chunk=128))
    assert not np.array_equal(a, bench_scale.synthetic_vectors(real, 500, seed=2, chunk=128))
    # every synthetic vector sits close to some real vector (not uniform noise) ...
    assert np.median((a @ real.T).max(axis=1)) > 0.7
    # ... unlike random vectors
    noise = normalize(rng.standard_normal((500, 32)).astype(np.float32))
    assert np.median((noise @ real.T).max(axis=1)) < 0.6


def test_shuffled_variants_keep_the_sentences_and_are_distinct() -> None:
    paragraphs = ["One a. Two b! Three c?", "Only one sentence here."]
    variants = bench_common.shuffled_variants(paragraphs, copies=3, seed=0)
    assert variants[:2] == paragraphs
    assert len(variants) == len(set(variants))
    for text in variants[2:]:
        assert sorted(bench_common.split_sentences_simple(text)) == sorted(bench_common.split_sentences_simple(paragraphs[0]))
    assert "Only one sentence here." in variants and variants.count("Only one sentence here.") == 1


def test_format_table_and_free_port() -> None:
    result = {
        "ask_p50_ms": 12.5, "ask_p95_ms": None, "build_passages_per_s": 30,
        "incremental": {"passages": 10, "full_build_s": 1.0, "incremental_s": 0.1, "reembedded_passages": 1},
        "scale": [{"n": 100, "index": "flat", "p50_ms": 0.1, "recall@10": 1.0, "rss_mb": 1.0, "build_s": 0.0}],
    }
    table = bench.format_table(result)
    assert "ask_p50_ms" in table and "12.5" in table and "n/a" in table and "re-embedded 1 passages" in table
    assert "flat" in table.splitlines()[-1]
    assert 0 < bench_common.free_port() < 65536
