"""The server (qa/web/server.py): options, start-up rules, the chat mounted beside the API, and a real
uvicorn with two workers on loopback: the key, a bounded load test, and an upload seen by every worker.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import qa
from eval.bench import serving
from qa.cli import say
from qa.web import server
from qa.web.settings import DEFAULT_HOST, DEFAULT_PORT, ServerSettings
from tests.conftest import API_KEY

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CLIENTS = 100
QUESTIONS_PER_CLIENT = 5
PACT = "When will the new fighter jet be airborne?"  # the reader answers "2035" (as in tests/web/test_app.py)
PHRASE = "2035"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# options and start-up rules (no server)


def test_options_and_settings() -> None:
    args = server.parse_args([])
    assert (args.host, args.port, args.index, args.allow_uploads, args.workers, args.cors_origin) == (None, None, None, False, 1, [])
    settings = server.settings_from_args(args, {})
    assert settings == ServerSettings() and settings.uploads and settings.serves_chat
    args = server.parse_args(["--host", "0.0.0.0", "--port", "8000", "--index", "milvus://db/qa", "--workers", "2",
                              "--cors-origin", "https://a.org", "--cors-origin", "https://b.org", "--no-reader", "--max-upload-mb", "10"])
    settings = server.settings_from_args(args, {"QA_API_KEY": API_KEY})
    assert settings.index == "milvus://db/qa" and settings.workers == 2 and settings.cors_origins == ("https://a.org", "https://b.org")
    assert settings.api_key == API_KEY and not settings.reader and settings.max_upload_mb == 10 and not settings.uploads
    assert server.settings_from_args(server.parse_args([]), {"GRADIO_SERVER_PORT": "9000"}).port == 9000
    assert server.settings_from_args(server.parse_args(["--reader", "/models/r"]), {}).reader == "/models/r"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--port", "0"], {}, "app.py: error: port must be between 1 and 65535, not 0"),
        (["--host", "0.0.0.0"], {}, "app.py: error: refusing to serve the API on 0.0.0.0 without a key: set QA_API_KEY"),
        ([], {"QA_API_KEY": "short"}, "app.py: error: QA_API_KEY has 5 characters"),
        (["--workers", "0"], {}, "app.py: error: workers must be a whole number from 1 to 64, not 0"),
        (["--cors-origin", "example.org"], {}, "app.py: error: a CORS origin must be"),
        (["--reader", "r", "--no-reader"], {}, "app.py: error: --reader r and --no-reader contradict each other"),
    ],
)
def test_bad_settings_stop_before_loading(
    argv: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QA_API_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(qa, "load", lambda *a, **k: pytest.fail("loaded the index despite bad settings"))
    assert server.main(argv, say) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "env", "uploads", "line"),
    [
        ([], {}, True, "uploads: on (loopback)"),
        (["--host", "::1"], {}, True, "uploads: on (loopback)"),
        (["--host", "0.0.0.0"], {"QA_API_KEY": API_KEY}, False, "uploads: off (bound to 0.0.0.0; start with --allow-uploads to enable them)"),
        (["--host", "0.0.0.0", "--allow-uploads"], {"QA_API_KEY": API_KEY}, True, "uploads: on (--allow-uploads)"),
    ],
)
def test_main_applies_the_upload_rule(
    argv: list[str], env: dict[str, str], uploads: bool, line: str, api_bot: qa.QA,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    seen: dict[str, Any] = {}

    def serve(settings: ServerSettings, bot: Any, sock: socket.socket) -> int:
        seen.update(settings=settings, bot=bot, address=sock.getsockname())
        sock.close()
        return 0

    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("QA_API_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(qa, "load", lambda *a, **k: api_bot)
    monkeypatch.setattr(server, "serve", serve)
    port = free_port()
    assert server.main([*argv, "--port", str(port)], say) == 0
    host = argv[1] if argv else "127.0.0.1"
    assert seen["settings"].host == host and seen["settings"].uploads is uploads and seen["bot"] is api_bot
    assert seen["address"][1] == port
    err = capsys.readouterr().err
    assert line in err and f"API: http://{'[::1]' if host == '::1' else host}:{port}/v1" in err


def test_a_taken_port_is_one_line(api_bot: qa.QA, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(qa, "load", lambda *a, **k: api_bot)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert server.main(["--port", str(port)], say, prog="qa serve") == 1
    err = capsys.readouterr().err
    assert f"qa serve: error: cannot serve on 127.0.0.1:{port}:" in err and "Traceback" not in err


def test_a_missing_index_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert server.main(["--index", str(tmp_path / "missing"), "--port", str(free_port())], say) == 1
    err = capsys.readouterr().err
    assert f"app.py: error: cannot load the index {tmp_path / 'missing'}:" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_app_py_and_qa_serve_take_the_same_options() -> None:
    from qa.cli import _parser

    serve = _parser().parse_args(["serve", "--workers", "2", "--no-chat", "--allow-uploads"])
    plain = server.parse_args(["--workers", "2", "--no-chat", "--allow-uploads"], prog="app.py")  # what app.py's main parses
    assert {k: v for k, v in vars(serve).items() if k not in ("command", "verbose")} == vars(plain)


# --------------------------------------------------------------------------------------------
# the app: chat mounted beside the API


def test_the_chat_is_mounted_at_the_root_beside_the_api(api_bot: qa.QA, api_index: Path) -> None:
    on = server.create_app(api_bot, ServerSettings(index=str(api_index)))
    mounted = [r for r in on.routes if getattr(r, "path", None) == "" or type(r).__name__ == "Mount"]
    assert len(mounted) == 1
    blocks = mounted[0].app.get_blocks()  # type: ignore[attr-defined]
    assert blocks.max_file_size == 50 * 1024 * 1024
    with TestClient(on) as c:
        page = c.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert c.post("/v1/ask", json={"question": "When will the fighter jet fly?"}).json()["abstained"] is False
        assert c.get("/openapi.json").json()["info"]["title"] == "qa"
        assert c.get("/docs").status_code == 200

    off = server.create_app(api_bot, ServerSettings(host="0.0.0.0", api_key=API_KEY, index=str(api_index)))
    blocks = next(r for r in off.routes if type(r).__name__ == "Mount").app.get_blocks()  # type: ignore[attr-defined]
    assert blocks.max_file_size == 0  # uploads off: Gradio's upload route refuses every file


def test_several_workers_serve_the_api_without_the_chat(api_bot: qa.QA, api_index: Path) -> None:
    app = server.create_app(api_bot, ServerSettings(index=str(api_index), workers=2))
    assert not any(type(r).__name__ == "Mount" for r in app.routes)
    with TestClient(app) as c:
        root = c.get("/", follow_redirects=False)
        assert root.status_code in (302, 307) and root.headers["location"] == "/docs"


def test_app_from_env_needs_the_parents_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(server.SETTINGS_ENV, raising=False)
    with pytest.raises(ValueError, match="QA_SERVE_SETTINGS is not set: start the server with `qa serve`"):
        server.app_from_env()


# --------------------------------------------------------------------------------------------
# a real server: `qa serve --workers 2` on loopback


@pytest.fixture(scope="module")
def two_workers(article_bot: qa.QA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``qa serve --workers 2 --port FREE`` with QA_API_KEY, on a private copy of the real article index."""
    folder = tmp_path_factory.mktemp("serve")
    index = folder / "index"
    shutil.copytree(article_bot.info["path"], index)
    port = free_port()
    env = dict(os.environ, QA_API_KEY=API_KEY, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    log = folder / "server.log"
    command = [sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port), "--workers", "2"]
    with serving.serve(command, serving.http_ready(port, "/healthz"), name="qa serve", log=log, env=env, cwd=ROOT, timeout=120,
                       stop_timeout=20) as served:
        # both workers up: each answers /v1/ask only after loading its engine, so wait for several answers
        yield {"port": port, "index": index, "log": log, "proc": served.proc}
    assert "Traceback" not in log.read_text()


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        if own:
            conn.close()


