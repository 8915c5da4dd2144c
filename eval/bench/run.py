"""Benchmark the engine: answer latency, build throughput, cold starts, incremental builds, index scale.

Usage (from the repo root)::

    python -m eval.bench.run [--quick] [--json OUT] [--scales 10000,100000,1000000]

Everything runs in this one process except the cold starts (new processes, by
definition) and the memory of each scale's index (measured in a new process,
so that freed memory of earlier steps cannot hide it).  Timings are medians
after warm-up; wall-clock, on whatever else the machine is running.

What is measured (keys of the JSON written by ``--json``):

* ``ask_p50_ms`` / ``ask_p95_ms``: ``QA.ask`` on the 74 questions of
  ``eval/qa_article.jsonl`` (3 rounds), on an index of the bundled article,
  with the engine's default settings and default embedder.
* ``floor_p50_ms``: the same engine's own embedder encoding the same question,
  plus a bare FAISS search of the same index (one thread, ``k`` = the engine's
  ``top_k``), plus the bare ONNX runs (``session.run``) of every model ``ask`` used
  (the reader on the passages it read, the verifier on the candidate sentences),
  on the very inputs ``ask`` gave them (recorded beforehand): what a retrieve-and-read pipeline must pay, timed
  interleaved with ``ask``.  ``ask_overhead_ratio`` is ``ask_p50_ms / floor_p50_ms``.
  ``no_reader``: the same figures with ``reader=False`` (floor without the reader).
* ``backends``: the same three figures for each ONNX backend the engine ships
  (``onnx``, fp32, the default; ``onnx-int8``, opt-in), each on its own index.
* ``large_index``: the same figures on the build benchmark's index (SQuAD questions).
* ``build_passages_per_s``: passages per second of ``qa.build_index`` (a full
  build: segmentation, sentence and word embeddings, passage vectors pooled
  from the sentences, FAISS, BM25, files)
  over SQuAD paragraphs repeated with their sentences shuffled
  (>= 2,000 passages; 120 with ``--quick``).  ``encode_passages_per_s``: the
  embedder alone encoding the same passage texts.  ``build_efficiency``: their ratio.
* ``encoders``: the default build encoder (bf16 where the CPU runs it natively) against
  ``backend="onnx"`` fp32 on 4,000+ passages, alternating builds: passages/s, their ratio, the 1M
  projection, where the time goes, vector cosines, SQuAD recall@5 and the article's answers
  (see :mod:`eval.bench.encoders`; not with ``--quick``).
* ``incremental``: after that build, one document is changed and the index is
  built again into the same folder: ``full_build_s``, ``incremental_s``,
  ``reembedded_passages`` (from the build report).
* ``cold_start_first_answer_s``: a new ``python -c "import qa; qa.load(path).ask(...)"``
  on the existing article index, until it exits; ``cold_start_app_s``: a new
  ``python app.py --index ... --port FREE`` until ``/`` is served;
  ``cold_start_bare_imports_s``: a new ``python -c "import sentence_transformers, gradio"``.
* ``records``: seconds and resident-memory growth of a new process reading the
  passage and sentence records (``passages.jsonl``, ``sentences.jsonl``, as a
  build writes them) of an index of the largest scale's size: 8 passages a
  document, 4 sentences a passage with one shared.
* ``scale``: for 10k, 100k and 1M passages (``--quick``: not 1M), vectors made
  from real-text embeddings (below): the index type that
  ``qa.index.local.vectors.make_vector_index`` chose, its build seconds (training and nprobe
  calibration included), the p50 of single-query searches on one thread (k=10,
  through ``qa.index.local.vectors.VectorIndex`` as the engine searches, re-ranking included),
  ``recall@10`` against exact search (``IndexFlatIP`` ground truth computed in a
  batch) on held-out real questions, and ``rss_mb``: the resident-memory growth of
  a new process that loads the index file, memory-maps the float32 vectors and
  runs 200 searches (FAISS index + the re-ranking pages touched; ``file_mb`` is
  the size of ``index.faiss``).
* ``http``: answers/s and p50/p95 through ``qa serve``'s ``POST /v1/ask`` at 1 and 2 workers against
  the engine's own answers/s in this process (see ``eval/bench/http_api.py``).
* ``followup``: ``QA.ask`` of follow-ups with ``history`` against first turns on the article index
  (p50s and their ratio; see ``eval/bench/followup.py``).
* ``ingest``: reading PDF (``pages_per_s``) and Word files (``documents_per_s``,
  ``paragraphs_per_s``) made by real tools (see ``eval/bench/ingest.py``).

Vectors for the scale test: about 2,500 real texts (SQuAD paragraphs, their
sentences, sentence pairs and clauses; the bundled article's sentences; first
sentences of Python standard-library docstrings) are encoded with the packaged
model; each synthetic passage vector is ``normalize(a * e_i + b * e_j + noise)``
with ``e_i`` a random real vector, ``e_j`` (70%) one of ``e_i``'s 20 nearest real
neighbours or (30%) any real vector, ``a ~ U(0.6, 1)``, ``b ~ U(0, 0.5)`` and
Gaussian noise of norm ~0.5 (its nearest synthetic neighbour has cosine ~0.8, like
passages of a real corpus).  Queries are the embeddings of the 626 SQuAD questions,
none of which is among the texts.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402

from eval.bench.common import (  # noqa: E402
    WARMUP, article_questions, free_port, percentile, python_env, split_sentences_simple, squad_paragraphs, squad_questions, shuffled_variants,
)
from eval.bench.http_api import DEFAULT_REQUESTS, QUICK_REQUESTS, bench_http, format_http  # noqa: E402
from eval.bench.scale import bench_records, bench_scale, cached_encode, real_texts  # noqa: E402
from eval.bench.serving import ServerError, http_ready, serve  # noqa: E402

logger = logging.getLogger("eval.bench.run")

ARTICLE_BACKENDS = ("onnx", "onnx-int8")
"""Backends timed on the bundled article (the default one gives the headline figures)."""
ASK_ROUNDS = 3
"""Each question is asked this many times (medians over all)."""
FULL_SCALES = (10_000, 20_000, 100_000, 1_000_000)
"""20,000 is the largest exact (flat) index by default."""
QUICK_SCALES = (10_000, 100_000)
BUILD_PASSAGES = 2_000
QUICK_BUILD_PASSAGES = 120
ASK_QUESTIONS = 200
QUICK_ASK_QUESTIONS = 60


# --------------------------------------------------------------------------- pure helpers


def format_table(result: dict) -> str:
    """The benchmark result as a plain-text table."""
    lines = ["metric                          value"]
    for key in (
        "ask_p50_ms", "ask_p95_ms", "floor_p50_ms", "ask_overhead_ratio", "build_passages_per_s", "encode_passages_per_s",
        "build_efficiency", "cold_start_first_answer_s", "cold_start_app_s", "cold_start_bare_imports_s",
    ):
        value = result.get(key)
        lines.append(f"{key:<32}{'n/a' if value is None else format(value, '.3g') if isinstance(value, float) else value}")
    latency = [(f"ask on the article, {backend}", figures) for backend, figures in (result.get("backends") or {}).items()]
    if result.get("no_reader"):
        latency.append(("ask on the article, no reader", result["no_reader"]))
    if result.get("large_index"):
        latency.append((f"ask on {result['large_index'].get('passages')} passages", result["large_index"]))
    for label, figures in latency:
        lines.append(
            f"{label:<32}p50 {figures['ask_p50_ms']} ms, p95 {figures['ask_p95_ms']} ms, "
            f"floor {figures['floor_p50_ms']} ms, ratio {figures['ask_overhead_ratio']}"
        )
    if result.get("encoders"):
        from eval.bench.encoders import format_encoders

        lines += format_encoders(result["encoders"])
    inc = result.get("incremental") or {}
    if inc:
        lines.append(
            f"{'incremental':<32}{inc.get('passages')} passages: full {inc.get('full_build_s')} s, "
            f"one doc changed {inc.get('incremental_s')} s, re-embedded {inc.get('reembedded_passages')} passages"
        )
    if result.get("followup"):
        from eval.bench.followup import format_followup

        lines += format_followup(result["followup"])
    if result.get("http"):
        lines += format_http(result["http"])
    if result.get("ingest"):
        from eval.bench.ingest import format_ingest

        lines += format_ingest(result["ingest"])
    if "pages" in result:
        from eval.bench.pages import format_pages

        lines += format_pages(result["pages"])
    records = result.get("records") or {}
    if records:
        lines.append(
            f"{'records load':<32}{records['passages']} passages + {records['sentences']} sentences: "
            f"{records['load_s']} s, {records['rss_mb']} MB resident ({records['file_mb']} MB of files)"
        )
    rows = result.get("scale") or []
    if rows:
        lines += ["", f"{'n':>9} {'index':<9} {'nlist':>6} {'nprobe':>6} {'build_s':>8} {'p50_ms':>7} {'recall@10':>9} {'rss_mb':>7} {'file_mb':>7} {'flat_p50_ms':>11}"]
        for row in rows:
            lines.append(
                f"{row['n']:>9} {row['index']:<9} {row.get('nlist', '-')!s:>6} {row.get('nprobe', '-')!s:>6} {row['build_s']:>8.1f} "
                f"{row['p50_ms']:>7.3f} {row['recall@10']:>9.4f} {row['rss_mb']!s:>7} {row.get('file_mb', '-')!s:>7} "
                f"{row.get('flat_p50_ms', '-')!s:>11}"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- measurements


def bench_build(embedder: Any, work: Path, passages_wanted: int) -> tuple[dict, Path]:
    """Full build, embedder-only encode of the same passages, then one changed document rebuilt incrementally."""
    import qa
    from qa.documents.chunking import chunk_sentences, split_sentences
    from qa.index.local.store import load_store

    paragraphs = squad_paragraphs()
    per_copy = sum(len(chunk_sentences(d, split_sentences(d))) for d in (qa.Document("x", "x", p) for p in paragraphs))
    candidates = shuffled_variants(paragraphs, -(-passages_wanted // per_copy) + 4)
    texts, count = [], 0
    for text in candidates:  # the shortest prefix with enough passages
        if count >= passages_wanted:
            break
        texts.append(text)
        count += len(chunk_sentences(qa.Document("x", "x", text), split_sentences(qa.Document("x", "x", text))))
    docs = [qa.Document(f"p{i:05}.txt", f"Paragraph {i}", text, "<bench>") for i, text in enumerate(texts)]
    path = work / "build"
    start = time.perf_counter()
    report = qa.build_index(docs, path, model=embedder, incremental=False)
    build_s = time.perf_counter() - start
    if report.passages < passages_wanted:
        logger.warning("the build benchmark has %d passages, fewer than the %d wanted", report.passages, passages_wanted)
    store = load_store(path)
    passage_texts = [store.documents[p.doc_id].text[p.start : p.end] for p in store.passages]
    del store
    start = time.perf_counter()
    embedder.encode(passage_texts, batch_size=64)
    encode_s = time.perf_counter() - start
    changed = list(docs)
    victim = changed[len(changed) // 2]
    changed[len(changed) // 2] = qa.Document(victim.doc_id, victim.title, victim.text + " This sentence was added later.", victim.source)
    start = time.perf_counter()
    inc = qa.build_index(changed, path, model=embedder)
    incremental_s = time.perf_counter() - start
    build_rate = report.passages / build_s
    encode_rate = len(passage_texts) / encode_s
    result = {
        "build_documents": len(docs),
        "build_passages": report.passages,
        "build_s": round(build_s, 2),
        "build_passages_per_s": round(build_rate, 2),
        "encode_passages_per_s": round(encode_rate, 2),
        "build_efficiency": round(build_rate / encode_rate, 3),
        "incremental": {
            "passages": inc.passages,
            "full_build_s": round(build_s, 2),
            "incremental_s": round(incremental_s, 2),
            "reembedded_passages": inc.embedded_passages,
            "reused_documents": inc.reused_documents,
        },
    }
    return result, path


class _Recording:
    """Stands in for an ONNX session: runs it and records every input it was given."""

    def __init__(self, session: Any, runs: list[tuple[Any, dict]]) -> None:
        self.session, self.runs = session, runs

    def run(self, names: Any, feeds: dict) -> Any:
        self.runs.append((self.session, {k: np.array(v, copy=True) for k, v in feeds.items()}))
        return self.session.run(names, feeds)


def model_runs(bot: Any, question: str) -> list[tuple[Any, dict]]:
    """Every ONNX run of the reader's models (reader, verifier) that ``bot.ask(question)`` makes, with its inputs."""
    reader = bot.reader
    runs: list[tuple[Any, dict]] = []
    names = ["_session"] + (["_verifier"] if reader.has_verifier else [])
    originals = {n: getattr(reader, n) for n in names}
    try:
        for n in names:
            setattr(reader, n, _Recording(originals[n], runs))
        bot.ask(question)
    finally:
        for n in names:
            setattr(reader, n, originals[n])
    return runs


