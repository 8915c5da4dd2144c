"""Benchmark the engine: answer latency, build throughput, cold starts, incremental builds, index scale.

Usage (from the repo root)::

    python eval/bench.py [--quick] [--json OUT] [--scales 10000,100000,1000000]

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
  ``qa.store.make_vector_index`` chose, its build seconds (training and nprobe
  calibration included), the p50 of single-query searches on one thread (k=10,
  through ``qa.store.VectorIndex`` as the engine searches, re-ranking included),
  ``recall@10`` against exact search (``IndexFlatIP`` ground truth computed in a
  batch) on held-out real questions, and ``rss_mb``: the resident-memory growth of
  a new process that loads the index file, memory-maps the float32 vectors and
  runs 200 searches (FAISS index + the re-ranking pages touched; ``file_mb`` is
  the size of ``index.faiss``).
* ``http``: answers/s and p50/p95 through ``qa serve``'s ``POST /v1/ask`` at 1 and 2 workers against
  the engine's own answers/s in this process (see ``eval/bench_http.py``).
* ``ingest``: reading PDF (``pages_per_s``) and Word files (``documents_per_s``,
  ``paragraphs_per_s``) made by real tools (see ``eval/bench_ingest.py``).

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

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402

from qa.embedding import normalize  # noqa: E402
from qa.store import recall_at_k  # noqa: E402  (re-exported for tests and callers)

logger = logging.getLogger("eval.bench")

SQUAD = REPO_ROOT / "eval" / "data" / "squad2_dev_sample.json"
ARTICLE_QUESTIONS = REPO_ROOT / "eval" / "qa_article.jsonl"
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
WARMUP = 10
LATENCY_QUERIES = 200
K = 10
NOISE_NORM = 0.5
NEAR_SHARE = 0.7
NEAR_NEIGHBOURS = 20
DOC_MODULES = (
    "os", "re", "json", "collections", "itertools", "functools", "pathlib", "subprocess", "threading", "asyncio",
    "email.message", "http.client", "urllib.request", "urllib.parse", "xml.etree.ElementTree", "logging", "argparse",
    "datetime", "decimal", "fractions", "statistics", "random", "string", "textwrap", "unittest", "typing", "inspect",
    "shutil", "tarfile", "zipfile", "csv", "sqlite3", "socket", "ssl", "hashlib", "base64", "copy", "heapq", "bisect",
    "calendar", "difflib", "locale", "gettext", "io", "math", "cmath", "operator", "contextlib", "dataclasses", "enum",
    "pprint", "tempfile", "glob", "fnmatch", "gzip", "bz2", "lzma", "configparser", "smtplib", "imaplib", "ftplib",
    "mailbox", "html.parser", "wave", "colorsys", "uuid", "secrets", "hmac", "struct", "codecs", "unicodedata", "pdb",
    "timeit", "trace", "tracemalloc", "gc", "weakref", "abc", "numbers", "queue", "sched", "selectors", "signal", "mmap",
    "shlex", "getpass", "platform", "sysconfig", "zipimport", "pkgutil", "ast", "dis", "tokenize", "keyword", "doctest",
)
"""Standard-library modules whose docstrings add real sentences on other topics than SQuAD's."""


