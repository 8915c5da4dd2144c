"""eval/bench/http_api.py: its figures, and its client driver against a real server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import qa
from eval.bench import http_api as bench_http
from qa.web.api import create_api
from qa.web.settings import ServerSettings
from tests.conftest import API_KEY


def test_summary() -> None:
    summary = bench_http.summarise([0.01, 0.02, 0.03], 0.5)
    assert summary == {"answers": 3, "answers_per_s": 6.0, "p50_ms": 20.0, "p95_ms": 29.0}
    assert bench_http.summarise([], 0.0)["answers_per_s"] is None


def test_format_http_has_the_engine_and_each_worker_count() -> None:
    result = {
        "engine": {"answers_per_s": 50.0, "p50_ms": 19.0, "p95_ms": 23.0},
        "http": [{"workers": 1, "clients": 8, "answers_per_s": 42.0, "p50_ms": 180.0, "p95_ms": 220.0, "errors": 0, "per_worker_vs_engine": 0.84},
                 {"workers": 2, "clients": 8, "answers_per_s": 60.0, "p50_ms": 130.0, "p95_ms": 200.0, "errors": 0}],
    }
    lines = bench_http.format_http(result)
    assert lines[2].startswith("| engine in-process") and "| 50.0 |" in lines[2]
    assert "| 1 | 8 | 42.0 | 180.0 | 220.0 | 0 | 0.84 |" in lines[3] and lines[4].endswith("| n/a |")


@pytest.fixture
def live_port(api_bot: qa.QA, api_index: Path) -> Iterator[int]:
    """The API on the session's small index, served by uvicorn in a thread on a free loopback port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_api(api_bot, ServerSettings(index=str(api_index), api_key=API_KEY)), log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_drive_counts_answers_and_errors(live_port: int) -> None:
    ok = bench_http.drive(live_port, API_KEY, ["When will the fighter jet fly?", "Do cats sleep?"], requests=24, clients=4)
    assert ok["answers"] == 24 and ok["errors"] == 0 and ok["answers_per_s"] > 0 and ok["p95_ms"] >= ok["p50_ms"] > 0
    refused = bench_http.drive(live_port, "wrong-key-0123456789", ["Do cats sleep?"], requests=5, clients=2)
    assert refused["answers"] == 0 and refused["errors"] == 5 and refused["first_error"] == "status 401"
