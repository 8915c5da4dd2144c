"""The API's answers to the hostile inputs of issue 31: bad upload names, names that clean to another
document's, server paths in messages, unknown routes and methods behind the mounted chat, a body that
is not declared JSON, a history turn without its text, and a 60 KB question.  Each case is re-created
from scratch on a private copy of the API test index.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import qa
from qa.web import server
from qa.web.api import create_api
from qa.web.settings import ServerSettings
from tests.conftest import API_KEY, HashingEmbedder

AUTH = {"Authorization": f"Bearer {API_KEY}"}
PATHS = ("/tmp", "qa-upload-", "build-upload-")


def error_of(response: Any, status: int, field: str | None = None) -> str:
    """The message of an error response, checked to be the API's error format."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "field"} and body["field"] == field, body
    return str(body["message"])


@pytest.fixture
def writer(writable_api_index: Path) -> Iterator[TestClient]:
    bot = qa.load(writable_api_index, model=HashingEmbedder(), reader=False)
    app = create_api(bot, ServerSettings(index=str(writable_api_index), api_key=API_KEY))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(AUTH)
        yield client


def multipart(name: bytes, data: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body with the file name as raw bytes (an HTTP client would escape a NUL)."""
    boundary = b"qa-test-boundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + name + b'"\r\n'
            b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n")
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


def doc_ids(client: TestClient) -> list[str]:
    return [d["doc_id"] for d in client.get("/v1/documents").json()["documents"]]


# --------------------------------------------------------------------------------------------
# upload names


def test_a_file_name_over_255_bytes_or_with_a_nul_is_a_422(writer: TestClient) -> None:
    long_name = "\u00e9" * 130 + ".txt"  # 264 bytes in UTF-8, 134 characters
    message = error_of(writer.post("/v1/documents", files=[("files", (long_name, b"Dogs bark.", "text/plain"))]), 422, "files")
    assert "is 264 bytes long; at most 255: rename the file" in message
    body, headers = multipart(b"dogs\x00.txt", b"Dogs bark.")
    message = error_of(writer.post("/v1/documents", content=body, headers=headers), 422, "files")
    assert "holds a NUL character: rename the file" in message
    assert doc_ids(writer) == ["cats.txt", "ships.txt", "jets.txt"]  # nothing written, nothing lost


def test_names_that_clean_to_an_indexed_name_are_refused_not_stored_over_it(writer: TestClient) -> None:
    first = writer.post("/v1/documents", files=[("files", ("a_b.txt", b"Dogs bark at night.", "text/plain"))]).json()
    assert [d["doc_id"] for d in first["added"]] == ["a_b.txt"]
    for other in ('a"b.txt', "a\u2215b.txt"):  # a quote, a division slash: both stored as a_b.txt
        body, headers = multipart(other.encode(), b"Owls hoot at dawn.")  # raw: an HTTP client would escape the quote
        report = writer.post("/v1/documents", content=body, headers=headers).json()
        assert report["added"] == [] and report["skipped"][0]["file"] == other, report
        assert "stored as 'a_b.txt', the name of a document already in the index; rename the file" in report["skipped"][0]["reason"]
    answer = writer.post("/v1/ask", json={"question": "What do dogs do at night?"}).json()
    assert any(c["doc_id"] == "a_b.txt" and "Dogs bark" in c["quote"] for c in answer["citations"]), answer
    again = writer.post("/v1/documents", files=[("files", ("a_b.txt", b"Dogs bark at noon.", "text/plain"))]).json()
    assert again["added"][0]["replaced"] is True  # its own name still replaces it, as documented


def test_a_bad_upload_is_named_by_its_upload_name_without_server_paths(writer: TestClient) -> None:
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (40, 40), "white").save(png, "PNG")
    report = writer.post("/v1/documents", files=[("files", ("broken.png", png.getvalue()[:40], "image/png"))]).json()
    (skipped,) = report["skipped"]
    assert skipped["file"] == "broken.png" and "cannot identify image file 'broken.png'" in skipped["reason"], skipped
    assert not any(part in skipped["reason"] for part in PATHS)


def test_conflict_and_refusal_messages_hold_no_index_path(writer: TestClient, writable_api_index: Path) -> None:
    from qa.index.local.build import build_lock

    with build_lock(writable_api_index):
        message = error_of(writer.post("/v1/documents", files=[("files", ("a.txt", b"Dogs bark.", "text/plain"))]), 409)
        assert "another build is writing 'index'" in message and str(writable_api_index.parent) not in message
    assert writer.delete("/v1/documents/cats.txt").status_code == 200 and writer.delete("/v1/documents/ships.txt").status_code == 200
    message = error_of(writer.delete("/v1/documents/jets.txt"), 409, "doc_id")
    assert "would leave index 'index' empty" in message and str(writable_api_index.parent) not in message


def test_an_unavailable_index_is_a_503_without_its_path(api_bot: qa.QA, api_index: Path) -> None:
    class Damaged:
        info = api_bot.info
        embedder = api_bot.embedder

        def ask(self, *args: Any, **kwargs: Any) -> qa.Answer:
            raise qa.CorruptIndexError(f"index {str(api_index)!r} is damaged (vectors.npy is truncated); rebuild it")

    with TestClient(create_api(Damaged(), ServerSettings(index=str(api_index), api_key=API_KEY))) as client:
        message = error_of(client.post("/v1/ask", json={"question": "Why?"}, headers=AUTH), 503)
    assert message == "the index cannot answer now: index 'index' is damaged (vectors.npy is truncated); rebuild it"


# --------------------------------------------------------------------------------------------
# routes, media types, history, long questions


def test_unknown_routes_and_methods_answer_in_the_api_format_beside_the_chat(api_bot: qa.QA, api_index: Path) -> None:
    app = server.create_app(api_bot, ServerSettings(index=str(api_index), api_key=API_KEY))  # the chat is mounted at /
    with TestClient(app) as client:
        wrong = client.get("/v1/ask", headers=AUTH)
        assert "GET is not allowed on /v1/ask; use POST" in error_of(wrong, 405) and wrong.headers["allow"] == "POST"
        assert "use GET, POST" in error_of(client.put("/v1/documents", headers=AUTH), 405)
        assert "use DELETE" in error_of(client.get("/v1/documents/cats.txt", headers=AUTH), 405)
        assert "no endpoint /v1/nope" in error_of(client.get("/v1/nope", headers=AUTH), 404)
        assert "no endpoint /v1" in error_of(client.post("/v1", headers=AUTH), 404)
        error_of(client.get("/v1/nope"), 401, "Authorization")  # the key is still asked first
        assert client.get("/").status_code == 200  # the chat is still served


@pytest.mark.parametrize("headers", [{"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}])
def test_a_json_body_sent_as_another_type_is_a_415(api_bot: qa.QA, api_index: Path, headers: dict[str, str]) -> None:
    with TestClient(create_api(api_bot, ServerSettings(index=str(api_index), api_key=API_KEY))) as client:
        for path in ("/v1/ask", "/v1/retrieve"):
            response = client.post(path, content=b'{"question": "When will the fighter jet fly?"}', headers={**AUTH, **headers})
            assert "set the header 'Content-Type: application/json'" in error_of(response, 415, "Content-Type")
        typed = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
        assert client.post("/v1/ask", content=b'{"question": "When will the fighter jet fly?"}', headers=typed).status_code == 200


def test_a_history_turn_without_its_text_is_a_422(api_bot: qa.QA, api_index: Path) -> None:
    with TestClient(create_api(api_bot, ServerSettings(index=str(api_index), api_key=API_KEY))) as client:
        response = client.post("/v1/ask", json={"question": "When will the fighter jet fly?", "history": [{"question": "x"}]}, headers=AUTH)
        assert error_of(response, 422, "history[0].text") == "history[0].text is required"
        declined = {"question": "x", "text": "", "citations": []}  # a declined turn sends its empty text
        assert client.post("/v1/ask", json={"question": "When will the jet fly?", "history": [declined]}, headers=AUTH).status_code == 200


def test_a_60_kb_question_is_echoed_as_read_and_warned_once(api_bot: qa.QA, api_index: Path, caplog: pytest.LogCaptureFixture) -> None:
    question = "When will the fighter jet fly? " + "jet " * 15000  # 60,031 characters, within the 64 KiB body limit
    with TestClient(create_api(api_bot, ServerSettings(index=str(api_index), api_key=API_KEY))) as client, caplog.at_level(logging.WARNING):
        answer = client.post("/v1/ask", json={"question": question}, headers=AUTH).json()
        retrieved = client.post("/v1/retrieve", json={"question": question}, headers=AUTH).json()
    assert answer["question"] == " ".join(question.split())[:2000] and len(retrieved["question"]) == 2000
    assert answer["question_cut"] == "the question was cut to its first 2,000 characters; only they were read"
    cut = [r for r in caplog.records if "cut to 2000" in r.getMessage()]
    assert len(cut) == 2, [r.getMessage() for r in cut]  # one for the answer, one for the retrieval
    short = client_answer(api_bot, api_index, "When will the fighter jet fly?")
    assert "question_cut" not in short and short["question"] == "When will the fighter jet fly?"


def client_answer(bot: qa.QA, index: Path, question: str) -> dict[str, Any]:
    with TestClient(create_api(bot, ServerSettings(index=str(index), api_key=API_KEY))) as client:
        return dict(client.post("/v1/ask", json={"question": question}, headers=AUTH).json())
