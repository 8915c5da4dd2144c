"""Shared by the ONNX tests (``tests/test_onnx_*.py``): one export per test session, in a cache of its own.

Every ONNX test uses the real packaged model and a cache folder of its own
(``QA_CACHE_DIR`` points at a temporary folder while a module's tests run), so
nothing is written to ``~/.cache``.  The export (~5-10 s on a free machine)
runs once per test session, whichever ONNX test module needs it first; the
fixtures are registered for every test module by ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa.onnx import cache as onnx_cache
from qa.index.embedding import DEFAULT_MODEL, default_model_path, load_sentence_transformer
from qa.onnx.cache import load_onnx_embedder
from qa.onnx.session import OnnxEmbedder

TABLE_LIMIT = 4000
"""One-token vectors precomputed in the tests' cache: the first 4,000 word-start tokens ("the", "navy", "ships" ...)."""


@contextlib.contextmanager
def using_cache(path: Path) -> Iterator[Path]:
    """Within the block, ``QA_CACHE_DIR`` is ``path`` and only :data:`TABLE_LIMIT` one-token vectors are precomputed."""
    before = os.environ.get(onnx_cache.CACHE_ENV)
    limit = onnx_cache.WORD_TABLE_LIMIT
    os.environ[onnx_cache.CACHE_ENV] = str(path)
    onnx_cache.WORD_TABLE_LIMIT = TABLE_LIMIT  # the whole vocabulary takes ~20 s; this part ~3 s
    try:
        yield path
    finally:
        onnx_cache.WORD_TABLE_LIMIT = limit
        if before is None:
            os.environ.pop(onnx_cache.CACHE_ENV, None)
        else:
            os.environ[onnx_cache.CACHE_ENV] = before


class CountingLoader:
    """Stands in for the SentenceTransformer loader; counts calls (export and verification need it)."""

    def __init__(self, model: object | None = None) -> None:
        self.model = model
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        if self.model is None:
            raise AssertionError("sentence-transformers was needed but should not have been")
        return self.model


@pytest.fixture(scope="session")
def onnx_cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ONNX tests' cache folder (empty until the first export)."""
    return tmp_path_factory.mktemp("qa-cache")


@pytest.fixture(scope="module")
def cache_dir(onnx_cache_root: Path) -> Iterator[Path]:
    """The tests' cache folder, as ``QA_CACHE_DIR`` for the whole module (restored afterwards)."""
    with using_cache(onnx_cache_root) as path:
        yield path


@pytest.fixture(scope="session")
def st_model() -> object:
    return load_sentence_transformer(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def shared_fp32_embedder(onnx_cache_root: Path, st_model: object) -> OnnxEmbedder:
    """The fp32 embedder, exported and verified into the fresh cache (once per test session)."""
    loader = CountingLoader(st_model)
    with using_cache(onnx_cache_root):
        embedder = load_onnx_embedder(DEFAULT_MODEL, default_model_path(), "fp32", loader)
    assert loader.calls >= 1  # a fresh cache: exported and verified
    return embedder


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path, shared_fp32_embedder: OnnxEmbedder) -> OnnxEmbedder:
    """The fp32 embedder of the tests' cache (which is ``QA_CACHE_DIR`` for the module)."""
    return shared_fp32_embedder


def entry_of(embedder: OnnxEmbedder) -> Path:
    return embedder.model_path.parent


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def copy_cache(cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tests' cache (so a test may damage it); returns the copied entry."""
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "cache"))
    shutil.copytree(cache_dir, tmp_path / "cache", copy_function=shutil.copy2)
    entries = [p for p in (tmp_path / "cache" / "onnx").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(entries) == 1
    return entries[0]


def make_model_copy(tmp_path: Path, pooling: dict | None = None, modules: list | None = None) -> Path:
    """A model folder linking to the packaged model's files, with its pooling or module list replaced."""
    source = default_model_path()
    folder = tmp_path / "model"
    folder.mkdir()
    for item in source.iterdir():
        if item.is_file():
            (folder / item.name).symlink_to(item)
    (folder / "1_Pooling").mkdir()
    config = json.loads((source / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({**config, **(pooling or {})}))
    if modules is not None:
        (folder / "modules.json").unlink()
        (folder / "modules.json").write_text(json.dumps(modules))
    return folder
