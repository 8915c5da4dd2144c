"""eval/training/reader_recover.py: the shipped graph's weights, back in the torch module that trained them."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from eval.training import train_reader  # noqa: E402
from eval.training.reader_recover import load_recovered, recovered_state, shipped_rounds  # noqa: E402
from qa.answering.reader import default_reader_path  # noqa: E402
from qa.answering.reader_tokens import encode_pairs, load_tokenizer  # noqa: E402


def test_recovered_weights_reproduce_the_shipped_graph() -> None:
    import onnxruntime as ort

    folder = default_reader_path()
    model = train_reader.make_model()
    assert all("pooler" in m for m in load_recovered(model, folder / "model.onnx"))  # the unused pooler only
    model.eval()
    tokenizer = load_tokenizer(folder / "tokenizer.json", 192)
    questions = ["When was the pact signed?", "Who signed it?", "What is the population of Japan?"]
    batch = encode_pairs(tokenizer, questions, [train_reader.TINY_CONTEXT] * 3)
    inputs = (batch.input_ids, batch.attention_mask, batch.token_type_ids)
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    graph = session.run(None, dict(zip(("input_ids", "attention_mask", "token_type_ids"), inputs)))
    with torch.no_grad():
        ours = [t.numpy() for t in model(*(torch.from_numpy(a) for a in inputs))]
    real = batch.attention_mask.astype(bool)
    for g, o in zip(graph[:2], ours[:2]):  # start and end logits: the same up to the int8 graph's activation rounding
        assert np.corrcoef(g[real], o[real])[0, 1] > 0.98
        assert (g[:2].argmax(axis=1) == o[:2].argmax(axis=1)).all()  # the answerable questions' best start and end
    assert np.abs(graph[2] - ours[2]).max() < 1.0  # answerable logits
    # a wrong mapping (query and key swapped) would not reproduce it
    state = recovered_state(folder / "model.onnx")
    assert not np.allclose(state["encoder.encoder.layer.0.attention.self.query.weight"],
                           state["encoder.encoder.layer.0.attention.self.key.weight"])


def test_a_graph_without_reader_weights_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])), str(path))
    with pytest.raises(ValueError, match="0 weight matrices for 0 layers"):
        recovered_state(path)


def test_shipped_rounds_are_checked_against_the_schedule() -> None:
    schedule = [asdict(r) for r in train_reader.SCHEDULE]
    card = json.loads((default_reader_path() / "card.json").read_text())
    rounds = shipped_rounds(default_reader_path(), schedule)
    assert sorted(rounds) == [r["round"] for r in card["training"]["rounds"]]
    assert all(rounds[n]["steps"] > 0 and "init" in rounds[n] for n in rounds)
    other = [asdict(replace(train_reader.SCHEDULE[0], lr=1e-3))] + schedule[1:]
    with pytest.raises(SystemExit, match="round 1 is not round 1 of the schedule"):
        shipped_rounds(default_reader_path(), other)
    with pytest.raises(SystemExit, match="is not round 1 of the schedule"):
        shipped_rounds(default_reader_path(), [])  # a card with more rounds than the schedule
