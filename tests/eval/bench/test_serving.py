"""eval/bench/serving.py: a real server subprocess is started, answers, and is stopped with its whole process group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from eval.bench.common import free_port
from eval.bench.serving import ServerError, http_ready, serve, tcp_ready

# A server that first starts a grandchild in its own process group (which ignores SIGTERM, as a stuck worker
# would), writes the grandchild's pid, then serves HTTP on the given port until stopped.
SERVER = """
import http.server, subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[2], "w").write(str(worker.pid))
print("serving on", sys.argv[1], flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` has disappeared (or is a zombie waiting for its reaper) within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_serve_waits_for_the_answer_then_stops_the_server_and_its_group(tmp_path: Path) -> None:
    port, pid_file, log = free_port(), tmp_path / "worker.pid", tmp_path / "server.log"
    with serve([sys.executable, "-c", SERVER, str(port), str(pid_file)], http_ready(port, "/"), name="toy server",
               log=log, cwd=tmp_path, timeout=30, stop_timeout=5) as server:
        assert http_ready(port, "/")() and server.startup_s > 0 and server.proc.poll() is None
        assert os.getpgid(server.proc.pid) == server.proc.pid  # its own process group
        worker = int(pid_file.read_text())
        assert os.getpgid(worker) == server.proc.pid
        assert "serving on" in server.output()
    assert server.proc.returncode is not None and not http_ready(port, "/")()
    assert gone(worker), "the worker that ignores SIGTERM outlived its server"
    assert log.exists()  # a log the caller named stays


def test_a_server_that_exits_is_reported_with_its_log_tail() -> None:
    code = "import sys; print('x' * 5000); print('cannot bind the port', file=sys.stderr); sys.exit(3)"
    with pytest.raises(ServerError, match=r"(?s)broken server exited with status 3 before it answered; the end of its log:\n.*cannot bind the port") as caught:
        with serve([sys.executable, "-c", code], tcp_ready(free_port()), name="broken server", timeout=30):
            pass
    assert len(str(caught.value)) < 4200  # the tail, not the whole log


def test_a_server_that_never_answers_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('starting', flush=True); time.sleep(600)"
    started = time.perf_counter()
    with pytest.raises(ServerError, match=r"(?s)silent server did not answer within 1 s; the end of its log:\nstarting"):
        with serve([sys.executable, "-c", code], tcp_ready(free_port()), name="silent server", log=tmp_path / "log",
                   timeout=1, stop_timeout=0.5, poll_s=0.05):
            pass
    assert time.perf_counter() - started < 10  # SIGTERM ignored: killed after stop_timeout, not left running


def test_the_body_failing_still_stops_the_server() -> None:
    port = free_port()
    command = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with pytest.raises(KeyError):
        with serve(command, http_ready(port, "/"), name="http.server", timeout=30) as server:
            raise KeyError("boom")
    assert server.proc.returncode is not None and not server.log.exists()  # the temporary log is removed


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
    ({"stop_timeout": -1.0}, "stop_timeout must be a positive number of seconds, got -1.0"),
    ({"poll_s": 0.0}, "poll_s must be a positive number of seconds, got 0.0"),
])
def test_serve_refuses_bad_timeouts(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        with serve([sys.executable, "-c", "pass"], tcp_ready(1), name="x", **kwargs):
            pass


def test_serve_needs_a_command() -> None:
    with pytest.raises(ValueError, match="serve\\(\\) needs a command"):
        with serve([], tcp_ready(1), name="x"):
            pass
