"""Index scale and memory: synthetic passage vectors from real embeddings, vector search at 10k–1M passages,
and the resident memory of new processes that load an index or its records (``eval/bench/run.py``'s ``scale``
and ``records`` sections; see its docstring for what is measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import gc  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from eval.bench.common import WARMUP, percentile, python_env, split_sentences_simple, squad_paragraphs  # noqa: E402
from qa.onnx.session import normalize  # noqa: E402
from qa.index.local.vectors import recall_at_k  # noqa: E402

logger = logging.getLogger("eval.bench.run")


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
    from qa.documents.ingest import default_documents

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
from qa.index.local.store import VectorIndex, VectorRows
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
        [sys.executable, "-c", script, *map(str, args)], cwd=REPO_ROOT, env=python_env(), capture_output=True, text=True, timeout=timeout,
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

from qa.index.records import PassageRecord, parse_records
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

    The files are written as a build writes them (:func:`qa.index.records.record_lines`), for
    documents of ``per_doc`` passages of ``sentences_per_passage`` sentences, one shared
    with the next passage (the default overlap).
    """
    from qa.index.records import PASSAGE_FIELDS, SENTENCE_FIELDS, PassageRecord, record_lines
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

    from qa.index.local.vectors import NPROBE_CHOICES, VectorIndex, VectorRows, faiss_threads, make_vector_index

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
