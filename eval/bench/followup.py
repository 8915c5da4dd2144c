"""Follow-up latency: ``QA.ask`` of a follow-up with ``history`` against a first turn, on the bundled article.

Used by ``eval/bench/run.py`` (section ``followup``; skip it with ``--skip followup``), or alone::

    python -m eval.bench.followup --index DIR_OF_THE_ARTICLE_INDEX [--rounds 2]
  Each of the article's
questions is asked alone (a first turn), then each of :data:`FOLLOW_UPS` is asked with that answer as its
history, interleaved, after a warm-up; ``followup_ratio`` is the follow-ups' p50 over the first turns' p50
(the target is at most 1.5).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

from eval.bench.common import article_questions, percentile  # noqa: E402

FOLLOW_UPS = ("And who is building it?", "And when?", "What about Korea?", "Why did they sign it?")
"""Follow-ups asked after every first turn: a pronoun, ellipsis, "what about", a question of its own with a pronoun."""


def bench_followup(path: Path, questions: Sequence[str], model: Any = None, rounds: int = 2, warmup: int = 5) -> dict[str, Any]:
    """p50/p95 of first turns and of follow-ups asked with the first turn's answer as history.

    Args:
        path: An index of the bundled article.
        questions: First-turn questions.
        model: The embedder (None: the index's own).
        rounds: Times each question is asked.
        warmup: Untimed questions first.

    Returns:
        ``first_p50_ms``, ``first_p95_ms``, ``followup_p50_ms``, ``followup_p95_ms``, ``followup_ratio``,
        ``followed_share`` (follow-ups the engine read with the conversation) and the counts.
    """
    import qa

    bot = qa.load(path, model=model)
    for question in list(questions)[:warmup]:
        bot.ask(FOLLOW_UPS[0], history=[bot.ask(question)])
    first_ms: list[float] = []
    follow_ms: list[float] = []
    followed = 0
    for _ in range(rounds):
        for question in questions:
            start = time.perf_counter()
            answer = bot.ask(question)
            first_ms.append((time.perf_counter() - start) * 1000.0)
            for follow in FOLLOW_UPS:
                start = time.perf_counter()
                result = bot.ask(follow, history=[answer])
                follow_ms.append((time.perf_counter() - start) * 1000.0)
                followed += result.follow_up is not None
    first, follow = percentile(first_ms, 50), percentile(follow_ms, 50)
    return {
        "first_p50_ms": round(first, 2) if first else None, "first_p95_ms": round(percentile(first_ms, 95) or 0.0, 2),
        "followup_p50_ms": round(follow, 2) if follow else None, "followup_p95_ms": round(percentile(follow_ms, 95) or 0.0, 2),
        "followup_ratio": round(follow / first, 3) if first and follow else None,
        "followed_share": round(followed / len(follow_ms), 3) if follow_ms else None,
        "first_turns": len(first_ms), "followups": len(follow_ms),
    }


def format_followup(figures: dict[str, Any]) -> list[str]:
    """Table lines of :func:`bench_followup`'s result."""
    return [
        (f"{'ask, first turn / follow-up':<32}p50 {figures['first_p50_ms']} / {figures['followup_p50_ms']} ms "
         f"(ratio {figures['followup_ratio']}, target <= 1.5), p95 {figures['first_p95_ms']} / {figures['followup_p95_ms']} ms")
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Time follow-ups against first turns on an index of the bundled article and print the figures."""
    parser = argparse.ArgumentParser(description="follow-up ask() latency against first turns")
    parser.add_argument("--index", type=Path, required=True, help="an index of the bundled article")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    figures = bench_followup(args.index, article_questions(), rounds=args.rounds)
    sys.stdout.write("\n".join(format_followup(figures)) + "\n" + json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
