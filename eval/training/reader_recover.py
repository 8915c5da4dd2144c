"""Recover the reader's torch weights from a shipped ONNX graph, so that training can resume without checkpoints.

Checkpoints (``eval/out/reader-work/``) are too large to commit and do not outlive the
machine that trained; the shipped ``model.onnx`` does.  Its weights are those of the
last round, int8 per output channel (``eval/training/train_reader.py``'s export and
:func:`qa.onnx.quantize.quantize`), so dequantising them gives the round's weights to
within the quantisation step: a starting point as good as the shipped model (the
int8 graph's span F1 was within 0.01 of the fp32 graph's on the calibration articles).

The graph's weight matrices carry the exporter's numeric names; the
``MatMulInteger`` (fp32: ``MatMul``) nodes hold them in the order the encoder runs them: per layer
query, key, value, attention output, intermediate, output, then the span head and the
answerable head (in an fp32 graph a ``Gemm`` that keeps its torch name).  :func:`recovered_state` maps them back to the torch module's
names, and ``tests/eval/test_reader_recover.py`` checks the result against the graph's
own outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LAYER_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "intermediate.dense", "output.dense")
"""The linear maps of one encoder layer, in the order the graph multiplies by them."""
EMBEDDINGS = ("word_embeddings", "token_type_embeddings", "position_embeddings")


def _weight(values: dict[str, np.ndarray], name: str) -> np.ndarray:
    """An initializer as float: ``(q - zero_point) * scale`` when ONNX Runtime quantised it (``name_quantized``)."""
    if not name.endswith("_quantized"):
        return values[name].astype(np.float32)
    base = name.removesuffix("_quantized")
    q = values[f"{base}_quantized"].astype(np.float32)
    return (q - values[f"{base}_zero_point"].astype(np.float32)) * values[f"{base}_scale"].astype(np.float32)


def recovered_state(path: Path) -> dict[str, np.ndarray]:
    """The reader's weights in a graph written by ``eval/training/train_reader.py`` (int8 or fp32), named as the torch
    ``Reader`` names them.

    Raises:
        ValueError: The graph does not hold the weights of a reader with span and answerable heads.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    state = {name: value for name, value in values.items()  # biases and LayerNorm weights are kept in float
             if name.startswith(("encoder.", "span.", "answerable.")) and value.dtype == np.float32
             and not name.endswith(("_scale", "_zero_point"))}
    weights = [n.input[1] for n in model.graph.node if n.op_type in ("MatMulInteger", "MatMul") and n.input[1] in values]
    layers = sum(1 for n in state if n.endswith("attention.self.query.bias"))
    embeddings = [f"encoder.embeddings.{emb}.weight" for emb in EMBEDDINGS]
    heads = ["span.weight"] + ([] if "answerable.weight" in state else ["answerable.weight"])  # fp32: a Gemm's own weight
    if len(weights) != layers * len(LAYER_LINEARS) + len(heads) or layers == 0 or not all(
            e in values or f"{e}_quantized" in values for e in embeddings):
        raise ValueError(f"{path}: {len(weights)} weight matrices for {layers} layers; expected "
                         f"{len(LAYER_LINEARS)} per layer, {len(heads)} for the heads and the embeddings "
                         "(a graph written by eval/training/train_reader.py)")
    for name in embeddings:
        state[name] = _weight(values, name if name in values else f"{name}_quantized")
    names = [f"encoder.encoder.layer.{i}.{lin}.weight" for i in range(layers) for lin in LAYER_LINEARS]
    names += heads
    for name, weight in zip(names, weights):
        state[name] = _weight(values, weight).T.copy()  # MatMul holds (in, out); torch's Linear (out, in)
    return state


def load_recovered(model: object, path: Path) -> list[str]:
    """Load :func:`recovered_state` into a fresh ``Reader`` module; returns the parameters left at their base values.

    Raises:
        ValueError: A recovered tensor does not fit the module, or a parameter other than the unused pooler is missing.
    """
    import torch

    state = {k: torch.from_numpy(np.array(v)) for k, v in recovered_state(path).items()}
    own = model.state_dict()  # type: ignore[attr-defined]
    for name, tensor in state.items():
        if name not in own or tuple(own[name].shape) != tuple(tensor.shape):
            raise ValueError(f"{path}: recovered {name} {tuple(tensor.shape)} does not fit the reader module")
    missing, _ = model.load_state_dict(state, strict=False)  # type: ignore[attr-defined]
    left = [m for m in missing if "pooler" not in m and not m.endswith("position_ids")]
    if left:
        raise ValueError(f"{path}: no recovered weights for {left}")
    return list(missing)


def shipped_rounds(folder: Path, schedule: list[dict]) -> dict[int, dict]:
    """The training records of the rounds a reader folder's card lists (by round number), checked against ``schedule`` (each round's plan as a dict).

    Raises:
        SystemExit: The card lists a round the schedule does not have, or with other data or learning rate.
    """
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    rounds = {int(r["round"]): r for r in card["training"]["rounds"]}
    for number, record in rounds.items():
        if number > len(schedule) or any(k in record and record[k] != v for k, v in schedule[number - 1].items()):
            raise SystemExit(f"{folder}/card.json's round {number} is not round {number} of the schedule: retrain without --from-graph")
    keep = ("steps", "batches_in_pass", "batch_size", "warmup", "max_length", "seed", "train_seconds", "threads",
            "device", "machine", "examples_seen", "init")
    return {n: {k: r[k] for k in keep if k in r} for n, r in rounds.items()}
