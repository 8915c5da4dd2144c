"""eval/training/train_verifier.py end to end on its tiny inline set: it proves the pipeline (and resuming), not the quality."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


pytest.importorskip("torch")
pytest.importorskip("transformers")

from eval.training import train_verifier  # noqa: E402
from qa.answering.reader import Reader, default_reader_path, verify_reader  # noqa: E402


def test_tiny_run_adds_a_checked_verifier_and_resumes_to_the_same_weights(tmp_path: Path) -> None:
    import torch

    out = tmp_path / "reader"
    shutil.copytree(default_reader_path(), out)
    (out / "verifier.onnx").unlink(missing_ok=True)
    common = ["--tiny", "--out", str(out), "--batch-size", "4", "--max-length", "64", "--max-steps", "4", "--checkpoint-every", "3"]
    assert train_verifier.main([*common, "--work", str(tmp_path / "a")]) == 0
    # b: stopped after 2 steps (checkpointed), then resumed to the end: the same weights as a
    assert train_verifier.main([*common, "--work", str(tmp_path / "b"), "--stop-after", "2"]) == 0
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["step"] == 2
    assert not (tmp_path / "b" / "final.pt").exists()
    assert train_verifier.main([*common, "--work", str(tmp_path / "b")]) == 0
    a = torch.load(tmp_path / "a" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "final.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card = verify_reader(out)
    assert "verifier.onnx" in card["files"] and card["training"]["verifier"]["steps"] == 4
    assert card["training"]["command"] == train_verifier.RETRAIN_WITH_VERIFIER
    assert "-m eval.training.train_verifier" in card["training"]["command"] and card["training"]["command"].endswith("--data ../shared/data")
    assert json.loads((out / "reader.json").read_text())["verifier"]["max_length"] == 64
    reader = Reader(out)
    logits = reader.verify("When was the pact signed?", ["The pact was signed on Nov. 1, 2024.", "Cats sleep."])
    assert len(logits) == 2 and all(isinstance(v, float) for v in logits)
