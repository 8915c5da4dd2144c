from __future__ import annotations

import numpy as np
import pytest

import qa
from qa.index.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder, canonical_model_name, default_model_path, load_embedder
from qa.onnx.session import normalize


def test_default_model_is_the_packaged_copy(real_embedder: object) -> None:
    assert default_model_path().joinpath("model.safetensors").is_file()
    assert real_embedder.name == DEFAULT_MODEL and real_embedder.dimension == 384  # type: ignore[attr-defined]
    assert canonical_model_name(str(default_model_path())) == DEFAULT_MODEL


def test_vectors_are_normalised_and_meaningful(real_embedder: object) -> None:
    vectors = real_embedder.encode(["The navy will hold joint exercises.", "Ships will train together at sea.", "Bananas are yellow."])  # type: ignore[attr-defined]
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert real_embedder.encode([]).shape == (0, 384)  # type: ignore[attr-defined]


def test_normalize_keeps_zero_rows() -> None:
    out = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_unknown_model_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(qa.ModelLoadError, match="cannot load embedding model .*no-such-model"):
        load_embedder(str(tmp_path) + "/no-such-model")


def test_non_embedder_object_rejected() -> None:
    with pytest.raises(TypeError, match="model must be a name, a folder or an Embedder"):
        load_embedder(42)  # type: ignore[arg-type]


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="backend must be one of auto, torch, onnx, onnx-int8, bf16. Currently, backend is 'gpu'"):
        load_embedder(backend="gpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        qa.load(backend="cuda")


def test_default_backend_is_onnx_and_matches_torch(real_embedder: object) -> None:
    assert real_embedder.backend == "onnx"  # type: ignore[attr-defined]
    torch_embedder = load_embedder(backend="torch")
    assert isinstance(torch_embedder, SentenceTransformerEmbedder) and torch_embedder.backend == "torch"
    assert torch_embedder.name == real_embedder.name  # type: ignore[attr-defined]
    texts = ["What does the pact cover?", "The fighter jet will fly by 2035.", "x " * 400]
    cosines = (torch_embedder.encode(texts) * real_embedder.encode(texts)).sum(axis=1)  # type: ignore[attr-defined]
    assert cosines.min() >= 0.999
