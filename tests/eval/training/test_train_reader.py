"""eval/training/train_reader.py end to end on its tiny inline set: it proves the pipeline, not the quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


pytest.importorskip("torch")
pytest.importorskip("transformers")

from eval.training import train_reader  # noqa: E402
from qa.answering.reader import Reader, verify_reader  # noqa: E402


def run(tmp: Path, name: str, *extra: str) -> tuple[Path, Path]:
    out, work = tmp / f"{name}-model", tmp / f"{name}-work"
    args = ["--tiny", "--out", str(out), "--work", str(work), "--batch-size", "4", "--max-length", "96", *extra]
    assert train_reader.main(args) == 0
    return out, work


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One tiny run of the shipped rounds (4 steps each, a checkpoint every 3), shared by the tests below."""
    return run(tmp_path_factory.mktemp("shipped"), "a", "--max-steps", "4", "--checkpoint-every", "3")


def test_tiny_run_writes_a_loadable_verified_model(shipped: tuple[Path, Path]) -> None:
    out, work = shipped
    card = verify_reader(out)
    assert card["licence"] == "CC BY-SA 4.0" and "SQuAD" in card["attribution"]
    rounds = card["training"]["rounds"]
    n = train_reader.SHIPPED_ROUNDS
    assert n >= 2 and [r["round"] for r in rounds] == list(range(1, n + 1)) and all(r["steps"] == 4 for r in rounds)
    assert card["training"]["steps"] == 4 * n and card["training"]["seed"] == 13
    assert rounds[1]["init"] == "round 1's weights" and rounds[1]["lr"] == train_reader.SCHEDULE[1].lr
    assert card["training"]["onnx_export_check"]["max_abs_diff"] <= train_reader.EXPORT_ATOL
    assert set(card["metrics"]["calibration_articles_gold_paragraph"]) >= {"reader.onnx", "reader-int8.onnx", "chosen"}
    reads = Reader(out).read("When was the pact signed?", [train_reader.TINY_CONTEXT, "Nothing here."])
    assert len(reads) == 2 and all(r.span is not None for r in reads)
    for r, text in zip(reads, [train_reader.TINY_CONTEXT, "Nothing here."]):
        assert 0 <= r.span.start < r.span.end <= len(text)
    for number in range(1, n + 1):
        assert f"round {number} step 4/4" in (work / f"round{number}" / "train.log").read_text()


def test_training_is_deterministic_and_resumable(shipped: tuple[Path, Path], tmp_path: Path) -> None:
    import torch

    _, work_a = shipped  # rounds 1 and 2 of it are compared with b's two rounds
    # b: killed after 2 steps of round 1, then after 3 of round 2 (both checkpointed), then resumed to the end
    out_b, work_b = run(tmp_path, "b", "--max-steps", "4", "--checkpoint-every", "3", "--stop-after", "2", "--rounds", "2")
    assert not (work_b / "round1" / "final.pt").exists() and not out_b.exists()
    assert torch.load(work_b / "round1" / "checkpoint.pt", weights_only=False)["step"] == 2
    run(tmp_path, "b", "--max-steps", "4", "--checkpoint-every", "3", "--stop-after", "5", "--rounds", "2")
    assert (work_b / "round1" / "final.pt").exists() and not (work_b / "round2" / "final.pt").exists()
    assert torch.load(work_b / "round2" / "checkpoint.pt", weights_only=False)["step"] == 3
    run(tmp_path, "b", "--max-steps", "4", "--checkpoint-every", "3", "--rounds", "2")
    for number in (1, 2):
        a = torch.load(work_a / f"round{number}" / "final.pt", weights_only=True)
        b = torch.load(work_b / f"round{number}" / "final.pt", weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        record = json.loads((work_b / f"round{number}" / "train_record.json").read_text())
        assert record["steps"] == 4 and record["examples_seen"] == 16
    first = torch.load(work_a / "round1" / "final.pt", weights_only=True)
    second = torch.load(work_a / "round2" / "final.pt", weights_only=True)
    assert not all(torch.equal(first[k], second[k]) for k in first)  # round 2 trained on from round 1
    assert verify_reader(out_b)


def test_training_continues_from_a_shipped_graph(tmp_path: Path) -> None:
    out_a, _ = run(tmp_path, "a", "--max-steps", "4", "--rounds", "1")
    # c: no checkpoints at all, only a's model folder; round 1 is not retrained, round 2 starts from a's graph
    out_c, work_c = run(tmp_path, "c", "--max-steps", "3", "--rounds", "2", "--from-graph", str(out_a))
    assert not (work_c / "round1" / "final.pt").exists() and (work_c / "round2" / "final.pt").exists()
    rounds = verify_reader(out_c)["training"]["rounds"]
    assert [r["steps"] for r in rounds] == [4, 3]  # round 1's record is a's
    assert rounds[1]["init"].startswith("round 1's weights, recovered from a-model/model.onnx (sha256 ")
    with pytest.raises(SystemExit, match="already lists rounds 1 to 1: nothing to train with --rounds 1"):
        run(tmp_path, "e", "--rounds", "1", "--from-graph", str(out_a))
    args = train_reader.parse_args(["--tiny", "--work", str(tmp_path / "d-work")])
    with pytest.raises(SystemExit, match="round 2 needs .*final.pt: train round 1 first, or pass --from-graph"):
        train_reader.train(args, 2, train_reader.SCHEDULE[1])


def test_rounds_outside_the_schedule_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", str(len(train_reader.SCHEDULE) + 1)):
        with pytest.raises(SystemExit):
            train_reader.parse_args(["--rounds", bad])
        assert f"--rounds {bad}: the schedule has rounds 1 to {len(train_reader.SCHEDULE)}" in capsys.readouterr().err


def test_made_negatives_are_sampled_from_the_file_and_recorded(tmp_path: Path) -> None:
    import random

    from eval.training.reader_data import Example, made_negatives, negatives_record, write_examples

    assert made_negatives(None, 0, random.Random(0)) == []
    with pytest.raises(SystemExit, match="trains on 5 made negatives: pass --negatives FILE"):
        made_negatives(None, 5, random.Random(0))
    made = [Example(f"Who did not write {i}?", "A wrote it.", -1, "", "gen-negation", "T") for i in range(3)]
    path = tmp_path / "negatives.jsonl"
    write_examples(path, made)
    (tmp_path / "stats.json").write_text(json.dumps({"seed": 25, "articles": ["T"], "kinds": {"negation": {"kept": 3}}}))
    two = made_negatives(path, 2, random.Random(0))
    assert len(two) == 2 and set(two) <= set(made)
    assert sorted(made_negatives(path, 10, random.Random(0)), key=lambda e: e.question) == made
    record = negatives_record(path)
    assert record["seed"] == 25 and "articles" not in record and len(record["sha256"]) == 64
    assert record["kinds"] == {"negation": {"kept": 3}} and record["file"] == "negatives.jsonl"
