"""``POST /v1/ask`` with ``history``: a stateless follow-up, its checks (422 naming the item), the body limit and the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import qa
from tests.web.test_api import AUTH, JET, assert_error, client_for

FOLLOW = "Who tests its engines?"


@pytest.fixture
def client(api_bot: qa.QA, api_index: Path) -> Iterator[TestClient]:
    with client_for(api_bot, api_index) as c:
        c.headers.update(AUTH)
        yield c


def test_a_follow_up_sends_the_earlier_answer_back_as_history(client: TestClient, api_bot: qa.QA) -> None:
    first = client.post("/v1/ask", json={"question": JET}).json()
    assert not first["abstained"] and first["citations"][0]["doc_id"] == "jets.txt" and first["follow_up"] is None
    body = client.post("/v1/ask", json={"question": FOLLOW, "history": [first]}).json()  # the answer as returned, whole
    assert body["follow_up"]["turn"] == 0 and body["follow_up"]["question"] == JET
    assert body["follow_up"]["doc_ids"] == ["jets.txt"] and all(c["doc_id"] == "jets.txt" for c in body["citations"])
    for cited in body["citations"]:
        assert api_bot.document(cited["doc_id"]).text[cited["start"] : cited["end"]] == cited["quote"]
    slim = {k: first[k] for k in ("question", "text", "citations")}
    assert client.post("/v1/ask", json={"question": FOLLOW, "history": [slim]}).json() == body  # stateless: the same again
    engine = api_bot.ask(FOLLOW, history=[api_bot.ask(JET)])
    assert body["text"] == engine.text and body["follow_up"]["terms"] == list(engine.follow_up.terms)  # type: ignore[union-attr]


def test_no_history_is_todays_answer(client: TestClient) -> None:
    alone = client.post("/v1/ask", json={"question": FOLLOW}).json()
    assert client.post("/v1/ask", json={"question": FOLLOW, "history": []}).json() == alone
    assert alone["follow_up"] is None


@pytest.mark.parametrize(
    ("history", "field", "message"),
    [
        ("When?", "history", "valid list"),
        ([{"text": "x"}], "history[0].question", "required"),
        ([{"question": JET, "text": ""}, {"question": "   ", "text": ""}], "history[1].question", "question is empty"),
        ([{"question": JET}], "history[0].text", "history[0].text is required"),
        ([{"question": JET, "text": 3}], "history[0].text", "string"),
        ([{"question": JET, "text": "", "citations": [{"doc_id": "jets.txt", "start": 9, "end": 2}]}], "history[0].citations[0]", "before start"),
        ([{"question": JET, "text": "", "citations": [{"doc_id": "jets.txt", "start": -1, "end": 2}]}], "history[0].citations[0].start", ""),
        ([{"question": JET, "text": ""}] * 21, "history", "at most 20"),
    ],
)
def test_a_bad_history_item_is_a_422_naming_it(client: TestClient, history: object, field: str, message: str) -> None:
    assert_error(client.post("/v1/ask", json={"question": FOLLOW, "history": history}), 422, field, message)


def test_citations_of_an_unknown_document_are_ignored(client: TestClient) -> None:
    stale = [{"question": JET, "text": "gone", "citations": [{"doc_id": "removed.txt", "start": 0, "end": 4}]}]
    body = client.post("/v1/ask", json={"question": FOLLOW, "history": stale}).json()
    assert body["follow_up"] is None or body["follow_up"]["doc_ids"] == []


def test_history_counts_in_the_body_limit(client: TestClient) -> None:
    turn = {"question": JET, "text": "x" * 4000}
    assert_error(client.post("/v1/ask", json={"question": FOLLOW, "history": [turn] * 20}), 413, "body", "64 KiB")


def test_the_schema_describes_history_and_follow_up(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    body_ref = schema["paths"]["/v1/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = components[body_ref.rsplit("/", 1)[1]]
    assert request["properties"]["history"]["maxItems"] == 20 and "stateless" not in request["properties"]["history"]["description"]
    assert "keeps no state" in request["properties"]["history"]["description"]
    assert set(components["HistoryTurn"]["properties"]) == {"question", "text", "citations", "candidate"}
    assert "follow_up" in components["AnswerOut"]["properties"]
    retrieve_ref = schema["paths"]["/v1/retrieve"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "history" not in components[retrieve_ref.rsplit("/", 1)[1]]["properties"]


def test_schemathesis_fuzzes_history_without_a_server_error(writable_api_index: Path) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import checks

    from qa.web.api import create_api
    from qa.web.settings import ServerSettings
    from tests.conftest import API_KEY, HashingEmbedder

    bot = qa.load(writable_api_index, model=HashingEmbedder(), reader=True)
    app = create_api(bot, ServerSettings(index=str(writable_api_index), api_key=API_KEY))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema["/v1/ask"]["POST"]
    wanted = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance, checks.response_schema_conformance]
    with_history: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case: object) -> None:
        response = case.call(headers=AUTH)  # type: ignore[attr-defined]
        case.validate_response(response, checks=wanted)  # type: ignore[attr-defined]
        body = getattr(case, "body", None)
        if isinstance(body, dict) and body.get("history"):
            with_history.append(response.status_code)

    fuzz()
    assert with_history, "no generated request carried a history"
    assert all(code < 500 for code in with_history)