def bench_ask(embedder: Any, path: Path, questions: Sequence[str], reader: bool = True) -> dict:
    """p50/p95 of ``QA.ask``, and the floor: the same embedder's encode + a bare FAISS search
    (+ with the reader, the reader's bare ONNX run on the very inputs ``ask`` gives it, tokenised beforehand)."""
    import qa
    from qa.index.local.vectors import faiss_threads

    bot = qa.load(path, model=embedder, reader=reader)
    index = bot.store.vectors.index  # the FAISS index itself, no wrapper
    own = bot.embedder
    feeds: dict[str, list[tuple[Any, dict]]] = {}
    if bot.reader is not None:
        for question in questions:
            feeds[question] = model_runs(bot, question)

    def floor(question: str) -> None:
        vector = own.encode([question])
        with faiss_threads(1):
            index.search(np.ascontiguousarray(vector, dtype=np.float32), bot.top_k)
        for session, inputs in feeds.get(question, ()):
            session.run(None, inputs)

    for question in questions[:WARMUP]:
        bot.ask(question)
        floor(question)
    ask_ms: list[float] = []
    floor_ms: list[float] = []
    for _ in range(ASK_ROUNDS):  # interleaved, so that both see the same machine load
        for question in questions:
            start = time.perf_counter()
            bot.ask(question)
            middle = time.perf_counter()
            floor(question)
            ask_ms.append((middle - start) * 1000.0)
            floor_ms.append((time.perf_counter() - middle) * 1000.0)
    ask_p50, floor_p50 = percentile(ask_ms, 50), percentile(floor_ms, 50)
    return {
        "ask_questions": len(questions),
        "ask_p50_ms": round(ask_p50, 2),
        "ask_p95_ms": round(percentile(ask_ms, 95), 2),
        "floor_p50_ms": round(floor_p50, 2),
        "ask_overhead_ratio": round(ask_p50 / floor_p50, 2),
        "embedder_backend": getattr(own, "backend", "custom"),
        "reader": None if bot.reader is None else {"read_depth": bot.read_depth, "quantized": bool(
            json.loads((bot.reader.folder / "reader.json").read_text()).get("quantized"))},
    }


