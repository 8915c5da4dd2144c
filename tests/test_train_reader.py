"""eval/train_reader.py end to end on its tiny inline set: it proves the pipeline, not the quality."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

pytest.importorskip("torch")
pytest.importorskip("transformers")

from eval import train_reader  # noqa: E402
from qa.reader import Reader, verify_reader  # noqa: E402


def run(tmp: Path, name: str, *extra: str) -> tuple[Path, Path]:
    out, work = tmp / f"{name}-model", tmp / f"{name}-work"
    args = ["--tiny", "--out", str(out), "--work", str(work), "--batch-size", "4", "--max-length", "96", *extra]
    assert train_reader.main(args) == 0
    return out, work


def test_tiny_run_writes_a_loadable_verified_model(tmp_path: Path) -> None:
    out, work = run(tmp_path, "a", "--max-steps", "4", "--checkpoint-every", "2")
    card = verify_reader(out)
    assert card["licence"] == "CC BY-SA 4.0" and "SQuAD" in card["attribution"]
    assert card["training"]["steps"] == 4 and card["training"]["seed"] == 13
    assert card["training"]["onnx_export_check"]["max_abs_diff"] <= train_reader.EXPORT_ATOL
    assert set(card["metrics"]["calibration_articles_gold_paragraph"]) >= {"reader.onnx", "reader-int8.onnx", "chosen"}
    reads = Reader(out).read("When was the pact signed?", [train_reader.TINY_CONTEXT, "Nothing here."])
    assert len(reads) == 2 and all(r.span is not None for r in reads)
    for r, text in zip(reads, [train_reader.TINY_CONTEXT, "Nothing here."]):
        assert 0 <= r.span.start < r.span.end <= len(text)
    assert "step 4/4" in (work / "train.log").read_text()


def test_training_is_deterministic_and_resumable(tmp_path: Path) -> None:
    import torch

    _, work_a = run(tmp_path, "a", "--max-steps", "4", "--checkpoint-every", "3")
    # b: killed after 2 steps (checkpointed), then resumed to the same 4 steps
    out_b, work_b = run(tmp_path, "b", "--max-steps", "4", "--checkpoint-every", "3", "--stop-after", "2")
    assert not (work_b / "final.pt").exists() and not out_b.exists()
    assert torch.load(work_b / "checkpoint.pt", weights_only=False)["step"] == 2
    run(tmp_path, "b", "--max-steps", "4", "--checkpoint-every", "3")
    a = torch.load(work_a / "final.pt", weights_only=True)
    b = torch.load(work_b / "final.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    record = json.loads((work_b / "train_record.json").read_text())
    assert record["steps"] == 4 and record["examples_seen"] == 16
    assert verify_reader(out_b)
