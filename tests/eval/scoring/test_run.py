"""eval/scoring/run.py end to end on a tiny inline corpus with the fake hashing embedder (no real model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.scoring import qasets, run  # noqa: E402
from tests.conftest import HashingEmbedder  # noqa: E402

CATS = "Cats sleep most of the day. A cat purrs when it is content. Kittens drink milk."
SHIPS = "The harbour hosts large container ships. Ships unload cargo at the port of Rotterdam."
SYSTEM_KEYS = (
    "recall@1", "recall@3", "recall@5", "mrr", "decision_accuracy", "answerable_accuracy", "answered_precision",
    "answer_accuracy", "citation_exact",
    "abstention_precision", "abstention_recall", "abstention_f1", "answered_rate", "p50_ms", "p95_ms",
)
FRACTIONS = SYSTEM_KEYS[:-2]


def span(doc_id: str, text: str, part: str) -> tuple[str, int, int]:
    start = text.index(part)
    return (doc_id, start, start + len(part))


def item(qid: str, question: str, split: str, answers: tuple[str, ...] = (), gold: tuple = ()) -> qasets.EvalItem:
    return qasets.EvalItem(qid, question, bool(answers), answers, gold, split)


@pytest.fixture
def tiny_set() -> qasets.EvalSet:
    docs = (qasets.EvalDoc("cats", "Cats", CATS), qasets.EvalDoc("ships", "Ships", SHIPS))
    items = (
        item("q1", "What does a cat do when it is content?", "tune", ("purrs",),
             (span("cats", CATS, "A cat purrs when it is content."),)),
        item("q2", "Where do ships unload cargo?", "heldout", ("port of Rotterdam", "Rotterdam"),
             (span("ships", SHIPS, "Ships unload cargo at the port of Rotterdam."),)),
        item("q3", "Who won the football match yesterday?", "tune"),
        item("q4", "What is the capital of Peru?", "heldout"),
    )
    return qasets.EvalSet("tiny", docs, items)


def check_system(row: dict) -> None:
    for key in SYSTEM_KEYS:
        assert key in row
    for key in FRACTIONS:
        assert row[key] is None or 0.0 <= row[key] <= 1.0, (key, row[key])
    for key in ("p50_ms", "p95_ms"):
        assert row[key] is None or row[key] >= 0.0


def test_evaluate_shape_and_ranges(tiny_set: qasets.EvalSet) -> None:
    result = run.evaluate(tiny_set, model=HashingEmbedder(), top_k=5)
    assert result["dataset"] == "tiny" and result["n"] == 4 and result["split"] == "all"
    assert set(result["systems"]) == {"reader", "hybrid", "bm25", "dense", "threshold"}
    assert {"tune", "heldout"} <= set(result["by_split"])
    assert result["systems"]["reader"]["phrase_f1"] is not None and result["systems"]["hybrid"]["phrase_f1"] is None
    assert result["systems"]["reader"]["phrase_exact"] and result["read_depth"] >= 1
    for systems in [result["systems"], *result["by_split"].values()]:
        for name, row in systems.items():
            check_system(row)
            if name != "threshold":
                assert row["p50_ms"] is not None and row["p95_ms"] >= row["p50_ms"]
    assert result["by_split"]["tune"]["hybrid"]["n"] == 2
    assert result["systems"]["threshold"]["threshold"] is not None
    assert result["systems"]["threshold"]["recall@1"] is None
    for name in ("reader", "hybrid", "bm25", "dense"):
        cal = result["calibration"]["systems"][name]
        assert len(cal["table"]) == 5 and sum(b["n"] for b in cal["table"]) == 4
        assert 0.0 <= cal["ece"] <= 1.0
        coverage = cal["risk_coverage"]
        assert [r["coverage"] for r in coverage][-1] == 1.0 and coverage[-1]["n"] == 4
        confidences = [r["min_confidence"] for r in coverage]
        assert confidences == sorted(confidences, reverse=True)
    assert len(result["failures"]) <= 10
    for failure in result["failures"]:
        assert {"question", "expected", "got", "confidence"} <= set(failure)
    json.dumps(result)  # JSON-ready


def test_bm25_finds_lexical_evidence(tiny_set: qasets.EvalSet) -> None:
    result = run.evaluate(tiny_set, model=HashingEmbedder())
    assert result["systems"]["bm25"]["recall@5"] == 1.0  # only two documents: the gold is always retrieved


def test_split_selects_headline(tiny_set: qasets.EvalSet) -> None:
    result = run.evaluate(tiny_set, model=HashingEmbedder(), split="heldout")
    assert result["n"] == 2 and result["systems"]["hybrid"] == result["by_split"]["heldout"]["hybrid"]
    assert all(f["split"] == "heldout" for f in result["failures"])


def test_write_outputs(tiny_set: qasets.EvalSet, tmp_path: Path) -> None:
    result = run.evaluate(tiny_set, model=HashingEmbedder())
    paths = run.write_outputs(result, tmp_path / "out" / "eval.json")
    assert [p.name for p in paths] == ["eval.json", "eval.md", "eval.png"]
    loaded = json.loads(paths[0].read_text(encoding="utf-8"))
    assert set(loaded["systems"]) == {"reader", "hybrid", "bm25", "dense", "threshold"}
    report = paths[1].read_text(encoding="utf-8")
    assert "| hybrid |" in report and "| reader |" in report and "calibration" in report and "risk-coverage" in report
    assert "## tiers: all" in report and "right as answered or unconfirmed" in report
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "hybrid" in run.render_text(result)


def test_main_on_squad_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    squad = {
        "version": "v2.0",
        "data": [
            {"title": "Cats", "paragraphs": [{"context": CATS, "qas": [
                {"id": "s1", "question": "What do kittens drink?", "is_impossible": False,
                 "answers": [{"text": "milk", "answer_start": CATS.index("milk")}]},
                {"id": "s2", "question": "What colour are dogs?", "is_impossible": True, "answers": []},
            ]}]},
            {"title": "Ships", "paragraphs": [{"context": SHIPS, "qas": [
                {"id": "s3", "question": "Where do ships unload cargo?", "is_impossible": False,
                 "answers": [{"text": "Rotterdam", "answer_start": SHIPS.index("Rotterdam")}]},
                {"id": "s4", "question": "Who built the harbour?", "is_impossible": True, "answers": []},
            ]}]},
        ],
    }
    data = tmp_path / "tiny_squad.json"
    data.write_text(json.dumps(squad), encoding="utf-8")
    out = tmp_path / "squad.json"
    assert run.main(["--dataset", str(data), "--json", str(out), "--top-k", "3"], model=HashingEmbedder()) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["judge"] == "span" and result["n"] == 4 and result["top_k"] == 3
    assert out.with_suffix(".md").exists() and out.with_suffix(".png").exists()
    assert "split: all" in capsys.readouterr().out


def test_is_correct_judges() -> None:
    import qa

    good = item("x", "q", "tune", ("Rotterdam",), (span("ships", SHIPS, "Rotterdam"),))
    _, start, end = span("ships", SHIPS, "Ships unload cargo at the port of Rotterdam.")
    cite = qa.Citation(1, "ships", "Ships", SHIPS[start:end], start, end, 0.9, 0)
    answered = qa.Answer("q", cite.quote, False, 0.9, [cite], [])
    assert run.is_correct(good, answered, run.JUDGE_TEXT)
    assert run.is_correct(good, answered, run.JUDGE_SPAN)
    abstained = qa.Answer("q", "", True, 0.1, [], [])
    assert not run.is_correct(good, abstained, run.JUDGE_TEXT)
    wrong_doc = qa.Answer("q", cite.quote, False, 0.9, [qa.Citation(1, "cats", "Cats", "x", start, end, 0.9, 0)], [])
    assert not run.is_correct(good, wrong_doc, run.JUDGE_SPAN)


def test_without_reader(tiny_set: qasets.EvalSet) -> None:
    result = run.evaluate(tiny_set, model=HashingEmbedder(), reader=False)
    assert set(result["systems"]) == {"hybrid", "bm25", "dense", "threshold"} and result["read_depth"] is None
    assert all(row.get("phrase_f1") is None for row in result["systems"].values())


def test_decision_metrics_count_abstentions() -> None:
    answerable = item("a", "q", "tune", ("x",), (("d", 0, 1),))
    unanswerable = item("u", "q", "tune")
    rec = lambda it, abstained, right, conf: run.Record(  # noqa: E731
        it, None, abstained, right and not abstained, conf, "", 0, 0, 1.0, right_if_answered=right,
        first_right=right and not abstained, phrase="x" if not abstained else None)
    records = [rec(answerable, False, True, 0.9), rec(unanswerable, True, False, 0.2), rec(unanswerable, False, False, 0.6)]
    summary = run.decision_summary(records, has_reader=True)
    assert summary["decision_accuracy"] == pytest.approx(2 / 3)
    assert summary["answerable_accuracy"] == 1.0 and summary["answered_precision"] == 0.5
    assert summary["phrase_em"] == 1.0 and summary["phrase_f1"] == 1.0
    rc = run.risk_coverage(records)
    assert rc[0]["n"] == 1 and rc[0]["accuracy"] == 1.0 and rc[-1]["accuracy"] == pytest.approx(1 / 3)


def test_tiers_count_answered_unconfirmed_and_declined() -> None:
    answerable = item("a", "q", "tune", ("x",), (("d", 0, 1),))
    unanswerable = item("u", "q", "tune")
    rec = lambda it, abstained, shown, right: run.Record(  # noqa: E731
        it, None, abstained, right and not abstained, 0.5, "", 0, 0, 1.0, right_if_answered=right, shown=shown,
        first_right=right and not abstained, first_right_if_answered=right)
    records = [rec(answerable, False, True, True),  # answered, right
               rec(answerable, True, True, True),  # unconfirmed, its sentence right
               rec(answerable, True, False, False),  # declined
               rec(unanswerable, True, True, False),  # unconfirmed: kept out of answered
               rec(unanswerable, False, True, False)]  # answered: not kept out
    tiers = run.tier_summary(records)
    assert tiers["right_answered"] == pytest.approx(1 / 3) and tiers["right_shown"] == pytest.approx(2 / 3)
    assert tiers["unanswerable_kept_out"] == 0.5
    assert (tiers["answered_share"], tiers["unconfirmed_share"], tiers["declined_share"]) == (0.4, 0.4, 0.2)
    assert tiers["tier_precision"] == 0.5
