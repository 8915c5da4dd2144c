"""Evaluation data and metrics for ``qa`` (not part of the installed package)."""
