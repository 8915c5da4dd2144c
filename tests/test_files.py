from __future__ import annotations

import hashlib
from pathlib import Path

from qa.files import SAMPLE_BLOCK_BYTES, SAMPLE_BLOCKS, file_sha256, sampled_sha256


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 9000  # over one read block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_sampled_digest_sees_size_and_sampled_blocks_only(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    size = SAMPLE_BLOCKS * SAMPLE_BLOCK_BYTES * 3
    path.write_bytes(b"\1" * size)
    before = sampled_sha256(path)
    with path.open("r+b") as handle:  # a byte between two sampled blocks
        handle.seek(SAMPLE_BLOCK_BYTES + 10)
        handle.write(b"\2")
    assert sampled_sha256(path) == before
    with path.open("r+b") as handle:  # the first block is always sampled
        handle.seek(0)
        handle.write(b"\2")
    assert sampled_sha256(path) != before
    path.write_bytes(b"\1" * (size - 1))
    assert sampled_sha256(path) != before
