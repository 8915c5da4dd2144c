"""The shipped reader model: its card, its files, and loading it without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import ModelLoadError
from qa.answering.decision import OPTION_FEATURES, DecisionModel, decision_of
from qa.answering.reader import OPTIONAL_FILES, READER_FILES, Reader, default_reader_path, verify_reader

SHIPPED = default_reader_path()
MAX_MODEL_BYTES = 30 * 1024 * 1024


def test_shipped_model_matches_its_card() -> None:
    card = verify_reader(SHIPPED)
    assert set(READER_FILES) <= set(card["files"]) <= set(READER_FILES + OPTIONAL_FILES)
    training = card["training"]
    assert training["base_model"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert {f["file"] for f in training["data_files"]} == {
        "squad11_train.json.gz", "squad2_train_slice.json", "squad2_dev_tune.json"
    }
    assert all(len(f["sha256"]) == 64 for f in training["data_files"])
    assert training["seed"] and training["steps"] > 0 and training["train_seconds"] > 0
    assert set(training["negatives"]) == {"squad2", "other-passage", "swap"}
    assert "squad2_dev_sample.json" in training["never_used"]
    assert card["licence"] == "CC BY-SA 4.0" and "Rajpurkar" in card["attribution"]
    config = json.loads((SHIPPED / "reader.json").read_text())
    decision = DecisionModel.from_config(config["decision"])
    assert 0 <= decision.threshold < 1 and decision.depth >= 1
    assert config["decision"]["choice"]["features"] == list(OPTION_FEATURES)
    fit = config["decision"]["fit"]
    assert set(fit["sets"]) == {"squad2_calibration", "article_tune"}  # never a held-out set
    assert 0 < config["decision"]["t_decline"] <= config["decision"]["t_answer"] < 1  # both fitted, on the card
    for name, tiers in fit["tiers_on_the_fit_sets"].items():  # answers first: never fewer right sentences shown
        assert tiers["right_shown_count"] >= tiers["plain_right_count"], name
        assert tiers["answered_precision"] >= fit["answered_precision"], name  # the stated precision of t_answer


def test_shipped_folder_size() -> None:
    """Each int8 graph (reader, verifier) at most 30 MB; fp32 only when int8 lost quality (the card says so)."""
    config = json.loads((SHIPPED / "reader.json").read_text())
    card = verify_reader(SHIPPED)
    if config["quantized"]:
        assert (SHIPPED / "model.onnx").stat().st_size <= MAX_MODEL_BYTES
    else:
        assert card["metrics"]["calibration_articles_gold_paragraph"]["chosen"] == "reader.onnx"
    if (SHIPPED / "verifier.onnx").exists():
        if config["verifier"]["quantized"]:
            assert (SHIPPED / "verifier.onnx").stat().st_size <= MAX_MODEL_BYTES
        else:
            assert card["metrics"]["verifier_calibration_articles"]["chosen"] == "verifier.onnx"
    others = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.suffix != ".onnx")
    assert others <= 1024 * 1024


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_damaged_reader_folder_is_refused(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "reader"
    shutil.copytree(SHIPPED, folder)
    config = folder / "reader.json"
    if damage == "missing":
        config.unlink()
    else:
        config.write_text(config.read_text().replace("max_length", "max_length "))
    with pytest.raises(ModelLoadError, match="does not match its card"):
        Reader(folder)


def test_missing_card_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "reader"
    shutil.copytree(SHIPPED, folder)
    (folder / "card.json").unlink()
    with pytest.raises(ModelLoadError, match="card"):
        Reader(folder)


def test_reader_reads_the_answer_span() -> None:
    passage = "The EU and Japan signed the security pact in Tokyo on Nov. 1, 2024, after a year of talks."
    reads = Reader().read("When was the pact signed?", [passage, "Cats sleep most of the day."])
    assert "Nov. 1, 2024" in passage[reads[0].span.start : reads[0].span.end]
    assert reads[0].answerable + reads[0].margin > reads[1].answerable + reads[1].margin


def test_unreadable_decision_is_refused(tmp_path: Path) -> None:
    from qa.answering.reader import write_card

    folder = tmp_path / "reader"
    shutil.copytree(SHIPPED, folder)
    config = json.loads((folder / "reader.json").read_text())
    config["decision"]["answer"]["weights"] = [1.0]
    (folder / "reader.json").write_text(json.dumps(config))
    write_card(folder, {}, {})
    reader = Reader(folder)  # the model loads; the decision it hands over is refused when read
    with pytest.raises(ModelLoadError, match="unreadable decision .* refit it with eval/calibration/calibrate_reader.py"):
        decision_of(reader)


def test_query_path_with_the_reader_never_imports_torch(tmp_path: Path, real_embedder: object) -> None:
    import qa
    from qa.documents.ingest import default_documents

    qa.build_index(default_documents(), tmp_path / "idx", model=real_embedder)  # type: ignore[arg-type]
    code = (
        "import sys, qa\n"
        f"bot = qa.load({str(tmp_path / 'idx')!r})\n"
        "ans = bot.ask('When was the pact signed?')\n"
        "assert bot.reader is not None\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