@pytest.mark.slow
def test_the_served_api_needs_the_key(two_workers: dict[str, Any]) -> None:
    port = two_workers["port"]
    status, body = call(port, "POST", "/v1/ask", {"question": "When was the pact signed?"})
    assert status == 401 and body["error"] == "unauthorized"
    status, body = call(port, "POST", "/v1/ask", {"question": "When was the pact signed?"}, AUTH)
    assert status == 200 and body["citations"] and body["question"] == "When was the pact signed?"
    status, body = call(port, "POST", "/v1/ask", {"question": "  "}, AUTH)
    assert status == 422 and body["field"] == "question"


@pytest.mark.slow
def test_load_on_loopback_has_no_errors(two_workers: dict[str, Any]) -> None:
    """100 clients x 5 questions at once, each client on its own kept-alive connection: every answer 200 and right."""
    port = two_workers["port"]
    questions = [PACT, "Who is Japan's foreign minister?", "What is the population of Japan?", "When was the pact signed?", PACT]
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start.wait()
        try:
            for i in range(QUESTIONS_PER_CLIENT):
                question = questions[(n + i) % len(questions)]
                began = time.perf_counter()
                status, body = call(port, "POST", "/v1/ask", {"question": question}, AUTH, conn)
                with lock:
                    latencies.append(time.perf_counter() - began)
                    if status != 200 or body.get("question") != question:
                        errors.append(f"{status}: {str(body)[:200]}")
                    elif question == PACT and (body.get("phrase") or {}).get("text") != PHRASE:
                        errors.append(f"wrong answer to {question!r}: {body.get('phrase')}")
        except Exception as exc:  # noqa: BLE001 - counted as an error
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.perf_counter() - began
    assert errors == [] and len(latencies) == CLIENTS * QUESTIONS_PER_CLIENT
    print(f"\n{len(latencies)} answers in {elapsed:.1f} s ({len(latencies) / elapsed:.0f}/s), p50 {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms")


