"""Benchmark the Milvus backend against the local FAISS + BM25 index.

Usage (from the repo root; heavy, run it with ``nice -n 10``)::

    python -m eval.bench.milvus [--passages 100000] [--build-paragraphs 600] [--json OUT]

Three parts:

* ``scale``: ``--passages`` passages (default 100,000) made of real text, the SQuAD 1.1
  train paragraphs of ``../shared/data/squad11_train.json.gz`` split in ~100-word pieces and
  repeated with their sentences shuffled until there are enough, with **synthetic vectors**
  made from real embeddings (``eval.bench.scale.synthetic_vectors``: embedding 100k passages
  would take this 2-core machine most of an hour).  Queries are the 626 SQuAD questions of
  ``eval/data/squad2_dev_sample.json``, encoded with the packaged model.  Measured:
  writing the passages (vectors + the stemmed terms Milvus' BM25 function indexes) into
  Milvus Lite with HNSW against building the local FAISS index (``qa.index.local.vectors.make_vector_index``:
  IVF-SQ8 at this size) and the bm25s index; search p50 of single queries (local FAISS
  dense search; Milvus dense ``search`` and the engine's ``hybrid_search``); recall@10 of the
  dense search against exact search (NumPy, all vectors).
* ``build``: ``qa.build_index`` end to end with the packaged model (segment, embed, write)
  on ``--build-paragraphs`` SQuAD 1.1 train paragraphs, into a local folder and into Milvus
  Lite: passages per second, and the embedding's share.
* ``quality``: passage recall@5 (a retrieved passage holds an accepted answer) of the local
  engine and of the Milvus engine on the answerable questions of the SQuAD sample articles,
  and the round trips per question.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

import qa  # noqa: E402
from eval.bench.common import split_sentences_simple, squad, squad_questions  # noqa: E402
from eval.bench.scale import cached_encode, real_texts, synthetic_vectors  # noqa: E402
from qa.documents.lexical import tokenize  # noqa: E402
from qa.index.location import parse_location  # noqa: E402
from qa.index.milvus.build import _create, _cut_bytes, _upsert  # noqa: E402
from qa.index.milvus.client import Connection  # noqa: E402

logger = logging.getLogger("eval.bench.milvus")

SQUAD11 = REPO_ROOT.parent / "shared" / "data" / "squad11_train.json.gz"
CACHE = REPO_ROOT / "eval" / "out" / "cache"
K = 10
SEARCH_QUERIES = 200


def squad11_paragraphs() -> list[str]:
    data = json.loads(gzip.open(SQUAD11, "rt", encoding="utf-8").read())
    return [p["context"] for article in data["data"] for p in article["paragraphs"]]


def passage_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` passages of ~100 words: SQuAD 1.1 train paragraphs in pieces, then shuffled copies."""
    pieces: list[str] = []
    for paragraph in squad11_paragraphs():
        words: list[str] = []
        for sentence in split_sentences_simple(paragraph):
            words.append(sentence)
            if sum(len(s.split()) for s in words) >= 100:
                pieces.append(" ".join(words))
                words = []
        if words:
            pieces.append(" ".join(words))
    rng = random.Random(seed)
    out = list(pieces)
    while len(out) < n:
        for piece in pieces:
            sentences = split_sentences_simple(piece)
            rng.shuffle(sentences)
            out.append(" ".join(sentences))
    return out[:n]


def p50_ms(times: Sequence[float]) -> float:
    return round(float(np.median(times)) * 1000, 2)


