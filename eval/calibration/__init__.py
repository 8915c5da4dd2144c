"""Calibration: fitting the sentence model, the answer decision and their thresholds on the tune splits only.

May import :mod:`eval.scoring` and :mod:`eval.training`.  Run from the repository root::

    python -m eval.calibration.tune                                    # the sentence model (reader=False)
    python -m eval.calibration.calibrate_reader --data ../shared/data  # the decision, threshold and depth

docs/reader.md and docs/evaluation.md give the fitted values and what they were judged on.
"""