def bench_article(work: Path, default: Any) -> tuple[dict, Path]:
    """``ask()`` latency on the bundled article, for the default embedder and for each other ONNX backend the engine ships.

    Returns:
        The default backend's figures (plus ``"backends"``: every backend's), and its article index folder.
    """
    import qa
    from qa.documents.ingest import default_documents
    from qa.errors import QAError
    from qa.index.embedding import load_embedder

    questions = article_questions()
    result: dict[str, Any] = {"backends": {}}
    default_path = None
    for backend in ARTICLE_BACKENDS:
        if backend == getattr(default, "backend", None):
            embedder = default
        else:
            try:
                embedder = load_embedder(None, backend)
            except (QAError, ValueError) as exc:
                logger.warning("backend %s unavailable: %s", backend, exc)
                continue
        path = work / f"article-{backend}"
        qa.build_index(default_documents(), path, model=embedder)
        figures = bench_ask(embedder, path, questions)
        result["backends"][backend] = figures
        if embedder is default:
            result.update(figures)
            result["no_reader"] = bench_ask(embedder, path, questions, reader=False)
            default_path = path
    if default_path is None:
        path = work / "article-default"
        qa.build_index(default_documents(), path, model=default)
        result.update(bench_ask(default, path, questions))
        default_path = path
    return result, default_path


