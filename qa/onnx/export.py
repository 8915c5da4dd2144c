"""Export a sentence-transformers model to ONNX, and check the export against sentence-transformers.

sentence-transformers stays the source of the model: :func:`export` traces its
transformer (``model[0].auto_model``) with ``torch.onnx.export`` and, for BERT-like
architectures, fuses the graph with ONNX Runtime's transformer optimizer;
:func:`verify` compares an :class:`~qa.onnx.session.OnnxEmbedder` of the export
with ``SentenceTransformer.encode`` on :func:`sample_texts`.  :mod:`qa.onnx.cache`
calls both once per model and caches the results.

The only module of the package that imports torch (inside :func:`export`);
nothing here runs on the query path of a cached model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from qa.onnx.session import BATCH_THREADS, ModelSpec, OnnxEmbedder, OnnxUnavailable, normalize

logger = logging.getLogger(__name__)

EXPORT_VERSION = 3
"""Bump when the export code changes: older cache entries are then ignored."""
OPSET = 17
EXPORTER_PACKAGES = ("torch", "transformers", "sentence-transformers")
"""Packages whose versions the export depends on (part of a cache entry's key)."""
MIN_COSINE = {"fp32": 0.999, "int8": 0.95}
"""Smallest cosine to sentence-transformers' embedding accepted on any sample text."""
MIN_MEAN_COSINE = {"fp32": 0.9995, "int8": 0.98}
"""Smallest mean cosine over the sample texts."""
FUSED_MODEL_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra"}
"""Architectures whose exported graph ONNX Runtime's transformer optimizer fuses (``model_type="bert"``)."""

SAMPLE_TEXTS = (
    "What does the pact cover?",
    "Who is Japan's foreign minister?",
    "",
    "   leading and trailing   spaces   ",
    "Hi",
    "naïve café — Tōkyō, 東京, Ελλάδα, Москва 🇪🇺🤝🇯🇵",
    "Japan and the European Union announced a sweeping new security and defense partnership in Tokyo, "
    "which the EU foreign policy chief hailed as a historic and very timely step.",
    "URL https://example.com/a?b=c&d=e, e-mail someone@example.org, numbers 3.14159 and 1,000,000.",
    "partnership",
    "Tokyo",
    "drills",
    "2035",
)


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """What :func:`export` wrote.

    Attributes:
        spec: How to run the graph (``spec.fused``: the graph was fused by ONNX Runtime's optimizer).
        attention: The attention implementation traced (``"eager"`` unless the model has no other).
    """

    spec: ModelSpec
    attention: str


def sample_texts() -> list[str]:
    """Texts the export is checked on: short and long, odd characters, and texts beyond 256 tokens."""
    texts = list(SAMPLE_TEXTS)
    article = Path(__file__).resolve().parents[1] / "data" / "eu-japan-security-pact.txt"
    with contextlib.suppress(OSError):
        body = article.read_text(encoding="utf-8")
        texts += [body[:600], body[:1400], body]  # ~130 tokens, ~300 tokens (truncated), the whole article
    texts.append(" ".join(f"token{i} means word number {i}." for i in range(200)))  # ~1400 tokens, truncated
    return texts


# --------------------------------------------------------------------------- verification


def _st_reference(st_model: Any, texts: list[str]) -> tuple[np.ndarray, list[list[int]]]:
    """sentence-transformers' unit vectors and (unpadded) token ids of ``texts``."""
    vectors = st_model.encode(texts, batch_size=8, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False)
    preprocess = getattr(st_model, "preprocess", None) or st_model.tokenize
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = preprocess(texts)
    ids = features["input_ids"].tolist()
    mask = features["attention_mask"].tolist()
    return normalize(vectors), [[t for t, m in zip(row, keep) if m] for row, keep in zip(ids, mask)]


def verify(embedder: OnnxEmbedder, st_model: Any) -> dict[str, Any]:
    """Compare an ONNX embedder with sentence-transformers on :func:`sample_texts`.

    Checks that the token ids are identical (truncation included) and that each
    vector's cosine to sentence-transformers' is at least ``MIN_COSINE[variant]``,
    encoding the texts one at a time and as one padded batch; with a one-token
    table attached, also that its vectors equal the model's.

    Returns:
        The record saved as ``verify-<variant>.json``: ``ok``, ``reason``, cosines.
    """
    import onnxruntime

    texts = sample_texts()
    reference, reference_ids = _st_reference(st_model, texts)
    record: dict[str, Any] = {
        "ok": False,
        "reason": "",
        "variant": embedder.variant,
        "texts": len(texts),
        "onnxruntime": onnxruntime.__version__,
        "checked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    ids = embedder.tokenize(texts)
    differ = [i for i, (a, b) in enumerate(zip(ids, reference_ids)) if a != b]
    record["max_tokens"] = max(len(row) for row in ids)
    if differ:
        record["reason"] = f"tokenisation differs from sentence-transformers on {len(differ)} sample text(s), e.g. #{differ[0]}"
        return record
    batched = embedder.encode(texts, batch_size=len(texts))
    single = np.concatenate([embedder.encode([t]) for t in texts])
    cosines = np.concatenate([(batched * reference).sum(axis=1), (single * reference).sum(axis=1)])
    record["min_cosine"] = round(float(cosines.min()), 6)
    record["mean_cosine"] = round(float(cosines.mean()), 6)
    variant = embedder.variant
    if record["min_cosine"] < MIN_COSINE[variant] or record["mean_cosine"] < MIN_MEAN_COSINE[variant]:
        record["reason"] = (
            f"embeddings differ from sentence-transformers: min cosine {record['min_cosine']:.4f} "
            f"(need {MIN_COSINE[variant]}), mean {record['mean_cosine']:.4f} (need {MIN_MEAN_COSINE[variant]})"
        )
        return record
    if embedder.has_table:
        words = ["partnership", "tokyo", "navy", "the", "2035", "[UNK]", "defence", "ships"]

        def each(texts: list[str]) -> np.ndarray:  # int8: one text a batch (its activations are quantised per batch)
            return embedder.encode(texts) if variant == "fp32" else np.concatenate([embedder.encode([t]) for t in texts])

        with embedder.without_table():
            direct = each(words)
        record["table_min_cosine"] = round(float((each(words) * direct).sum(axis=1).min()), 6)
        if record["table_min_cosine"] < 0.99999:
            record["reason"] = f"precomputed one-token vectors differ from the model's (min cosine {record['table_min_cosine']:.6f})"
            return record
    record["ok"] = True
    return record


# --------------------------------------------------------------------------- export


def export(st_model: Any, model_folder: Path, model_path: Path, tokenizer_path: Path) -> ExportedModel:
    """Export the transformer of a loaded SentenceTransformer to ``model_path``; copy its tokenizer to ``tokenizer_path``.

    ``model_folder`` is the folder the SentenceTransformer was loaded from (its
    ``tokenizer.json`` is copied).  Intermediate graphs are written next to
    ``model_path`` (``<stem>.plain.onnx``, ``<stem>.fused.onnx``) and removed.

    The attention is exported in its ``eager`` form (plain MatMul/Softmax, which
    ONNX Runtime fuses and runs faster than the traced SDPA graph); the model's own
    attention implementation is restored afterwards.

    Raises:
        OnnxUnavailable: The tokenizer lacks ``input_ids``/``attention_mask``, or the folder has no ``tokenizer.json``.
        Exception: Whatever torch's exporter raises.
    """
    import inspect

    import torch

    transformer = st_model[0]
    auto_model = transformer.auto_model
    tokenizer = transformer.tokenizer
    preprocess = getattr(st_model, "preprocess", None) or st_model.tokenize
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = preprocess(["An example sentence to trace the model.", "A shorter one."])
    accepted = inspect.signature(auto_model.forward).parameters
    inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features and n in accepted]
    if inputs[:2] != ["input_ids", "attention_mask"]:
        raise OnnxUnavailable(f"the tokenizer gives {sorted(features)}; input_ids and attention_mask are needed")

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(inputs, args)))[0]

    previous = getattr(auto_model.config, "_attn_implementation", None)
    switched = False
    if previous not in (None, "eager") and hasattr(auto_model, "set_attn_implementation"):
        try:
            auto_model.set_attn_implementation("eager")
            switched = True
        except Exception as exc:  # noqa: BLE001 - keep the default attention if eager is unsupported
            logger.debug("cannot switch to eager attention for the export: %s", exc)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in [*inputs, "last_hidden_state"]}
    was_training = auto_model.training
    auto_model.eval()
    plain = model_path.with_name(model_path.stem + ".plain.onnx")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapper(),
                tuple(features[n] for n in inputs),
                str(plain),
                input_names=inputs,
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    finally:
        if switched:
            auto_model.set_attn_implementation(previous)
        auto_model.train(was_training)
    if not (model_folder / "tokenizer.json").is_file():
        raise OnnxUnavailable("the model folder has no tokenizer.json")
    shutil.copyfile(model_folder / "tokenizer.json", tokenizer_path)
    dimension = st_model.get_embedding_dimension() if hasattr(st_model, "get_embedding_dimension") else None
    spec = ModelSpec(
        dimension=int(dimension or st_model.get_sentence_embedding_dimension()),
        max_seq_length=int(st_model.max_seq_length),
        inputs=tuple(inputs),
        pad_token_id=int(tokenizer.pad_token_id or 0),
    )
    fused = _fuse(plain, model_path, auto_model.config, tokenizer_path, spec)
    attention = "eager" if switched or previous == "eager" else str(previous)
    return ExportedModel(dataclasses.replace(spec, fused=fused), attention)