def bench_scale(n: int, embedder: object, work: Path) -> dict:
    """Write ``n`` passages into Milvus Lite and into a local FAISS + BM25 index; search p50 and recall@10."""
    from qa.index.local.bm25 import load_bm25
    from qa.index.local.build import _bm25_index
    from qa.index.local.search import search as local_search
    from qa.index.local.vectors import VectorIndex, make_vector_index

    texts = passage_texts(n)
    real = cached_encode(embedder, real_texts(), CACHE)
    vectors = synthetic_vectors(real, n)
    queries = cached_encode(embedder, squad_questions(), CACHE).astype(np.float32)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]
    terms = [_cut_bytes(" ".join(tokenize(t))) for t in texts]
    result: dict = {"passages": n, "vectors": "synthetic from real embeddings (eval.bench.scale.synthetic_vectors)", "texts": "SQuAD 1.1 train"}

    start = time.perf_counter()
    index, info = make_vector_index(vectors)
    faiss_s = time.perf_counter() - start
    start = time.perf_counter()
    retriever = _bm25_index(texts)
    bm25_s = time.perf_counter() - start
    retriever.save(str(work / "bm25"), show_progress=False)  # type: ignore[attr-defined]
    search = VectorIndex(index, info, vectors)
    bm25 = load_bm25(work / "bm25")
    times, hybrid_times, found = [], [], []
    for q, question in zip(queries, squad_questions()):
        t = time.perf_counter()
        _, ids = search.search(q.reshape(1, -1), K)
        times.append(time.perf_counter() - t)
        found.append(ids[0])
        t = time.perf_counter()
        local_search(search, bm25, q, tokenize(question), 5)
        hybrid_times.append(time.perf_counter() - t)
    result["local"] = {
        "index": info["type"], "faiss_build_s": round(faiss_s, 1), "bm25_build_s": round(bm25_s, 1),
        "write_passages_per_s": round(n / (faiss_s + bm25_s)), "dense_p50_ms": p50_ms(times),
        "hybrid_p50_ms": p50_ms(hybrid_times), "recall_at_10": _recall(found, exact),
    }
    logger.info("local: %s", result["local"])

    for dense in ("HNSW", "IVF_SQ8"):
        where = parse_location(str(work / f"scale-{dense.lower()}.db"))
        conn = Connection(where, create=True)
        _create(conn, vectors.shape[1], dense)
        start = time.perf_counter()
        for first in range(0, n, 5000):  # rows as Python lists take ~3 KB each: a block at a time
            rows = [
                {"pk": f"d|v|p{i}", "doc_id": "d", "version": "v", "seq": i, "start": 0, "end": 0, "first_sentence": 0,
                 "last_sentence": 0, "terms": terms[i], "vector": vectors[i].tolist()}
                for i in range(first, min(n, first + 5000))
            ]
            _upsert(conn, "passages", rows)
        insert_s = time.perf_counter() - start
        start = time.perf_counter()
        conn.call("flush", conn.names["passages"])
        conn.call("load_collection", conn.names["passages"])
        flush_s = time.perf_counter() - start
        from pymilvus import AnnSearchRequest, RRFRanker

        params = {"metric_type": "IP", "params": {"ef": 64} if dense == "HNSW" else {"nprobe": 32}}
        dense_times, hybrid_times, found = [], [], []
        for q, question in zip(queries[:SEARCH_QUERIES], squad_questions()[:SEARCH_QUERIES]):
            t = time.perf_counter()
            res = conn.call("search", conn.names["passages"], [q.tolist()], anns_field="vector", limit=K, search_params=params)
            dense_times.append(time.perf_counter() - t)
            found.append([int(r.get("pk", r.get("id")).rsplit("p", 1)[1]) for r in res[0]])  # type: ignore[index]
            text = " ".join(tokenize(question)) or "the"
            requests = [AnnSearchRequest([q.tolist()], "vector", params, limit=50)]
            requests += [AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, limit=50)] * 2
            t = time.perf_counter()
            conn.call("hybrid_search", conn.names["passages"], requests, RRFRanker(60), limit=5, output_fields=[])
            hybrid_times.append(time.perf_counter() - t)
        result[f"milvus_lite_{dense.lower()}"] = {
            "insert_s": round(insert_s, 1), "flush_load_s": round(flush_s, 1),
            "write_passages_per_s": round(n / (insert_s + flush_s)), "dense_p50_ms": p50_ms(dense_times),
            "hybrid_p50_ms": p50_ms(hybrid_times), "recall_at_10": _recall(found, exact[:SEARCH_QUERIES]),
            "round_trips_per_search": 1,
        }
        logger.info("%s: %s", dense, result[f"milvus_lite_{dense.lower()}"])
        conn.call("drop_collection", conn.names["passages"])
        conn.close()
    return result


