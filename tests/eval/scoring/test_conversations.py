"""eval/scoring/conversations.py (loading QuAC-format sets, the right-turn rule, the with/without run) and eval/bench/followup.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from eval.bench import followup as bench_followup
from eval.scoring import conversations
from eval.scoring.conversations import Dialogue, Turn
from qa.types import Answer, Citation
from tests.conftest import HashingEmbedder

CONTEXT = "The fighter jet will fly by 2035. Engineers test the engines every week. CANNOTANSWER"


def quac_file(path: Path) -> Path:
    turns = [
        {"question": "When will the fighter jet fly?", "answers": [{"text": "by 2035", "answer_start": 25}], "id": "t0"},
        {"question": "Who tests its engines?", "answers": [{"text": "Engineers", "answer_start": 34}], "id": "t1"},
        {"question": "What colour is it?", "answers": [{"text": "CANNOTANSWER", "answer_start": 73}], "id": "t2"},
    ]
    other = {"id": "d2", "context": "Cats sleep most of the day. CANNOTANSWER", "qas": [
        {"question": "When do cats sleep?", "answers": [{"text": "most of the day", "answer_start": 11}], "id": "u0"}]}
    data = {"data": [{"title": "X", "paragraphs": [{"id": "d1", "context": CONTEXT, "qas": turns}]},
                     {"title": "Cats", "section_title": "Sleep", "paragraphs": [other]}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_set_strips_cannotanswer_and_reads_spans(tmp_path: Path) -> None:
    documents, dialogues = conversations.load_set(quac_file(tmp_path / "set.json"))
    assert [d.doc_id for d in documents] == ["d1", "d2"] and documents[0].text.endswith("every week.")
    assert documents[1].title == "Cats: Sleep" and documents[0].title.startswith("The fighter jet")
    jet = dialogues[0]
    assert documents[0].text[jet.turns[0].start : jet.turns[0].end] == "by 2035"
    assert jet.turns[1].answerable and not jet.turns[2].answerable


def cite(doc_id: str, start: int, end: int) -> Answer:
    return Answer("q", "x", False, 0.9, [Citation(1, doc_id, "t", "x" * (end - start), start, end, 0.9, 0)])


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        (cite("d1", 0, 33), (25, 32), True),  # the gold span inside the cited sentence
        (cite("d1", 34, 72), (25, 32), False),
        (cite("d2", 0, 33), (25, 32), False),  # another document
        (cite("d1", 0, 10), (5, 40), True),  # half of the shorter (the citation) overlaps
        (cite("d1", 0, 10), (8, 40), False),
        (Answer("q", "", True, 0.1), (25, 32), False),
        (Answer("q", "", True, 0.1), (-1, -1), True),  # unanswerable and declined
        (cite("d1", 0, 33), (-1, -1), False),
    ],
)
def test_right(answer: Answer, gold: tuple[int, int], expected: bool) -> None:
    assert conversations.right(answer, Dialogue("d1", ()), Turn("q", *gold)) is expected


def test_run_dialogues_asks_with_and_without_history(tmp_path: Path) -> None:
    documents, dialogues = conversations.load_set(quac_file(tmp_path / "set.json"))
    qa.build_index(documents, tmp_path / "idx", model=HashingEmbedder())
    bot = qa.load(tmp_path / "idx", model=HashingEmbedder(), reader=False)
    result = conversations.run_dialogues(bot, dialogues)
    for mode in ("without", "with"):
        assert result["counts"][mode]["first"]["answerable"][1] == 2
        assert result["counts"][mode]["follow"]["answerable"][1] == 1 and result["counts"][mode]["follow"]["unanswerable"][1] == 1
    assert result["followed"][1] == 2 and result["followed"][0] >= 1
    summary = conversations.summary(result)
    assert summary["with"]["first"] == summary["without"]["first"]  # first turns have no history
    table = conversations.table({"toy": summary})
    assert table.count("| toy |") == 2


def test_set_knob_only_sets_conversation_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.answering import conversation

    monkeypatch.setattr(conversation, "MAX_TERMS", conversation.MAX_TERMS)
    monkeypatch.setattr(conversation, "FOCUS_ONLY", conversation.FOCUS_ONLY)
    conversations.set_knob("MAX_TERMS=4")
    conversations.set_knob("FOCUS_ONLY=0")
    conversations.set_knob("SOFT_WORDS=1")
    assert conversation.MAX_TERMS == 4 and conversation.FOCUS_ONLY is False
    with pytest.raises(ValueError, match="--knob takes NAME=VALUE"):
        conversations.set_knob("logger=1")


def test_bench_followup_times_both(fake_index: Path) -> None:
    figures = bench_followup.bench_followup(fake_index, ["When will the fighter jet fly?"], model=HashingEmbedder(), rounds=1, warmup=1)
    assert figures["first_turns"] == 1 and figures["followups"] == len(bench_followup.FOLLOW_UPS)
    assert figures["followup_ratio"] == pytest.approx(figures["followup_p50_ms"] / figures["first_p50_ms"], rel=0.01)
    assert "target <= 1.5" in bench_followup.format_followup(figures)[0]
