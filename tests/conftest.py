"""Shared fixtures: a tiny fake embedder for plumbing tests, and the real model for behaviour tests."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import qa  # noqa: E402
from qa.documents.lexical import tokenize  # noqa: E402
from tests.onnx.support import cache_dir, onnx_cache_root, onnx_embedder, shared_fp32_embedder, st_model  # noqa: E402,F401 - the ONNX tests' fixtures


class HashingEmbedder:
    """Bag of stemmed words hashed into 64 buckets: deterministic, instant, no model."""

    name = "test/hashing-64"
    dimension = 64

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated failure during encoding")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text) or ["\u2205"]:
                out[row, int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def in_threads(work: Callable[[], object], count: int = 8, timeout: float = 300) -> list[object]:
    """Run ``work`` in ``count`` threads at once; the results of those that finished within ``timeout``."""
    results: dict[int, object] = {}

    def worker(n: int) -> None:
        results[n] = work()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return list(results.values())


ARTICLE = Path(qa.__file__).parent / "data" / "eu-japan-security-pact.txt"


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def small_docs() -> list[qa.Document]:
    return [
        qa.Document("cats.txt", "Cats", "Cats sleep most of the day. A cat purrs when it is content.\nKittens drink milk.", "<memory>"),
        qa.Document("ships.txt", "Ships", "The harbour hosts large container ships. Ships unload cargo at the port.", "<memory>"),
        qa.Document("jets.txt", "Jets", "The fighter jet will fly by 2035. Engineers test the engines every week.", "<memory>"),
    ]


@pytest.fixture
def fake_index(tmp_path: Path, small_docs: list[qa.Document], fake_embedder: HashingEmbedder) -> Path:
    path = tmp_path / "idx"
    qa.build_index(small_docs, path, model=fake_embedder)
    return path


@pytest.fixture(scope="session")
def real_embedder() -> object:
    from qa.index.embedding import load_embedder

    return load_embedder()


@pytest.fixture(scope="session")
def article_bot(tmp_path_factory: pytest.TempPathFactory, real_embedder: object) -> qa.QA:
    """The bundled article indexed with the real packaged model (built once per session)."""
    from qa.documents.ingest import default_documents

    path = tmp_path_factory.mktemp("article") / "index"
    qa.build_index(default_documents(), path, model=real_embedder)  # type: ignore[arg-type]
    return qa.load(path, model=real_embedder)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sample_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real PDFs printed by headless chromium (skips when chromium is missing; see tests/sample_documents.py).

    ``report``: 3 pages, with chromium's own header and footer on every page;
    ``report_v2``: a changed 2-page version, without an HTML title; ``layout``: a two-column page and a
    narrow one with soft hyphens; ``scanned``: one page with a canvas drawing only.
    """
    from tests import sample_documents as documents

    browser = documents.chromium()
    if browser is None:
        pytest.skip("chromium is not installed (`make chromium`)")
    folder = tmp_path_factory.mktemp("pdfs")
    return {
        "report": documents.print_pdf(
            documents.pages_html("Harbour Report 2031", documents.REPORT_PAGES), folder / "report.pdf", header_footer=True, browser=browser
        ),
        "report_v2": documents.print_pdf(
            documents.pages_html(None, documents.REPORT_V2_PAGES), folder / "report_v2.pdf", browser=browser
        ),
        "layout": documents.print_pdf(documents.pages_html("Layout test", documents.LAYOUT_PAGES), folder / "layout.pdf", browser=browser),
        "scanned": documents.print_pdf(documents.scanned_html(), folder / "scanned.pdf", browser=browser),
    }


API_KEY = "test-key-0123456789abcdef"
"""The bearer key of the API test servers."""


@pytest.fixture(scope="session")
def api_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small documents indexed with the hashing embedder, once per session (copy it before writing)."""
    docs = [
        qa.Document("cats.txt", "Cats", "Cats sleep most of the day. A cat purrs when it is content.\nKittens drink milk.", "<memory>"),
        qa.Document("ships.txt", "Ships", "The harbour hosts large container ships. Ships unload cargo at the port.", "<memory>"),
        qa.Document("jets.txt", "Jets", "The fighter jet will fly by 2035. Engineers test the engines every week.", "<memory>"),
    ]
    path = tmp_path_factory.mktemp("api") / "index"
    qa.build_index(docs, path, model=HashingEmbedder())
    return path


@pytest.fixture(scope="session")
def api_bot(api_index: Path) -> qa.QA:
    """The shared API test index, loaded with the shipped reader (read-only: tests must not write to it)."""
    return qa.load(api_index, model=HashingEmbedder())


@pytest.fixture
def writable_api_index(api_index: Path, tmp_path: Path) -> Path:
    """A private copy of the API test index, for tests that add or remove documents."""
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(api_index, copy)
    return copy