def run_timed(code: str, timeout: float = 300) -> float:
    """Seconds for a new Python process to run ``code`` and exit (it must exit 0)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=python_env(), capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"cold-start process failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def cold_start_app(path: Path, timeout: float = 300) -> float | None:
    """Seconds from starting ``python app.py --index PATH --port FREE`` until its page is served (None: no app.py).

    Raises:
        eval.bench.serving.ServerError: app.py exited, or did not serve its page within ``timeout`` seconds.
    """
    app = REPO_ROOT / "app.py"
    if not app.is_file():
        return None
    port = free_port()
    command = [sys.executable, str(app), "--index", str(path), "--port", str(port)]
    with serve(command, http_ready(port, "/", timeout=2), name="app.py", env=python_env(), cwd=REPO_ROOT, timeout=timeout,
               stop_timeout=20, poll_s=0.1) as server:
        return server.startup_s


def bench_cold_starts(path: Path, question: str) -> dict:
    first = run_timed(f"import qa; qa.load({str(path)!r}).ask({question!r})")
    imports = run_timed("import sentence_transformers, gradio")
    try:
        app = cold_start_app(path)
    except ServerError as exc:
        logger.warning("cold start of app.py failed: %s", exc)
        app = None
    return {
        "cold_start_first_answer_s": round(first, 2),
        "cold_start_app_s": None if app is None else round(app, 2),
        "cold_start_bare_imports_s": round(imports, 2),
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small build, 60 questions, no 1M scale (under two minutes)")
    parser.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    parser.add_argument("--scales", default=None, help="comma-separated passage counts for the scale test")
    parser.add_argument("--build-passages", type=int, default=None, help="passages of the build benchmark")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "qa-bench-cache"),
                        help="folder caching the real-text vectors of the scale test ('' for none)")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: build, encoders, ask, followup, cold, http, ingest, pages, records, scale")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    from qa.index.embedding import load_embedder

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    scales = [int(s) for s in args.scales.split(",")] if args.scales else list(QUICK_SCALES if args.quick else FULL_SCALES)
    build_passages = args.build_passages or (QUICK_BUILD_PASSAGES if args.quick else BUILD_PASSAGES)
    questions = squad_questions()
    started = time.perf_counter()
    result: dict[str, Any] = {"quick": bool(args.quick), "cpus": os.cpu_count(), "load_average": list(os.getloadavg())}
    embedder = load_embedder()
    result["embedder"] = {"name": embedder.name, "backend": getattr(embedder, "backend", "custom")}
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        index_path = None
        if "build" not in skip:
            logger.info("build benchmark (%d passages wanted)", build_passages)
            build, index_path = bench_build(embedder, work, build_passages)
            result.update(build)
        if "encoders" not in skip and not args.quick:
            from eval.bench.encoders import bench_encoders

            logger.info("build encoders: the default against fp32 ONNX")
            result["encoders"] = bench_encoders(work / "encoders")
        article_path = None
        if "ask" not in skip:
            logger.info("ask latency on the bundled article")
            article, article_path = bench_article(work, embedder)
            result.update(article)
            if index_path is not None:
                logger.info("ask latency on the build benchmark's index")
                large = bench_ask(embedder, index_path, questions[: QUICK_ASK_QUESTIONS if args.quick else ASK_QUESTIONS])
                result["large_index"] = {"passages": result.get("build_passages"), **large}
        if article_path is not None and "followup" not in skip:
            from eval.bench.followup import bench_followup

            logger.info("follow-up latency on the bundled article")
            result["followup"] = bench_followup(article_path, article_questions()[: 20 if args.quick else 74], embedder)
        cold_path = article_path or index_path
        if cold_path is not None and "cold" not in skip:
            logger.info("cold starts")
            result.update(bench_cold_starts(cold_path, article_questions()[0]))
        if article_path is not None and "http" not in skip:
            logger.info("HTTP throughput of qa serve against the engine")
            try:
                result["http"] = bench_http(article_path, article_questions(), QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS)
            except RuntimeError as exc:  # a server that did not start: reported, the other figures still count
                logger.warning("HTTP benchmark failed: %s", exc)
        if "ingest" not in skip:
            from eval.bench.ingest import bench_ingest

            logger.info("ingest throughput of PDF and DOCX files")
            result["ingest"] = bench_ingest(squad_paragraphs(), work, quick=args.quick)
        if "pages" not in skip:
            from eval.bench.pages import bench_pages

            logger.info("page views of a text PDF")
            result["pages"] = bench_pages(squad_paragraphs(), work)
        if "records" not in skip and scales:
            n = max(scales)
            logger.info("records of a %d-passage index", n)
            result["records"] = bench_records(n, work)
        if "scale" not in skip and scales:
            logger.info("real-text vectors for the scale test")
            cache = Path(args.cache) if args.cache else None
            texts = real_texts()
            real = cached_encode(embedder, texts[::2] if args.quick else texts, cache)  # --quick: half of them
            query_vectors = cached_encode(embedder, questions, cache)
            result["scale_real_texts"] = len(real)
            result["scale_queries"] = len(query_vectors)
            result["scale"] = []
            for n in scales:
                logger.info("scale %d", n)
                result["scale"].append(bench_scale(n, real, query_vectors, work, sweep=not args.quick, flat_queries=20 if args.quick else 50))
                print(json.dumps(result["scale"][-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["load_average_end"] = list(os.getloadavg())
    result["total_s"] = round(time.perf_counter() - started, 1)
    print(format_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
