"""The one JSON form of results (qa/serialize.py), shared by `qa ask --json` and POST /v1/ask."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qa.serialize import answer_to_json, passages_to_json, to_json
from qa.types import Answer, Citation, Passage, Span

CITE = Citation(1, "a.pdf", "A", "The jet flies.", 10, 24, 0.9, 3, page=2)
PASSAGE = Passage("a.pdf", 3, "Intro. The jet flies.", 3, 24, 0.03, "A")


def test_answer_has_every_field_in_order_with_nested_objects() -> None:
    answer = Answer("q", "The jet flies.", False, 0.8, [CITE], [PASSAGE], Span("a.pdf", 18, 23, "flies"))
    out = answer_to_json(answer)
    assert list(out) == [f.name for f in dataclasses.fields(Answer)]
    assert out == dataclasses.asdict(answer)  # what `qa ask --json` printed before it used this function
    assert out["citations"][0]["page"] == 2 and out["phrase"] == {"doc_id": "a.pdf", "start": 18, "end": 23, "text": "flies"}
    json.dumps(out)  # plain JSON values only


def test_a_field_added_later_appears_without_a_change() -> None:
    @dataclasses.dataclass(frozen=True)
    class Candidate:
        span: Span
        confidence: float

    @dataclasses.dataclass(frozen=True)
    class LaterAnswer(Answer):
        candidate: Candidate | None = None

    later = LaterAnswer("q", "", True, 0.2, [], [PASSAGE], None, Candidate(Span("a.pdf", 18, 23, "flies"), 0.31))
    out = answer_to_json(later)
    assert out["candidate"] == {"span": {"doc_id": "a.pdf", "start": 18, "end": 23, "text": "flies"}, "confidence": 0.31}


def test_to_json_handles_containers_and_paths_and_refuses_the_rest() -> None:
    assert to_json({"p": Path("/x/y"), "t": (1, 2.5, None, True), 3: ["s"]}) == {"p": "/x/y", "t": [1, 2.5, None, True], "3": ["s"]}
    assert passages_to_json([PASSAGE]) == [dataclasses.asdict(PASSAGE)]
    with pytest.raises(TypeError, match="cannot turn a set into JSON"):
        to_json({1, 2})
    with pytest.raises(TypeError, match="cannot turn a bytes into JSON"):
        to_json(b"raw")
    with pytest.raises(TypeError, match="answer must be a qa.Answer, not str"):
        answer_to_json("not an answer")  # type: ignore[arg-type]
