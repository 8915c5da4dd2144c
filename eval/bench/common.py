"""What the benchmarks share: the SQuAD sample's texts, the article's questions, timing, percentiles, a free port,
the offline environment, the shuffled paragraph variants of the build benchmarks.

Used by ``eval/bench/run.py``, ``eval/bench/http_api.py``, ``eval/bench/scale.py``, ``eval/bench/milvus.py`` and
``eval/choices/pdf.py``; it imports none of them (``eval/bench/serving.py`` starts and stops their servers).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


SQUAD = REPO_ROOT / "eval" / "data" / "squad2_dev_sample.json"
ARTICLE_QUESTIONS = REPO_ROOT / "eval" / "qa_article.jsonl"


WARMUP = 10


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation) of the values; None when there are none."""
    if not len(values):
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def timed(fn: Callable[[], Any], repeats: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def squad() -> dict:
    return json.loads(SQUAD.read_text(encoding="utf-8"))


def squad_paragraphs() -> list[str]:
    return [p["context"] for article in squad()["data"] for p in article["paragraphs"]]


def squad_questions() -> list[str]:
    return [q["question"] for article in squad()["data"] for p in article["paragraphs"] for q in p["qas"]]


def article_questions() -> list[str]:
    """The questions of ``eval/qa_article.jsonl`` (answerable and not), on the bundled article."""
    lines = ARTICLE_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def python_env() -> dict[str, str]:
    """This environment, offline, analytics off, the repository on the Python path (for new processes)."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(REPO_ROOT))
    return env


def split_sentences_simple(text: str) -> list[str]:
    """Sentences of a paragraph, split after ``.``, ``!`` or ``?`` followed by white space."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def shuffled_variants(paragraphs: Sequence[str], copies: int, seed: int = 0) -> list[str]:
    """Up to ``copies`` distinct versions of every paragraph: the original, then its sentences in seeded random orders.

    A paragraph with too few sentences for another distinct order gets fewer versions.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    for copy in range(copies):
        for paragraph in paragraphs:
            sentences = split_sentences_simple(paragraph)
            for _ in range(10 if copy else 1):
                order = rng.permutation(len(sentences)) if copy else range(len(sentences))
                text = " ".join(sentences[i] for i in order)
                if text not in out:
                    out[text] = None
                    break
    return list(out)
