"""The tune/held-out split of the conversation sets (``../shared/data/conversations/``), by dialogue.

One rule for every script: a dialogue is in the tune half when the SHA-256 of its id is even.
Training (the reader's real negatives) and tuning use the tune half only; the held-out half is
only reported (``eval/scoring/conversations.py``).
"""

from __future__ import annotations

import hashlib


def is_tune(dialogue_id: str) -> bool:
    """Whether a dialogue (a QuAC-format paragraph's ``id``) is in the tune half."""
    return int(hashlib.sha256(dialogue_id.encode("utf-8")).hexdigest(), 16) % 2 == 0
