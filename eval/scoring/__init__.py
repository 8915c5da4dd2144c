"""Scoring the answers: the evaluation sets, the metrics, the report, and the conversation evaluation.

The lowest room of ``eval/``: it imports no other.  Run from the repository root::

    make eval                                       # = python -m eval.scoring.run (the article set)
    python -m eval.scoring.run --dataset eval/data/squad2_dev_sample.json --json eval/out/squad.json
    python -m eval.scoring.conversations --sets coqa doqa --half heldout   # needs ../shared/data

docs/evaluation.md says what each number means.
"""
