"""Answering: sentence scoring, the reader, the answer decision and citations."""