def _recall(found: Sequence[Sequence[int]], exact: np.ndarray) -> float:
    return round(float(np.mean([len(set(map(int, f)) & set(map(int, e))) / K for f, e in zip(found, exact)])), 4)


def bench_build(paragraphs: int, embedder: object, work: Path) -> dict:
    """``qa.build_index`` end to end into a folder and into Milvus Lite, with the packaged model."""
    texts = squad11_paragraphs()[:paragraphs]
    docs = [qa.Document(f"p{i:05d}.txt", f"Paragraph {i}", t, "<memory>") for i, t in enumerate(texts)]
    out: dict = {"documents": len(docs)}
    sentences = [s for t in texts for s in split_sentences_simple(t)]
    start = time.perf_counter()
    embedder.encode(sentences, batch_size=64)  # type: ignore[attr-defined]
    out["encode_sentences_per_s"] = round(len(sentences) / (time.perf_counter() - start))
    for name, location in (("local", str(work / "build-local")), ("milvus_lite", str(work / "build.db"))):
        start = time.perf_counter()
        report = qa.build_index(docs, location, model=embedder)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
        out[name] = {"passages": report.passages, "seconds": round(seconds, 1), "passages_per_s": round(report.passages / seconds, 1)}
        logger.info("build %s: %s", name, out[name])
    return out


def bench_quality(embedder: object, work: Path) -> dict:
    """Passage recall@5 on the SQuAD sample articles, local against Milvus Lite, and round trips per question."""
    data = squad()["data"]
    docs = [qa.Document(f"a{i}.txt", a["title"], "\n\n".join(p["context"] for p in a["paragraphs"]), "<memory>") for i, a in enumerate(data)]
    items = [(q["question"], [a["text"] for a in q["answers"]]) for a in data for p in a["paragraphs"] for q in p["qas"] if q["answers"]]
    out: dict = {"questions": len(items)}
    for name, location in (("local", str(work / "squad-local")), ("milvus_lite", str(work / "squad.db"))):
        qa.build_index(docs, location, model=embedder)  # type: ignore[arg-type]
        bot = qa.load(location, model=embedder, reader=False)  # type: ignore[arg-type]
        bot.auto_reload = False
        conn = getattr(bot.store, "conn", None)
        before = conn.round_trips if conn is not None else 0
        hits = sum(any(any(a in p.text for a in answers) for p in bot.retrieve(question, top_k=5)) for question, answers in items)
        out[name] = {"recall_at_5": round(hits / len(items), 4)}
        if conn is not None:
            out[name]["round_trips_per_retrieve"] = round((conn.round_trips - before) / len(items), 2)
            start = conn.round_trips
            for question, _ in items[:50]:
                bot.ask(question)
            out[name]["round_trips_per_ask"] = round((conn.round_trips - start) / 50, 2)
    out["recall_gap"] = round(out["milvus_lite"]["recall_at_5"] - out["local"]["recall_at_5"], 4)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000, help="passages of the scale test")
    parser.add_argument("--build-paragraphs", type=int, default=600, help="SQuAD paragraphs of the build test")
    parser.add_argument("--parts", default="quality,build,scale", help="comma-separated: quality, build, scale")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from qa.index.embedding import load_embedder

    embedder = load_embedder()
    result: dict = {"machine": f"{os.cpu_count()} cores", "embedder": getattr(embedder, "backend", "custom")}
    with tempfile.TemporaryDirectory(prefix="bench-milvus-") as tmp:
        work = Path(tmp)
        parts = args.parts.split(",")
        if "quality" in parts:
            result["quality"] = bench_quality(embedder, work)
            logger.info("quality: %s", result["quality"])
        if "build" in parts:
            result["build"] = bench_build(args.build_paragraphs, embedder, work)
        if "scale" in parts:
            result["scale"] = bench_scale(args.passages, embedder, work)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