# --------------------------------------------------------------------------- pure helpers


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation) of the values; None when there are none."""
    if not len(values):
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def timed(fn: Callable[[], Any], repeats: int, warmup: int = WARMUP) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def synthetic_vectors(
    real: np.ndarray,
    n: int,
    seed: int = 0,
    noise_norm: float = NOISE_NORM,
    near_share: float = NEAR_SHARE,
    near: int = NEAR_NEIGHBOURS,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """``n`` unit vectors made from real ones: ``normalize(a * e_i + b * e_j + noise)``.

    ``e_i`` is a random row of ``real``; ``e_j`` is, with probability
    ``near_share``, one of its ``near`` nearest rows, else any row;
    ``a ~ U(0.6, 1)``, ``b ~ U(0, 0.5)``; the Gaussian noise has expected norm
    ``noise_norm``.  Deterministic for a given seed.
    """
    real = normalize(np.array(real, dtype=np.float32))
    count, dim = real.shape
    sims = real @ real.T
    np.fill_diagonal(sims, -np.inf)
    near = max(1, min(near, count - 1))
    neighbours = np.argsort(-sims, axis=1, kind="stable")[:, :near] if count > 1 else np.zeros((1, 1), dtype=np.int64)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    sigma = noise_norm / np.sqrt(dim)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        i = rng.integers(0, count, m)
        j = np.where(rng.random(m) < near_share, neighbours[i, rng.integers(0, neighbours.shape[1], m)], rng.integers(0, count, m))
        a = rng.uniform(0.6, 1.0, m).astype(np.float32)[:, None]
        b = rng.uniform(0.0, 0.5, m).astype(np.float32)[:, None]
        block = a * real[i] + b * real[j] + sigma * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = normalize(block)
    return out


def split_sentences_simple(text: str) -> list[str]:
    """Sentences of a paragraph, split after ``.``, ``!`` or ``?`` followed by white space."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def shuffled_variants(paragraphs: Sequence[str], copies: int, seed: int = 0) -> list[str]:
    """Up to ``copies`` distinct versions of every paragraph: the original, then its sentences in seeded random orders.

    A paragraph with too few sentences for another distinct order gets fewer versions.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, None] = {}
    for copy in range(copies):
        for paragraph in paragraphs:
            sentences = split_sentences_simple(paragraph)
            for _ in range(10 if copy else 1):
                order = rng.permutation(len(sentences)) if copy else range(len(sentences))
                text = " ".join(sentences[i] for i in order)
                if text not in out:
                    out[text] = None
                    break
    return list(out)


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
    inc = result.get("incremental") or {}
    if inc:
        lines.append(
            f"{'incremental':<32}{inc.get('passages')} passages: full {inc.get('full_build_s')} s, "
            f"one doc changed {inc.get('incremental_s')} s, re-embedded {inc.get('reembedded_passages')} passages"
        )
    if result.get("http"):
        from eval.bench_http import format_http

        lines += format_http(result["http"])
    if result.get("ingest"):
        from eval.bench_ingest import format_ingest

        lines += format_ingest(result["ingest"])
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- data


def squad() -> dict:
    return json.loads(SQUAD.read_text(encoding="utf-8"))


def squad_paragraphs() -> list[str]:
    return [p["context"] for article in squad()["data"] for p in article["paragraphs"]]


def squad_questions() -> list[str]:
    return [q["question"] for article in squad()["data"] for p in article["paragraphs"] for q in p["qas"]]


def docstring_sentences(limit: int = 1500) -> list[str]:
    """First-paragraph sentences (6 to 60 words) of standard-library docstrings, a seeded sample."""
    seen: dict[str, None] = {}
    for name in DOC_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this Python lacks
            continue
        for obj in [module] + [getattr(module, a, None) for a in sorted(dir(module)) if not a.startswith("_")]:
            if obj is None or (obj is not module and getattr(obj, "__module__", name) not in (name, None)):
                continue
            doc = inspect.getdoc(obj)
            if not doc:
                continue
            for sentence in split_sentences_simple(" ".join(doc.split("\n\n")[0].split())):
                words = sentence.split()
                if 6 <= len(words) <= 60 and sum(c.isalpha() for c in sentence) > 0.7 * len(sentence):
                    seen.setdefault(sentence, None)
    texts = list(seen)
    keep = np.sort(np.random.default_rng(0).permutation(len(texts))[:limit])
    return [texts[i] for i in keep]


def real_texts() -> list[str]:
    """About 2,500 distinct real texts (see the module docstring)."""
    from qa.ingest import default_documents

    sentences = []
    paragraphs = squad_paragraphs()
    for paragraph in paragraphs:
        sentences += split_sentences_simple(paragraph)
    for doc in default_documents():
        for line in doc.text.splitlines():
            sentences += split_sentences_simple(line)
    pairs = [a + " " + b for a, b in zip(sentences, sentences[1:])]
    clauses = [c.strip() for s in sentences for c in re.split(r"[,;:]", s) if len(c.split()) >= 4]
    return list(dict.fromkeys(paragraphs + sentences + pairs + clauses + docstring_sentences()))


def cached_encode(embedder: Any, texts: Sequence[str], cache: Path | None) -> np.ndarray:
    """``embedder.encode(texts)``, kept in ``cache`` (keyed by model and texts) when a folder is given."""
    key = hashlib.sha256(("\x00".join([embedder.name, *texts])).encode()).hexdigest()[:16]
    path = cache / f"vectors-{key}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    vectors = np.asarray(embedder.encode(list(texts), batch_size=64), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors


# --------------------------------------------------------------------------- measurements


def bench_build(embedder: Any, work: Path, passages_wanted: int) -> tuple[dict, Path]:
    """Full build, embedder-only encode of the same passages, then one changed document rebuilt incrementally."""
    import qa
    from qa.store import load_store

    from qa.chunking import chunk_sentences, split_sentences

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
    from qa.store import faiss_threads

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


def article_questions() -> list[str]:
    """The questions of ``eval/qa_article.jsonl`` (answerable and not)."""
    lines = ARTICLE_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def bench_article(work: Path, default: Any) -> tuple[dict, Path]:
    """``ask()`` latency on the bundled article, for the default embedder and for each other ONNX backend the engine ships.

    Returns:
        The default backend's figures (plus ``"backends"``: every backend's), and its article index folder.
    """
    import qa
    from qa.embedding import load_embedder
    from qa.errors import QAError
    from qa.ingest import default_documents

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


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(REPO_ROOT))
    return env


def run_timed(code: str, timeout: float = 300) -> float:
    """Seconds for a new Python process to run ``code`` and exit (it must exit 0)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=_python_env(), capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"cold-start process failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def cold_start_app(path: Path, timeout: float = 300) -> float | None:
    """Seconds from starting ``python app.py --index PATH --port FREE`` until its page is served (None: no app.py)."""
    app = REPO_ROOT / "app.py"
    if not app.is_file():
        return None
    port = free_port()
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, str(app), "--index", str(path), "--port", str(port)],
        cwd=REPO_ROOT, env=_python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        while time.perf_counter() - start < timeout:
            if child.poll() is not None:
                raise RuntimeError(f"app.py exited with {child.returncode}: {child.stderr.read()[-2000:] if child.stderr else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"app.py did not serve its page within {timeout} s")
    finally:
        child.terminate()
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def bench_cold_starts(path: Path, question: str) -> dict:
    first = run_timed(f"import qa; qa.load({str(path)!r}).ask({question!r})")
    imports = run_timed("import sentence_transformers, gradio")
    try:
        app = cold_start_app(path)
    except RuntimeError as exc:
        logger.warning("cold start of app.py failed: %s", exc)
        app = None
    return {
        "cold_start_first_answer_s": round(first, 2),
        "cold_start_app_s": None if app is None else round(app, 2),
        "cold_start_bare_imports_s": round(imports, 2),
    }


STATUS_FUNCTION = r"""
def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024.0
    return fields
"""
"""``status()``: resident memory (MiB) of the process running it, total, anonymous and file-backed."""

RSS_SCRIPT = STATUS_FUNCTION + r"""
import json, sys
import numpy as np
import faiss
from qa.store import VectorIndex, VectorRows
from pathlib import Path

index_path, info_path, vectors_path, queries_path = sys.argv[1:5]
queries = np.load(queries_path)
before = status()
index = VectorIndex(faiss.read_index(index_path), json.load(open(info_path)), VectorRows(Path(vectors_path)))
for q in queries:
    index.search(q[None], 10)
after = status()
print(json.dumps({k: round(after[k] - before[k], 1) for k in after}))
"""


def run_script(script: str, args: Sequence[object], what: str, timeout: float) -> dict:
    """Run a Python script in a new process (repo root, offline environment); its last output line is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], cwd=REPO_ROOT, env=_python_env(), capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_rss(index_path: Path, info: dict, vectors_path: Path, queries: np.ndarray, work: Path) -> dict:
    """Resident-memory growth (MiB) of a new process loading the index and running the queries."""
    info_path = work / "info.json"
    info_path.write_text(json.dumps(info))
    queries_path = work / "rss_queries.npy"
    np.save(queries_path, queries)
    return run_script(RSS_SCRIPT, [index_path, info_path, vectors_path, queries_path], "memory measurement", timeout=600)


RECORDS_SCRIPT = STATUS_FUNCTION + r"""
import json, sys, time
from pathlib import Path

from qa.records import PassageRecord, parse_records
from qa.types import Sentence
folder = Path(sys.argv[1])
before = status()["VmRSS"]
start = time.perf_counter()
passages = parse_records(PassageRecord, (folder / "passages.jsonl").read_bytes())
sentences = parse_records(Sentence, (folder / "sentences.jsonl").read_bytes())
seconds = time.perf_counter() - start
assert passages[len(passages) // 2].doc_id and sentences[-1].end > 0
print(json.dumps({"load_s": round(seconds, 2), "rss_mb": round(status()["VmRSS"] - before, 1), "passages": len(passages), "sentences": len(sentences)}))
"""


def bench_records(n: int, work: Path, per_doc: int = 8, sentences_per_passage: int = 4) -> dict:
    """Load time and resident memory of the passage and sentence records of an ``n``-passage index (new process).

    The files are written as a build writes them (:func:`qa.records.record_lines`), for
    documents of ``per_doc`` passages of ``sentences_per_passage`` sentences, one shared
    with the next passage (the default overlap).
    """
    from qa.records import PASSAGE_FIELDS, SENTENCE_FIELDS, PassageRecord, record_lines
    from qa.types import Sentence

    folder = work / f"records-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    step = sentences_per_passage - 1
    with (folder / "passages.jsonl").open("w", encoding="utf-8") as p_out, (folder / "sentences.jsonl").open("w", encoding="utf-8") as s_out:
        s_base = 0
        for d in range(-(-n // per_doc)):
            doc_id = f"archive/{d:07}.html"
            count = min(per_doc, n - d * per_doc)
            n_sent = count * step + 1
            sentences = [Sentence(doc_id, i * 130, i * 130 + 128) for i in range(n_sent)]
            passages = [
                PassageRecord(doc_id, sentences[i * step].start, sentences[i * step + step].end, s_base + i * step, s_base + i * step + step + 1)
                for i in range(count)
            ]
            for line in record_lines(passages, PASSAGE_FIELDS):
                p_out.write(json.dumps(line) + "\n")
            for line in record_lines(sentences, SENTENCE_FIELDS):
                s_out.write(json.dumps(line) + "\n")
            s_base += n_sent
    result = run_script(RECORDS_SCRIPT, [folder], "records measurement", timeout=900)
    result["file_mb"] = round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 1)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def bench_scale(n: int, real: np.ndarray, queries: np.ndarray, work: Path, sweep: bool = True, flat_queries: int = 50) -> dict:
    """Build the index ``make_vector_index`` chooses for ``n`` synthetic vectors; time, recall and memory."""
    import faiss

    from qa.store import NPROBE_CHOICES, VectorIndex, VectorRows, faiss_threads, make_vector_index

    start = time.perf_counter()
    vectors = synthetic_vectors(real, n, seed=n)
    gen_s = time.perf_counter() - start
    vectors_path = work / f"vectors-{n}.npy"
    np.save(vectors_path, vectors, allow_pickle=False)
    start = time.perf_counter()
    _, truth = faiss.knn(queries, vectors, K, metric=faiss.METRIC_INNER_PRODUCT)
    truth_s = time.perf_counter() - start
    start = time.perf_counter()
    index, info = make_vector_index(vectors)
    build_s = time.perf_counter() - start
    index_path = work / f"index-{n}.faiss"
    faiss.write_index(index, str(index_path))
    mapped = VectorRows(vectors_path)  # as the engine reads them
    searcher = VectorIndex(index, info, mapped)
    latency_queries = queries[:LATENCY_QUERIES]

    def p50(search_index: Any, qs: np.ndarray) -> float:
        times = []
        for q in qs[: 5 * WARMUP]:
            search_index.search(q[None], K)
        for q in qs:
            start = time.perf_counter()
            search_index.search(q[None], K)
            times.append((time.perf_counter() - start) * 1000.0)
        return float(percentile(times, 50))

    row: dict[str, Any] = {"n": n, "index": info["type"], "index_info": info}
    if info["type"] != "flat":
        row.update(nlist=info["nlist"], nprobe=info["nprobe"], calibration_recall=info["calibration"]["recall"])
        plain = VectorIndex(index, {**info, "refine": 0})
        row["recall@10_without_rerank"] = round(recall_at_k(plain.search(queries, K)[1], truth, K), 4)
        if sweep:
            row["sweep"] = []
            for nprobe in NPROBE_CHOICES[:5]:
                probe = VectorIndex(index, {**info, "nprobe": nprobe}, mapped)
                row["sweep"].append(
                    {"nprobe": nprobe, "recall@10": round(recall_at_k(probe.search(queries, K)[1], truth, K), 4),
                     "p50_ms": round(p50(probe, latency_queries), 3)}
                )
            index.nprobe = info["nprobe"]
    row.update(
        p50_ms=round(p50(searcher, latency_queries), 3),  # after the sweep: caches as warm as for the sweep
        **{"recall@10": round(recall_at_k(searcher.search(queries, K)[1], truth, K), 4)},
        build_s=round(build_s, 1),
    )
    if info["type"] != "flat":
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        with faiss_threads(1):
            row["flat_p50_ms"] = round(p50(flat, latency_queries[:flat_queries]), 2)
        del flat
    else:
        row["flat_p50_ms"] = row["p50_ms"]
    del searcher, index, mapped
    memory = measure_rss(index_path, info, vectors_path, latency_queries, work)
    row["rss_mb"] = round(memory.get("VmRSS", 0.0), 1)
    row["rss_anon_mb"] = round(memory.get("RssAnon", 0.0), 1)
    row["rss_file_mb"] = round(memory.get("RssFile", 0.0), 1)
    row["file_mb"] = round(index_path.stat().st_size / 2**20, 1)
    row["vectors_generate_s"] = round(gen_s, 1)
    row["ground_truth_s"] = round(truth_s, 1)
    del vectors
    gc.collect()
    for path in (vectors_path, index_path):
        path.unlink(missing_ok=True)
    return row


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small build, 60 questions, no 1M scale (under two minutes)")
    parser.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    parser.add_argument("--scales", default=None, help="comma-separated passage counts for the scale test")
    parser.add_argument("--build-passages", type=int, default=None, help="passages of the build benchmark")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "qa-bench-cache"),
                        help="folder caching the real-text vectors of the scale test ('' for none)")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: build, ask, cold, http, ingest, records, scale")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    from qa.embedding import load_embedder

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
        article_path = None
        if "ask" not in skip:
            logger.info("ask latency on the bundled article")
            article, article_path = bench_article(work, embedder)
            result.update(article)
            if index_path is not None:
                logger.info("ask latency on the build benchmark's index")
                large = bench_ask(embedder, index_path, questions[: QUICK_ASK_QUESTIONS if args.quick else ASK_QUESTIONS])
                result["large_index"] = {"passages": result.get("build_passages"), **large}
        cold_path = article_path or index_path
        if cold_path is not None and "cold" not in skip:
            logger.info("cold starts")
            result.update(bench_cold_starts(cold_path, article_questions()[0]))
        if article_path is not None and "http" not in skip:
            from eval.bench_http import DEFAULT_REQUESTS, QUICK_REQUESTS, bench_http

            logger.info("HTTP throughput of qa serve against the engine")
            try:
                result["http"] = bench_http(article_path, article_questions(), QUICK_REQUESTS if args.quick else DEFAULT_REQUESTS)
            except RuntimeError as exc:  # a server that did not start: reported, the other figures still count
                logger.warning("HTTP benchmark failed: %s", exc)
        if "ingest" not in skip:
            from eval.bench_ingest import bench_ingest

            logger.info("ingest throughput of PDF and DOCX files")
            result["ingest"] = bench_ingest(squad_paragraphs(), work, quick=args.quick)
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
