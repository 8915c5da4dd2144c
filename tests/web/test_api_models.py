"""The API's JSON bodies (qa/web/api_models.py): what a question request accepts, and open response objects."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from qa.web.api_models import AnswerOut, AskRequest


def test_a_question_request_is_strict() -> None:
    assert AskRequest(question="Why?").top_k == 5
    assert AskRequest.model_validate({"question": "Why?", "top_k": 10}).top_k == 10


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": " \n"}, "question is empty"),
        ({"question": "q", "top_k": "3"}, "valid integer"),
        ({"question": "q", "top_k": 11}, "less than or equal to 10"),
        ({"question": "q", "colour": "red"}, "Extra inputs are not permitted"),
        ({"question": b"q"}, "valid string"),
    ],
)
def test_bad_question_requests(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AskRequest.model_validate(body)


def test_an_answer_may_carry_fields_added_later() -> None:
    answer = AnswerOut.model_validate(
        {"question": "q", "text": "", "abstained": True, "confidence": 0.1, "citations": [], "passages": [], "phrase": None,
         "status": "declined", "later": {"quote": "x"}}
    )
    assert answer.model_dump()["later"] == {"quote": "x"}
    assert AnswerOut.model_json_schema()["additionalProperties"] is True
    with pytest.raises(ValidationError, match="abstained"):
        AnswerOut.model_validate({"question": "q", "text": "", "confidence": 0.1, "citations": [], "passages": []})
