"""eval/calibration/calibrate_reader.py on synthetic decision rows: the answers-first floor, the mix, the depth rule, the file it writes."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from eval.calibration import calibrate_reader as C  # noqa: E402
from qa.answering.decision import DECISION_FEATURES, OPTION_FEATURES, DecisionModel, decision_of  # noqa: E402
from qa.answering.reader import Reader, default_reader_path  # noqa: E402


def row(rng: random.Random, answerable: bool, plain_right: bool) -> dict:
    """One question: two options (the scorer's best, a reader pick); a strong reader signal on answerable questions."""
    signal = rng.gauss(2.0 if answerable else -1.0, 1.5)
    right_option = rng.random() < 0.85 if answerable else False
    depth = {
        "options": [
            [0.5, 1.0, 1.0, signal, 1.0, 1.0, signal / 2],
            [-1.0, 0.0, 1.0, signal - 2, 0.0, 0.0, 0.0],
        ],
        "right": [answerable and right_option, answerable and not right_option and rng.random() < 0.5],
        "reader_best": [True, False],
        "stats": [signal, signal + 1, signal, signal - 1, 0.5],
        "backed": signal > 0,
    }
    return {"id": str(rng.random()), "answerable": answerable, "plain": {"right": plain_right and answerable, "abstained": False},
            "depths": {str(d): depth for d in C.DEPTHS}}


def rows(seed: int, n: int, share: float, plain: float) -> list[dict]:
    rng = random.Random(seed)
    return [row(rng, answerable := rng.random() < share, answerable and rng.random() < plain) for _ in range(n)]


SETS = [rows(1, 400, 0.5, 0.70), rows(2, 60, 0.7, 0.60)]


def test_t_answer_is_the_lowest_confidence_of_the_stated_precision_on_every_set() -> None:
    model = C.fit_model(SETS, 1)
    assert len(model.choice.weights) == len(OPTION_FEATURES) and len(model.answer.weights) == len(DECISION_FEATURES)
    decided = [C.confidences(model, rows_) for rows_ in SETS]
    assert 0 < model.threshold < 1
    assert all(C.answered_precision(c, r, model.threshold) >= C.ANSWERED_PRECISION for c, r, _, _ in decided)
    lower = model.threshold - 0.005  # one step lower misses the precision on some set
    assert any(C.answered_precision(c, r, lower) < C.ANSWERED_PRECISION for c, r, _, _ in decided)


def test_t_decline_keeps_every_question_reader_false_gets_right_shown() -> None:
    model = C.fit_model(SETS, 1)
    assert 0 <= model.decline <= model.threshold
    for rows_ in SETS:
        conf, right, answerable, plain = C.confidences(model, rows_)
        assert plain.any() and (conf[plain] >= model.decline).all()
        figures = C.tiers(model, rows_)
        assert figures["right_shown"] >= figures["right_answered"] and figures["right_shown_count"] >= figures["plain_right_count"] * 0.8
    assert any((C.confidences(model, r)[0][C.confidences(model, r)[3]] < model.decline + 0.002).any() for r in SETS)  # the tightest


def test_shallowest_depth_without_a_real_gain() -> None:
    same = {"fold_utilities": [0.70, 0.71, 0.69, 0.70, 0.72]}
    noisy = {"fold_utilities": [0.80, 0.66, 0.74, 0.68, 0.76]}  # +0.024 on average, but within the folds' spread
    steady = {"fold_utilities": [0.73, 0.74, 0.72, 0.73, 0.75]}  # +0.03 in every fold
    assert not C.real_gain(noisy, same) and C.real_gain(steady, same)
    assert not C.real_gain({"fold_utilities": [u + 0.004 for u in same["fold_utilities"]]}, same)  # under DEPTH_GAIN


def test_main_writes_a_loadable_decision(tmp_path: Path) -> None:
    folder = tmp_path / "reader"
    shutil.copytree(default_reader_path(), folder)
    saved = tmp_path / "rows.json"
    saved.write_text(json.dumps({"squad2_calibration": SETS[0], "article_tune": SETS[1], "article_heldout": SETS[1]}))
    assert C.main(["--reuse", str(saved), "--reader", str(folder), "--max-depth", "2"]) == 0
    config = json.loads((folder / "reader.json").read_text())
    assert set(config["decision"]["fit"]["sets"]) == {"squad2_calibration", "article_tune"}  # held-out rows are never fitted
    model = DecisionModel.from_config(config["decision"])
    assert model.depth in (1, 2) and decision_of(Reader(folder)) == model  # the card's hashes were renewed
    assert config["decision"]["t_answer"] == model.threshold and config["decision"]["t_decline"] == model.decline
    assert config["decision"]["fit"]["answered_precision"] == C.ANSWERED_PRECISION
    tables = tmp_path / "tables.json"
    assert C.main(["--reuse", str(saved), "--reader", str(folder), "--before", str(folder / "reader.json"), "--tables", str(tables)]) == 0
    written = json.loads(tables.read_text())
    assert set(written) == {"squad2_calibration", "article_tune", "article_heldout"} and not written["article_heldout"]["fitted_on"]
    for entry in written.values():
        assert set(entry["before"]["risk_coverage"]) == {f"{c:.1f}" for c in C.COVERAGES} | {"auc"}
        assert {"answered_precision", "right_answered", "right_shown", "unanswerable_kept_out", "plain_right"} <= set(entry["after"]["tiers"])


def test_bad_rows_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        C.main(["--reuse", str(tmp_path / "missing.json"), "--reader", str(tmp_path)])
