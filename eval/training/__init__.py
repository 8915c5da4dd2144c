"""Training the shipped answer reader and the answer verifier, and making the negatives they learn from.

May import :mod:`eval.scoring` (its metrics and the conversation split), nothing else of ``eval/``.
Needs torch and ``../shared/data``.  Run from the repository root::

    python -m eval.training.train_reader --data ../shared/data
    python -m eval.training.train_verifier --data ../shared/data
    python -m eval.training.make_negatives --data ../shared/data --work DIR --out DIR

docs/reader.md describes the recipe and its rounds.
"""