@pytest.mark.slow
def test_an_upload_through_one_worker_is_answered_by_all_within_a_second(two_workers: dict[str, Any]) -> None:
    port = two_workers["port"]
    question = "When did the lighthouse keeper paint the tower green?"
    text = b"The lighthouse keeper painted the tower green in 1921. Visitors climb the green tower every summer."
    boundary = "qa-test-boundary"
    payload = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"lighthouse.txt\"\r\n"
        f"Content-Type: text/plain\r\n\r\n"
    ).encode() + text + f"\r\n--{boundary}--\r\n".encode()
    for _ in range(6):  # both workers have checked their index recently
        call(port, "POST", "/v1/retrieve", {"question": question, "top_k": 1}, AUTH)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/documents", body=payload, headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = conn.getresponse()
    report = json.loads(response.read())
    conn.close()
    assert response.status == 200 and [d["doc_id"] for d in report["added"]] == ["lighthouse.txt"], report
    time.sleep(1.05)
    for _ in range(30):  # each on a new connection: the kernel spreads them over both workers
        status, body = call(port, "POST", "/v1/retrieve", {"question": question, "top_k": 1}, AUTH)
        assert status == 200 and body["passages"][0]["doc_id"] == "lighthouse.txt"
        status, body = call(port, "GET", "/v1/info", None, AUTH)
        assert "lighthouse.txt" in [d["doc_id"] for d in body["documents"]]
    status, body = call(port, "DELETE", "/v1/documents/lighthouse.txt", None, AUTH)
    assert status == 200 and body["removed"] == ["lighthouse.txt"]


def test_parse_args_defaults_and_flags() -> None:
    args = server.parse_args([])
    assert (args.host, args.port, args.index) == (None, None, None)
    args = server.parse_args(["--host", "0.0.0.0", "--port", "8000", "--index", "idx"])
    assert (args.host, args.port, args.index) == ("0.0.0.0", 8000, "idx")
    with pytest.raises(SystemExit):
        server.parse_args(["--port", "eighty"])


def test_allow_uploads_flag() -> None:
    assert server.parse_args([]).allow_uploads is False
    assert server.parse_args(["--host", "0.0.0.0", "--allow-uploads"]).allow_uploads is True


def test_main_defaults_are_loopback() -> None:
    assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 7860)
    assert isinstance(server.parse_args([]), argparse.Namespace)




# --------------------------------------------------------------------------------------------
# server.py: the upload network rule, the upload and remove actions (fake engine and API)


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:7860/"), ("0.0.0.0", "http://127.0.0.1:7860/"), ("::", "http://[::1]:7860/"),
     ("[::1]", "http://[::1]:7860/"), ("localhost", "http://localhost:7860/"), ("192.168.1.4", "http://192.168.1.4:7860/")],
)
def test_local_url(host: str, url: str) -> None:
    assert server.local_url(host, 7860) == url


def test_bound_sockets_send_responses_without_waiting_for_acks() -> None:
    sock = server.bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on accepted sockets of this protocol only
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


@pytest.mark.slow
def test_a_request_is_not_held_by_delayed_acks(two_workers: dict[str, Any]) -> None:
    """Headers and body go out at once: a kept-alive /healthz round trip takes about a millisecond, not Linux's 40 ms."""
    conn = http.client.HTTPConnection("127.0.0.1", two_workers["port"], timeout=30)
    times = []
    for _ in range(21):
        began = time.perf_counter()
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        times.append(time.perf_counter() - began)
    conn.close()
    assert sorted(times)[10] < 0.02, times
