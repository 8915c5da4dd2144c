"""One helper to run a server in a subprocess: start it, wait until it answers, stop it and its process group.

Used by the benchmarks (``eval/bench/run.py``: the app's cold start; ``eval/bench/http_api.py``: ``qa serve``) and by
the tests that start real servers (``qa serve --workers 2``, ``milvus-lite server``)::

    with serve([sys.executable, "-m", "qa.cli", "serve", "--port", str(port)], http_ready(port, "/healthz"),
               name="qa serve", log=folder / "serve.log") as server:
        ...  # the server answers; server.log holds its stdout and stderr

The server runs in a new session (its own process group). At the end it gets SIGTERM alone, so that it
can stop its own workers in order, and ``stop_timeout`` seconds to exit; then whatever is left of its
process group (the server itself if it did not exit, workers it left behind) gets SIGKILL.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("eval.bench.serving")

LOG_TAIL = 4000
"""Characters of the server's log quoted in an error."""


class ServerError(RuntimeError):
    """A server that exited before it answered, or did not answer in time; the message ends with its log's tail."""


@dataclass(frozen=True)
class Served:
    """A running server.

    Attributes:
        proc: The server's process (the leader of its own process group).
        log: The file that receives its stdout and stderr.
        startup_s: Seconds from starting the process until ``ready`` first said yes.
    """

    proc: subprocess.Popen[bytes]
    log: Path
    startup_s: float

    def output(self) -> str:
        """The server's stdout and stderr so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, chars: int = LOG_TAIL) -> str:
        """The last ``chars`` characters of :meth:`output`."""
        return _tail(self.log, chars)


def _tail(log: Path, chars: int = LOG_TAIL) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def http_ready(port: int, path: str = "/", host: str = "127.0.0.1", timeout: float = 5.0) -> Callable[[], bool]:
    """A probe: does ``GET http://HOST:PORT/PATH`` answer 200 (no proxy, no redirect followed)?"""

    def probe() -> bool:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    return probe


def tcp_ready(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> Callable[[], bool]:
    """A probe: does ``HOST:PORT`` accept a TCP connection?"""

    def probe() -> bool:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:
            return False
        return True

    return probe


@contextlib.contextmanager
def serve(
    command: Sequence[str],
    ready: Callable[[], bool],
    *,
    name: str,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120.0,
    stop_timeout: float = 20.0,
    poll_s: float = 0.2,
) -> Iterator[Served]:
    """Start ``command``, wait until ``ready()`` is true, yield, then stop the server and its process group.

    Args:
        command: The server's command line.
        ready: Called every ``poll_s`` seconds until it returns True (see :func:`http_ready`, :func:`tcp_ready`).
        name: What the server is called in error messages (``"qa serve"``).
        log: File for the server's stdout and stderr (overwritten); None: a temporary file, removed at the end.
        env: The server's environment (None: this process's).
        cwd: The server's working folder (None: this process's).
        timeout: Seconds the server has to answer.
        stop_timeout: Seconds the server has to exit after SIGTERM before its process group is killed.
        poll_s: Seconds between two calls of ``ready``.

    Yields:
        The running server.

    Raises:
        ValueError: An empty command, or a timeout or interval that is not positive.
        ServerError: The server exited before it answered, or did not answer within ``timeout`` seconds
            (it is stopped first); the message ends with the tail of its log.
    """
    if not command:
        raise ValueError("serve() needs a command: pass the server's command line, e.g. [sys.executable, 'app.py']")
    for label, value in (("timeout", timeout), ("stop_timeout", stop_timeout), ("poll_s", poll_s)):
        if not value > 0:
            raise ValueError(f"{label} must be a positive number of seconds, got {value!r}")
    owned = log is None
    if log is None:
        handle, temp = tempfile.mkstemp(prefix="qa-server-", suffix=".log")
        os.close(handle)
        log = Path(temp)
    started = time.perf_counter()
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                list(command), cwd=cwd, env=None if env is None else dict(env),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            server = _wait_until_ready(proc, ready, name, log, started, timeout, poll_s)
            yield server
        finally:
            stop(proc, stop_timeout, name)
    finally:
        if owned:
            log.unlink(missing_ok=True)


def _wait_until_ready(proc: subprocess.Popen[bytes], ready: Callable[[], bool], name: str, log: Path,
                      started: float, timeout: float, poll_s: float) -> Served:
    deadline = started + timeout
    while True:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with status {proc.returncode} before it answered; the end of its log:\n"
                              f"{_tail(log)}")
        if ready():
            return Served(proc, log, time.perf_counter() - started)
        if time.perf_counter() > deadline:
            raise ServerError(f"{name} did not answer within {timeout:.0f} s; the end of its log:\n{_tail(log)}")
        time.sleep(poll_s)


def stop(proc: subprocess.Popen[bytes], stop_timeout: float = 20.0, name: str = "the server") -> None:
    """SIGTERM to ``proc`` alone, ``stop_timeout`` seconds to exit, then SIGKILL to what is left of its process group.

    Args:
        proc: A process started with ``start_new_session=True`` (its pid is its process group's id).
        stop_timeout: Seconds it has to exit after SIGTERM.
        name: What it is called in the warning logged when it has to be killed.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not exit within %.0f s of SIGTERM: killing its process group", name, stop_timeout)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the server if it is still there, and any worker it left behind
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
