"""Hashing of files: the leaf module every other module may import (no qa imports).

A file's full SHA-256 (:func:`file_sha256`) identifies content; a sampled digest
(:func:`sampled_sha256`) is a cheap check of huge files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SAMPLE_BLOCKS = 64
SAMPLE_BLOCK_BYTES = 64 * 1024
"""The sampled digest of a large file covers 64 evenly spaced blocks of 64 KiB, the first and last included."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sampled_sha256(path: Path) -> str:
    """Hex SHA-256 of the size and ``SAMPLE_BLOCKS`` evenly spaced blocks of a file (cheap for huge files)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        last = max(0, size - SAMPLE_BLOCK_BYTES)
        for i in range(SAMPLE_BLOCKS):
            handle.seek(last * i // (SAMPLE_BLOCKS - 1))
            digest.update(handle.read(SAMPLE_BLOCK_BYTES))
    return digest.hexdigest()
