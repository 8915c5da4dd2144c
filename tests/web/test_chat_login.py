"""The chat's writes need the API key off loopback (issue 31): a server configured for 0.0.0.0 with
--allow-uploads and a key, driven over HTTP as a browser would drive it (Gradio's upload route, its
queue), first without signing in, then signed in with the key.  The index is a private copy of the
real article index; the writes are real builds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import qa
from qa.web import server
from qa.web.settings import CHAT_LOGIN_MESSAGE, ServerSettings, chat_login
from tests.conftest import API_KEY

NOTE = b"The lighthouse keeper rings the bell at dawn. Ships answer with their horns."


def event_index(app: Any, name: str) -> int:
    """The fn_index of the chat's event whose function is called ``name``."""
    blocks = next(r for r in app.routes if type(r).__name__ == "Mount").app.get_blocks()
    return next(i for i, fn in blocks.fns.items() if getattr(fn.fn, "__name__", "") == name)


def run_event(client: TestClient, fn_index: int, data: list[Any]) -> tuple[int, list[dict[str, Any]]]:
    """Join Gradio's queue as the browser does; the join's status and the messages streamed back."""
    session = f"test-{fn_index}"
    joined = client.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None})
    if joined.status_code != 200:
        return joined.status_code, []
    messages = []
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                messages.append(message)
                if message.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                    break
    return 200, messages


@pytest.fixture
def network_chat(article_bot: qa.QA, tmp_path: Path) -> Iterator[tuple[TestClient, Any, Path]]:
    """The app of ``QA_API_KEY=... qa serve --host 0.0.0.0 --allow-uploads`` on a copy of the article index."""
    index = tmp_path / "index"
    shutil.copytree(article_bot.info["path"], index)
    bot = qa.load(index, reader=False)
    settings = ServerSettings(host="0.0.0.0", index=str(index), allow_uploads=True, api_key=API_KEY)
    app = server.create_app(bot, settings)
    with TestClient(app) as client:
        yield client, app, index


def test_the_login_rule() -> None:
    assert chat_login("127.0.0.1", True, None) is None and chat_login("::1", True, API_KEY) is None  # loopback: open
    assert chat_login("0.0.0.0", False, API_KEY) is None  # off loopback, read-only: open
    check = chat_login("0.0.0.0", True, API_KEY)
    assert check is not None and check("anyone", API_KEY) and not check("anyone", API_KEY[:-1]) and not check("x", "")
    with pytest.raises(ValueError, match="the chat on 0.0.0.0 with uploads on needs QA_API_KEY"):
        chat_login("0.0.0.0", True, None)
    assert ServerSettings(host="0.0.0.0", api_key=API_KEY, allow_uploads=True).chat_login is not None
    assert ServerSettings(host="0.0.0.0", api_key=API_KEY).chat_login is None


@pytest.mark.slow
def test_the_chat_writes_only_for_who_has_the_key(network_chat: tuple[TestClient, Any, Path]) -> None:
    client, app, index = network_chat
    before = [d.doc_id for d in qa.list_documents(index)]
    add = event_index(app, "add_files")

    # without the key: the page, the upload route and the queue (every event, adds and removes alike) are refused
    assert client.get("/config").status_code == 401
    refused = client.post("/gradio_api/upload", files=[("files", ("note.txt", NOTE, "text/plain"))])
    assert refused.status_code == 401, refused.text
    fake = {"path": "/etc/hostname", "orig_name": "note.txt", "meta": {"_type": "gradio.FileData"}}
    assert run_event(client, add, [[fake]])[0] == 401
    assert client.post("/gradio_api/call/chat", json={"data": ["What does the pact cover?", 5]}).status_code == 401
    wrong = client.post("/login", data={"username": "me", "password": API_KEY[:-1] + "x"})
    assert wrong.status_code == 400 and client.post("/gradio_api/upload", files=[("files", ("n.txt", NOTE))]).status_code == 401
    assert [d.doc_id for d in qa.list_documents(index)] == before
    page = client.get("/")  # the login page says what to type
    assert page.status_code == 200

    # the API's rule is the same: its writes need the key too
    assert client.post("/v1/documents", files=[("files", ("note.txt", NOTE, "text/plain"))]).status_code == 401

    # signed in with the key (any user name): the upload route stores the file and the add event indexes it
    assert client.post("/login", data={"username": "me", "password": API_KEY}).status_code == 200
    assert client.get("/config").status_code == 200
    stored = client.post("/gradio_api/upload", files=[("files", ("note.txt", NOTE, "text/plain"))])
    assert stored.status_code == 200, stored.text
    path = stored.json()[0]
    status, messages = run_event(client, add, [[{"path": path, "orig_name": "note.txt", "meta": {"_type": "gradio.FileData"}}]])
    assert status == 200 and messages[-1]["msg"] == "process_completed" and messages[-1]["success"], messages[-1]
    assert [d.doc_id for d in qa.list_documents(index)] == before + ["note.txt"]
    assert CHAT_LOGIN_MESSAGE.startswith("This server accepts uploads: sign in")
