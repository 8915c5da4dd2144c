"""HTTP throughput of ``qa serve`` against the engine in-process, in the same run.

Usage (from the repo root; ``eval/bench/run.py`` runs it as its ``http`` section)::

    python -m eval.bench.http_api [--index DIR] [--requests 400] [--clients 8] [--workers 1,2] [--json OUT]

* ``engine``: one ``qa.load(DIR)`` in this process answers the questions one after another
  (``answers_per_s``, p50/p95 ms): what one process gives with nothing in front of it.
* ``http``: for each worker count, ``qa serve --workers N --no-chat`` on 127.0.0.1 (a free port,
  with ``QA_API_KEY`` set, as in production) and ``--clients`` client threads, each on its own
  kept-alive connection, sending ``POST /v1/ask`` until ``--requests`` answers came back:
  answers/s, p50/p95 ms of each request as the client saw it, errors, and
  ``per_worker_vs_engine`` = answers/s per worker / the engine's answers/s (goal: >= 0.8).
  With one worker a single client is measured too (half the requests): the latency HTTP adds.

The questions are those of ``eval/qa_article.jsonl`` on the bundled article (without ``--index``,
an index of it is built in a temporary folder).  The clients run on the same machine and take
CPU from the server: on a 2-core machine that is a real share.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

from eval.bench.common import article_questions, free_port, percentile, python_env  # noqa: E402
from eval.bench.serving import http_ready, serve  # noqa: E402

logger = logging.getLogger("eval.bench.http_api")

DEFAULT_REQUESTS = 400
QUICK_REQUESTS = 80
DEFAULT_CLIENTS = 8
DEFAULT_WORKERS = (1, 2)
WARMUP = 8
STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0


def summarise(latencies_s: Sequence[float], elapsed_s: float) -> dict[str, Any]:
    """answers/s and p50/p95 (ms) of a run."""
    return {
        "answers": len(latencies_s),
        "answers_per_s": round(len(latencies_s) / elapsed_s, 1) if elapsed_s > 0 else None,
        "p50_ms": None if not latencies_s else round(percentile(latencies_s, 50) * 1000, 1),  # type: ignore[operator]
        "p95_ms": None if not latencies_s else round(percentile(latencies_s, 95) * 1000, 1),  # type: ignore[operator]
    }


def bench_engine(index: Path, questions: Sequence[str], requests: int) -> dict[str, Any]:
    """The engine in this process, one question after another."""
    import qa

    bot = qa.load(str(index))
    for question in questions[:WARMUP]:
        bot.ask(question)
    latencies = []
    started = time.perf_counter()
    for i in range(requests):
        began = time.perf_counter()
        bot.ask(questions[i % len(questions)])
        latencies.append(time.perf_counter() - began)
    return summarise(latencies, time.perf_counter() - started)


def _post(conn: http.client.HTTPConnection, body: bytes, key: str) -> int:
    conn.request("POST", "/v1/ask", body=body, headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    response.read()
    return response.status


def drive(port: int, key: str, questions: Sequence[str], requests: int, clients: int) -> dict[str, Any]:
    """``clients`` threads send ``POST /v1/ask`` until ``requests`` answers came back."""
    bodies = [json.dumps({"question": q}).encode() for q in questions]
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                began = time.perf_counter()
                try:
                    status = _post(conn, bodies[n % len(bodies)], key)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    if status == 200:
                        latencies.append(time.perf_counter() - began)
                    else:
                        errors.append(f"status {status}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = summarise(latencies, time.perf_counter() - started)
    result["errors"] = len(errors)
    if errors:
        result["first_error"] = errors[0]
    return result


@contextlib.contextmanager
def qa_serve(index: Path, workers: int, key: str, log: Path) -> Iterator[int]:
    """``qa serve --workers N --no-chat`` on a free loopback port, stopped at the end.

    Args:
        index: The index folder to serve.
        workers: Worker processes.
        key: The API key (``QA_API_KEY``).
        log: File for the server's output.

    Yields:
        The port, once the server answers ``/healthz``.

    Raises:
        eval.bench.serving.ServerError: The server exited or did not answer within ``STARTUP_TIMEOUT`` s.
    """
    port = free_port()
    command = [sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port), "--workers", str(workers), "--no-chat"]
    with serve(command, http_ready(port, "/healthz"), name="qa serve", log=log, env={**python_env(), "QA_API_KEY": key},
               cwd=REPO_ROOT, timeout=STARTUP_TIMEOUT, stop_timeout=STOP_TIMEOUT):
        yield port


def bench_http(index: Path, questions: Sequence[str], requests: int = DEFAULT_REQUESTS, clients: int = DEFAULT_CLIENTS,
               workers: Sequence[int] = DEFAULT_WORKERS) -> dict[str, Any]:
    """The engine in-process, then ``qa serve`` at each worker count, on one index.

    Args:
        index: An index folder the server can load (built with a named model).
        questions: Questions to send, cycled.
        requests: Answers per measurement.
        clients: Concurrent client connections.
        workers: Worker counts to measure.

    Returns:
        ``{"engine": {...}, "http": [{"workers", "clients", "answers_per_s", "p50_ms", "p95_ms", "errors",
        "per_worker_vs_engine"}, ...]}``.
    """
    engine = bench_engine(index, questions, requests)
    result: dict[str, Any] = {"requests": requests, "clients": clients, "engine": engine, "http": []}
    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="qa-bench-http-") as folder:
        for n in workers:
            logger.info("qa serve --workers %d", n)
            rows = []
            with qa_serve(index, n, key, Path(folder) / f"serve-{n}.log") as port:
                drive(port, key, questions, WARMUP * n * 2, clients)  # every worker answers once before timing
                for count in ([1, clients] if n == 1 and clients > 1 else [clients]):  # one client: the latency HTTP adds
                    rows.append({"workers": n, "clients": count, **drive(port, key, questions, requests // 2 if count == 1 else requests, count)})
            for row in rows:
                if row["answers_per_s"] and engine["answers_per_s"]:
                    row["per_worker_vs_engine"] = round(row["answers_per_s"] / n / engine["answers_per_s"], 2)
            result["http"].extend(rows)
    return result


def format_http(result: dict[str, Any]) -> list[str]:
    """The benchmark as table lines (Markdown)."""
    engine = result["engine"]
    lines = [
        "| path | workers | clients | answers/s | p50 ms | p95 ms | errors | per worker / engine |",
        "|---|---|---|---|---|---|---|---|",
        f"| engine in-process (`QA.ask`, serial) | - | 1 | {engine['answers_per_s']} | {engine['p50_ms']} | {engine['p95_ms']} | 0 | 1.00 |",
    ]
    for row in result["http"]:
        lines.append(
            f"| HTTP `POST /v1/ask` | {row['workers']} | {row['clients']} | {row['answers_per_s']} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['errors']} | {row.get('per_worker_vs_engine', 'n/a')} |"
        )
    return lines


def article_index(folder: Path) -> Path:
    """An index of the bundled article with the default model, in ``folder``."""
    import qa
    from qa.documents.ingest import default_documents

    path = folder / "article"
    qa.build_index(default_documents(), path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run the HTTP benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: the bundled article, built in a temporary folder)")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help=f"answers per measurement (default {DEFAULT_REQUESTS})")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help=f"concurrent clients (default {DEFAULT_CLIENTS})")
    parser.add_argument("--workers", default=",".join(map(str, DEFAULT_WORKERS)), help="worker counts (default 1,2)")
    parser.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-http-index-") as folder:
        index = args.index or article_index(Path(folder))
        result = bench_http(index, article_questions(), args.requests, args.clients, workers)
    result["cpus"] = os.cpu_count()
    result["load_average_end"] = list(os.getloadavg())
    print("\n".join(format_http(result)))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