def _fuse(plain: Path, target: Path, config: Any, tokenizer_json: Path, spec: ModelSpec) -> bool:
    """Fuse attention, LayerNorm and GELU of the plain export with ONNX Runtime's transformer optimizer.

    The fused graph loads ~2x faster and runs ~15% faster.  It is kept only when
    its outputs equal the plain graph's on the sample texts; otherwise the plain
    graph is used.

    Returns:
        Whether the graph written to ``target`` is the fused one.
    """
    model_type = str(getattr(config, "model_type", ""))
    reason = ""
    if model_type in FUSED_MODEL_TYPES:
        fused = target.with_name(target.stem + ".fused.onnx")
        try:
            from onnxruntime.transformers import optimizer

            quiet = [logging.getLogger(n) for n in ("onnxruntime", "onnxruntime.transformers", "fusion_base", "onnx_model", "onnx_model_bert")]
            levels = [q.level for q in quiet]
            for q in quiet:
                q.setLevel(logging.ERROR)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = optimizer.optimize_model(
                        str(plain), model_type="bert",
                        num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                        hidden_size=int(getattr(config, "hidden_size", 0) or 0), opt_level=0,
                    )
                    model.save_model_to_file(str(fused))
            finally:
                for q, level in zip(quiet, levels):
                    q.setLevel(level)
            worst = _graphs_agree(plain, fused, tokenizer_json, spec)
            if worst >= 0.99999:
                os.replace(fused, target)
                plain.unlink()
                return True
            reason = f"fused graph differs from the plain one (min cosine {worst:.6f})"
        except Exception as exc:  # noqa: BLE001 - fusion is an optimisation only
            reason = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            fused.unlink()
        logger.info("keeping the plain ONNX graph (%s)", reason)
    os.replace(plain, target)
    return False


def _graphs_agree(a: Path, b: Path, tokenizer_json: Path, spec: ModelSpec) -> float:
    """Smallest cosine between the mean-pooled outputs of two ONNX graphs on the sample texts."""
    vectors = []
    for path in (a, b):
        embedder = OnnxEmbedder("", path, tokenizer_json, spec, "fp32", threads=BATCH_THREADS)
        texts = sample_texts()
        vectors.append(np.concatenate([embedder.encode(texts), embedder.encode(texts[:1])]))
    return float((vectors[0] * vectors[1]).sum(axis=1).min())
