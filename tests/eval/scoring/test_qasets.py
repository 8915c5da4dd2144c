"""Loaders in eval/scoring/qasets.py, on inline samples and on the bundled eval data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

from eval.scoring import qasets  # noqa: E402

ARTICLE = ROOT / "qa" / "data" / "eu-japan-security-pact.txt"
ARTICLE_SET = ROOT / "eval" / "qa_article.jsonl"
SQUAD_SAMPLE = ROOT / "eval" / "data" / "squad2_dev_sample.json"

SQUAD_V11 = {
    "version": "1.1",
    "data": [
        {
            "title": "Tokyo_Pact",
            "paragraphs": [
                {
                    "context": "Borrell met Iwaya in Tokyo.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Where did they meet?",
                            "answers": [
                                {"text": "Tokyo", "answer_start": 21},
                                {"text": "Tokyo", "answer_start": 21},
                                {"text": "in Tokyo", "answer_start": 18},
                            ],
                        }
                    ],
                },
                {
                    "context": "The jet should fly by 2035.",
                    "qas": [
                        {
                            "id": "q2",
                            "question": "When will the jet fly?",
                            "answers": [{"text": "2035", "answer_start": 22}],
                        }
                    ],
                },
            ],
        },
        {
            "title": "Other",
            "paragraphs": [
                {
                    "context": "Italy and Britain help.",
                    "qas": [{"id": "q3", "question": "Who helps?", "answers": [{"text": "Italy", "answer_start": 0}]}],
                }
            ],
        },
    ],
}

SQUAD_V20 = {
    "version": "v2.0",
    "data": [
        {
            "title": "Normans",
            "paragraphs": [
                {
                    "context": "The Normans lived in Normandy.",
                    "qas": [
                        {
                            "id": "p1",
                            "question": "Where did the Normans live?",
                            "answers": [{"text": "Normandy", "answer_start": 21}],
                            "is_impossible": False,
                        },
                        {
                            "id": "p2",
                            "question": "Where did the Vikings live?",
                            "answers": [],
                            "plausible_answers": [{"text": "Normandy", "answer_start": 21}],
                            "is_impossible": True,
                        },
                    ],
                }
            ],
        }
    ],
}


def _write_json(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _check_spans(evalset: qasets.EvalSet) -> None:
    texts = {doc.doc_id: doc.text for doc in evalset.documents}
    for item in evalset.items:
        for doc_id, start, end in item.gold_spans:
            assert texts[doc_id][start:end] in item.answers


# --- SQuAD --------------------------------------------------------------------


def test_load_squad_v11(tmp_path: Path) -> None:
    evalset = qasets.load_squad(_write_json(tmp_path, "tiny_v11.json", SQUAD_V11))
    assert evalset.name == "tiny_v11"
    assert [d.doc_id for d in evalset.documents] == ["Tokyo_Pact", "Other"]
    doc = evalset.documents[0]
    assert doc.text == "Borrell met Iwaya in Tokyo.\n\nThe jet should fly by 2035."
    assert doc.title == "Tokyo Pact"
    q1, q2, q3 = evalset.items
    assert all(item.answerable for item in evalset.items)
    assert q1.answers == ("Tokyo", "in Tokyo")  # duplicate annotations collapsed
    assert q1.gold_spans == (("Tokyo_Pact", 21, 26), ("Tokyo_Pact", 18, 26))
    second_paragraph = len("Borrell met Iwaya in Tokyo.\n\n")
    assert q2.gold_spans == (("Tokyo_Pact", second_paragraph + 22, second_paragraph + 26),)
    assert q3.gold_spans == (("Other", 0, 5),)
    assert {item.split for item in evalset.items} <= {"tune", "heldout"}
    _check_spans(evalset)


def test_load_squad_v20_impossible(tmp_path: Path) -> None:
    evalset = qasets.load_squad(_write_json(tmp_path, "tiny_v20.json", SQUAD_V20))
    p1, p2 = evalset.items
    assert p1.answerable and p1.answers == ("Normandy",)
    assert not p2.answerable
    assert p2.answers == () and p2.gold_spans == ()  # plausible_answers ignored


def test_load_squad_wrong_answer_start(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(SQUAD_V11))
    bad["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 21
    with pytest.raises(ValueError, match="question 'q2'.*2035"):
        qasets.load_squad(_write_json(tmp_path, "bad.json", bad))


def test_load_squad_answerable_without_answers(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(SQUAD_V20))
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    with pytest.raises(ValueError, match="'p1'"):
        qasets.load_squad(_write_json(tmp_path, "bad.json", bad))


def test_splits_are_deterministic_and_balanced() -> None:
    keys = [f"question-{i}" for i in range(2000)]
    first = [qasets.hash_split(k) for k in keys]
    assert first == [qasets.hash_split(k) for k in keys]
    assert 0.45 < first.count("heldout") / len(keys) < 0.55
    assert qasets.hash_split("x", heldout_fraction=0.0) == "tune"
    assert qasets.hash_split("x", heldout_fraction=1.0) == "heldout"


# --- article JSONL -----------------------------------------------------------

TINY_ARTICLE = "Caption line.\nBorrell heads to South Korea.\nTeaser that is cut off"


def _write_jsonl(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(item_id: str, evidence: list[str], answerable: bool = True) -> dict:
    return {
        "id": item_id,
        "question": "Where next?",
        "answerable": answerable,
        "answers": ["South Korea"] if answerable else [],
        "evidence": evidence,
        "split": "tune",
    }


def test_load_article_set_inline(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path, [_row("a01", ["Borrell heads to South Korea."]), _row("u01", [], False)])
    evalset = qasets.load_article_set(path, TINY_ARTICLE, "doc")
    assert evalset.documents == (qasets.EvalDoc("doc", "doc", TINY_ARTICLE),)
    a01, u01 = evalset.items
    start = TINY_ARTICLE.index("Borrell")
    assert a01.gold_spans == (("doc", start, start + len("Borrell heads to South Korea.")),)
    assert a01.answers == ("South Korea",)
    assert not u01.answerable and u01.gold_spans == ()
    assert evalset.subset("tune") == evalset.items and evalset.subset("heldout") == ()


def test_load_article_set_missing_evidence(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path, [_row("a07", ["Borrell heads to North Korea."])])
    with pytest.raises(ValueError, match="item 'a07'.*North Korea"):
        qasets.load_article_set(path, TINY_ARTICLE, "doc")


def test_load_article_set_rejects_inconsistent_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'a01'.*answerable"):
        qasets.load_article_set(_write_jsonl(tmp_path, [_row("a01", [])]), TINY_ARTICLE, "doc")
    with pytest.raises(ValueError, match="duplicate id"):
        rows = [_row("a01", ["Caption line."]), _row("a01", ["Caption line."])]
        qasets.load_article_set(_write_jsonl(tmp_path, rows), TINY_ARTICLE, "doc")
    with pytest.raises(ValueError, match="unknown split"):
        row = _row("a01", ["Caption line."]) | {"split": "test"}
        qasets.load_article_set(_write_jsonl(tmp_path, [row]), TINY_ARTICLE, "doc")


def test_load_any_dispatch(tmp_path: Path) -> None:
    squad = qasets.load_any(_write_json(tmp_path, "s.json", SQUAD_V20))
    assert len(squad.items) == 2
    jsonl = _write_jsonl(tmp_path, [_row("a01", ["Caption line."])])
    assert qasets.load_any(jsonl, article_text=TINY_ARTICLE, doc_id="doc").items[0].id == "a01"
    with pytest.raises(ValueError, match="needs article_text"):
        qasets.load_any(jsonl)
    with pytest.raises(ValueError, match="unsupported suffix"):
        qasets.load_any(tmp_path / "x.csv")


# --- bundled data ------------------------------------------------------------


def test_real_article_set() -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    teaser_start = len(text) - len("".join(lines[-4:]))
    evalset = qasets.load_article_set(ARTICLE_SET, text, "eu-japan-security-pact.txt")

    items = evalset.items
    assert len(items) >= 60
    assert len({item.id for item in items}) == len(items)
    unanswerable = [item for item in items if not item.answerable]
    answerable = [item for item in items if item.answerable]
    assert len(unanswerable) >= 15
    for group in (answerable, unanswerable):
        splits = Counter(item.split for item in group)
        assert set(splits) == {"tune", "heldout"}
        assert 0.3 <= splits["heldout"] / len(group) <= 0.5

    for item in answerable:
        evidence = [text[start:end] for _, start, end in item.gold_spans]
        for (_, start, end), ev in zip(item.gold_spans, evidence):
            assert end <= teaser_start, f"{item.id}: evidence in teaser lines: {ev!r}"
            assert "\n" not in ev, f"{item.id}: evidence spans several lines"
        for answer in item.answers:
            assert any(answer.lower() in ev.lower() for ev in evidence), f"{item.id}: {answer!r}"


def test_squad_sample_counts() -> None:
    evalset = qasets.load_squad(SQUAD_SAMPLE)
    assert [d.doc_id for d in evalset.documents] == ["Normans", "Computational_complexity_theory"]
    assert len(evalset.items) == 626
    assert sum(not item.answerable for item in evalset.items) == 333
    assert len({item.id for item in evalset.items}) == 626
    assert all(item.gold_spans for item in evalset.items if item.answerable)
    _check_spans(evalset)
    assert 0.4 < len(evalset.subset("heldout")) / len(evalset.items) < 0.6
