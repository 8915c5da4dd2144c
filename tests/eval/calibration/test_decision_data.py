"""eval/calibration/decision_data.py reads questions exactly as the engine answers them: refitting on its rows means refitting the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import qa

ROOT = Path(__file__).resolve().parents[3]

from eval.calibration import calibrate_reader as C  # noqa: E402
from eval.scoring import qasets  # noqa: E402
from eval.calibration.decision_data import DEPTHS, collect  # noqa: E402
from qa.documents.ingest import default_documents  # noqa: E402


@pytest.fixture(scope="module")
def article_rows(article_bot: qa.QA) -> tuple[qasets.EvalSet, list[dict]]:
    doc = default_documents()[0]
    evalset = qasets.load_article_set(ROOT / "eval" / "qa_article.jsonl", doc.text, doc.doc_id, doc.title)
    evalset = qasets.EvalSet(evalset.name, evalset.documents, evalset.items[:12])
    return evalset, collect(article_bot, evalset, text_judge=True)


def test_rows_give_the_engine_confidence(article_bot: qa.QA, article_rows: tuple[qasets.EvalSet, list[dict]]) -> None:
    evalset, rows = article_rows
    model = article_bot.decision
    assert model is not None
    feats, _, _, vetoed = C.decide_rows(model.choice, rows, model.depth)
    expected = np.where(vetoed, 0.0, C.probabilities(model.answer, feats))
    for item, p, veto in zip(evalset.items, expected, vetoed):
        ans = article_bot.ask(item.question)
        assert ans.confidence == pytest.approx(float(p), abs=2e-4), item.question
        assert not veto or (ans.abstained and ans.candidate is None)


def test_rows_are_plain_json_with_every_depth(article_rows: tuple[qasets.EvalSet, list[dict]]) -> None:
    _, rows = article_rows
    assert json.loads(json.dumps(rows)) == rows
    for r in rows:
        assert set(r["depths"]) == {str(d) for d in DEPTHS}
        for d in r["depths"].values():
            assert len(d["options"]) == len(d["right"]) == len(d["reader_best"]) >= 1
            assert not r["answerable"] or not any(d["right"]) or r["answerable"]
        sizes = [len(r["depths"][str(d)]["options"]) for d in DEPTHS]
        assert sizes == sorted(sizes)  # reading deeper only adds options
    assert np.mean([any(r["depths"]["1"]["right"]) for r in rows if r["answerable"]]) > 0.5
