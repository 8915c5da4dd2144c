"""Build throughput of the default encoder against ONNX Runtime fp32, same run, alternating; vectors and recall compared.

Usage (from the repo root)::

    python -m eval.bench.encoders [--passages 4000] [--rounds 3] [--no-recall] [--json OUT]
    python -m eval.bench.encoders --encode-only [--rounds 2]     # the encoders alone (sentences/s, cosine)

What is measured (keys of the JSON):

* ``default`` / ``onnx``: ``qa.build_index`` of the same SQuAD-derived corpus (paragraphs repeated with
  their sentences shuffled, as :mod:`eval.bench.run`'s build) with the default build embedder
  (``load_embedder(build=True)``: bf16 with torch where the CPU has bf16 units) and with
  ``backend="onnx"`` (fp32, today's path), A B A B ...: ``passages_per_s`` of each round and
  ``ratio``, the median of the per-pair ratios default / onnx; the same per CPU second of the
  process (all its threads; less moved by other processes than wall time): ``cpu_ratio``.
  ``bf16_load_s``: torch import, model load and the bf16 check, once per process, before the rounds.
* ``phases``: seconds of each part of the last default and onnx build: the sentence encode,
  the word encode, FAISS, BM25, passage pooling, the rest (``other``: segmentation, corpus words, files).
* ``projection_1m_h``: hours to build 1M passages at each median rate.
* ``cosine``: min and mean cosine between the two builds' passage vectors and sentence vectors
  (as stored: passages float32, sentences float16).
* ``recall_at_5``: passage recall@5 (a retrieved passage holds an accepted answer; hybrid retrieval,
  queried with the default fp32 ONNX encoder) on the SQuAD sample articles indexed in fp32 ONNX and in
  bf16 (``backend="bf16"``, forced: the sample is smaller than the default's bf16 threshold).
* ``article``: the bundled article indexed in bf16 (forced) and in fp32, its 74 questions asked of both
  with the fp32 query encoder and the reader: how many answers are the same (text, abstention, phrase).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from typing import Any  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from eval.bench.common import shuffled_variants, squad, squad_paragraphs  # noqa: E402

logger = logging.getLogger("eval.bench.encoders")

PASSAGES = 4_000
ROUNDS = 3


def build_corpus(passages_wanted: int) -> list:
    """Documents of at least ``passages_wanted`` passages: SQuAD paragraphs repeated with their sentences shuffled."""
    import qa
    from qa.documents.chunking import chunk_sentences, split_sentences

    def passages_of(text: str) -> int:
        doc = qa.Document("x", "x", text)
        return len(chunk_sentences(doc, split_sentences(doc)))

    paragraphs = squad_paragraphs()
    copies = -(-passages_wanted // sum(passages_of(p) for p in paragraphs))
    while True:  # short paragraphs have few distinct orders: ask for more copies until there are enough passages
        texts, count = [], 0
        for text in shuffled_variants(paragraphs, copies):
            if count >= passages_wanted:
                break
            texts.append(text)
            count += passages_of(text)
        if count >= passages_wanted or copies > 1000:
            break
        copies *= 2
    return [qa.Document(f"p{i:05}.txt", f"Paragraph {i}", text, "<bench>") for i, text in enumerate(texts)]


class Phases:
    """Seconds spent in the build's parts, by wrapping the functions that do them (restored on exit)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def _wrap(self, owner: Any, attr: str, label: str) -> tuple[Any, str, Any]:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = label(kwargs) if callable(label) else label
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

        setattr(owner, attr, timed)
        return owner, attr, original

    @contextlib.contextmanager
    def watch(self, embedder: Any) -> Iterator[None]:
        import qa.index.local.build as build

        patches = [
            self._wrap(embedder, "encode", lambda kwargs: "encode_words" if kwargs.get("batch_size") == 256 else "encode_sentences"),
            self._wrap(build, "make_vector_index", "faiss"),
            self._wrap(build, "_bm25_index", "bm25"),
            self._wrap(build, "pool_passages", "pool_passages"),
        ]
        try:
            yield
        finally:
            for owner, attr, original in reversed(patches):
                if owner is embedder:
                    delattr(owner, attr)
                else:
                    setattr(owner, attr, original)


def one_build(docs: list, path: Path, embedder: Any) -> tuple[float, float, int, dict]:
    """Wall seconds, process CPU seconds (every thread), passages and the seconds of each part of one full build."""
    import qa

    phases = Phases()
    shutil.rmtree(path, ignore_errors=True)
    with phases.watch(embedder):
        cpu, start = time.process_time(), time.perf_counter()
        report = qa.build_index(docs, path, model=embedder, incremental=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    parts = {k: round(v, 2) for k, v in phases.seconds.items()}
    parts["other"] = round(seconds - sum(phases.seconds.values()), 2)
    return seconds, cpu, report.passages, parts


def article_answers(bf16: Any, fp32: Any, work: Path) -> dict:
    """The article's questions asked of its index built in bf16 and in fp32, both queried with the fp32 encoder."""
    import qa
    from eval.bench.common import article_questions
    from qa.documents.ingest import default_documents

    bots = {}
    for label, embedder in (("bf16", bf16), ("fp32", fp32)):
        qa.build_index(default_documents(), work / f"article-{label}", model=embedder, incremental=False)
        bots[label] = qa.load(work / f"article-{label}", model=fp32)
    questions = article_questions()
    same = 0
    for question in questions:
        a, b = (bots[label].ask(question) for label in ("bf16", "fp32"))
        same += (a.text, a.abstained, a.phrase) == (b.text, b.abstained, b.phrase)
    return {"questions": len(questions), "same_answers": same}


def cosines(a: Path, b: Path, name: str) -> dict:
    x = np.load(a / name).astype(np.float32)
    y = np.load(b / name).astype(np.float32)
    cos = (x * y).sum(axis=1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
    return {"n": int(len(cos)), "min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 7)}


def recall_at_5(embedder: Any, path: Path) -> dict:
    """Passage recall@5 (hybrid) on the SQuAD sample articles indexed with ``embedder``."""
    import qa

    data = squad()["data"]
    docs = [qa.Document(f"a{i}.txt", a["title"], "\n\n".join(p["context"] for p in a["paragraphs"]), "<memory>") for i, a in enumerate(data)]
    items = [(q["question"], [a["text"] for a in q["answers"]]) for a in data for p in a["paragraphs"] for q in p["qas"] if q["answers"]]
    qa.build_index(docs, path, model=embedder, incremental=False)
    bot = qa.load(path, reader=False)  # queried with the default (fp32 ONNX) query encoder
    hits = sum(any(any(a in p.text for a in answers) for p in bot.retrieve(question, top_k=5)) for question, answers in items)
    return {"questions": len(items), "recall_at_5": round(hits / len(items), 4), "query_encoder": getattr(bot.embedder, "backend", "?")}


def bench_encoders(work: Path, passages: int = PASSAGES, rounds: int = ROUNDS, recall: bool = True) -> dict:
    from qa.index.bf16 import native_bf16
    from qa.index.embedding import encoder_of, load_embedder

    work.mkdir(parents=True, exist_ok=True)
    docs = build_corpus(passages)
    default = load_embedder(build=True)
    onnx = load_embedder(backend="onnx")
    out: dict[str, Any] = {
        "cpu_bf16_flag": native_bf16(), "cpus": os.cpu_count(), "documents": len(docs),
        "default_backend": getattr(default, "backend", "?"), "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    ready = getattr(default, "_ready", None)
    if ready is not None:  # torch import, model load and the bf16 check: once per process, timed apart
        start = time.perf_counter()
        ready()
        out["bf16_load_s"] = round(time.perf_counter() - start, 1)
    rates: dict[str, list[float]] = {"default": [], "onnx": []}
    cpu_rates: dict[str, list[float]] = {"default": [], "onnx": []}
    loads: list[float] = []
    for r in range(1, rounds + 1):
        for label, embedder in (("default", default), ("onnx", onnx)):
            seconds, cpu, count, parts = one_build(docs, work / label, embedder)
            logger.info("round %d %s: %d passages in %.1f s (%.1f/s; %.1f CPU s) %s load %.1f",
                        r, label, count, seconds, count / seconds, cpu, parts, os.getloadavg()[0])
            rates[label].append(count / seconds)
            cpu_rates[label].append(count / cpu)
            out["passages"] = count
            out.setdefault("phases", {})[label] = parts
        loads.append(round(os.getloadavg()[0], 2))
    out["encoder"] = {"default": encoder_of(default, 10**9), "onnx": encoder_of(onnx, 10**9)}
    out["rounds"] = rounds
    out["passages_per_s"] = {k: [round(v, 1) for v in vs] for k, vs in rates.items()}
    pairs = [a / b for a, b in zip(rates["default"], rates["onnx"])]
    out["ratios"] = [round(p, 3) for p in pairs]
    out["ratio"] = round(statistics.median(pairs), 3)
    out["passages_per_cpu_s"] = {k: [round(v, 1) for v in vs] for k, vs in cpu_rates.items()}
    out["cpu_ratio"] = round(statistics.median(a / b for a, b in zip(cpu_rates["default"], cpu_rates["onnx"])), 3)
    out["load_average"] = loads
    out["projection_1m_h"] = {k: round(1e6 / statistics.median(vs) / 3600, 2) for k, vs in rates.items()}
    out["cosine"] = {
        "passages": cosines(work / "default", work / "onnx", "passage_vectors.npy"),
        "sentences": cosines(work / "default", work / "onnx", "sentence_vectors.npy"),
    }
    if recall:
        forced = load_embedder(backend="bf16")
        out["recall_at_5"] = {"onnx": recall_at_5(onnx, work / "squad-onnx"), "bf16": recall_at_5(forced, work / "squad-bf16")}
        out["article"] = article_answers(forced, onnx, work)
    return out


def bench_encode_only(count: int = 1200, rounds: int = 2) -> dict:
    """Encoding alone: sentences/s of each encoder on the same build sentences, in turn, and cosine to fp32 ONNX."""
    from qa.documents.chunking import split_sentences
    from qa.index.embedding import SentenceTransformerEmbedder, load_embedder

    docs = build_corpus(count // 2)
    texts = [d.text[s.start : s.end] for d in docs for s in split_sentences(d)][:count]
    bf16 = load_embedder(backend="bf16")
    onnx = bf16.onnx  # the fp32 ONNX embedder (its table is off below, for both)
    encoders = {
        "onnx fp32": onnx.encode, "torch fp32": SentenceTransformerEmbedder(None).encode,
        "torch bf16 autocast (qa)": bf16.encode, "onnx int8 dynamic": load_embedder(backend="onnx-int8").encode,
    }
    with onnx.without_table():  # every text through the model
        reference = onnx.encode(texts)
        bf16.encode(texts[:64])  # loads and checks the bf16 model
        rates: dict[str, list[float]] = {name: [] for name in encoders}
        cosine: dict[str, dict] = {}
        for _ in range(rounds):
            for name, encode in encoders.items():
                start = time.perf_counter()
                vectors = encode(texts)
                rates[name].append(len(texts) / (time.perf_counter() - start))
                cos = (vectors * reference).sum(axis=1)
                cosine[name] = {"min": round(float(cos.min()), 5), "mean": round(float(cos.mean()), 6)}
    base = rates["onnx fp32"]
    return {
        "texts": len(texts), "load_average": [round(x, 2) for x in os.getloadavg()],
        "encoders": {
            name: {"texts_per_s": [round(r, 1) for r in rs], "vs_onnx": round(statistics.median(a / b for a, b in zip(rs, base)), 2), "cosine": cosine[name]}
            for name, rs in rates.items()
        },
    }


def format_encode_only(result: dict) -> list[str]:
    lines = [f"encoding alone, {result['texts']} build sentences (load average at the end {result['load_average']})"]
    for name, row in result["encoders"].items():
        lines.append(f"  {name:<26} texts/s {row['texts_per_s']}  x onnx fp32 {row['vs_onnx']}  cosine {row['cosine']}")
    return lines


def format_encoders(result: dict) -> list[str]:
    lines = [
        f"build encoders (CPU bf16 flag: {result['cpu_bf16_flag']}; default backend {result['default_backend']}; "
        f"{result.get('passages')} passages, {result['rounds']} alternating rounds; load average {result['load_average']})",
        f"  passages/s default {result['passages_per_s']['default']}  onnx fp32 {result['passages_per_s']['onnx']}",
        f"  RATIO default/onnx (median of pairs) {result['ratio']}  pairs {result['ratios']}",
        f"  per CPU second: default {result['passages_per_cpu_s']['default']}  onnx {result['passages_per_cpu_s']['onnx']}  ratio {result['cpu_ratio']}",
        f"  1M passages projected: default {result['projection_1m_h']['default']} h, onnx fp32 {result['projection_1m_h']['onnx']} h",
        f"  cosine default vs onnx: passages {result['cosine']['passages']}  sentences {result['cosine']['sentences']}",
        f"  phases (s) default {result['phases']['default']}",
        f"  phases (s) onnx    {result['phases']['onnx']}",
        f"  bf16 model load and check, once per process (s) {result.get('bf16_load_s')}",
    ]
    if result.get("recall_at_5"):
        r = result["recall_at_5"]
        lines.append(f"  SQuAD passage recall@5: onnx fp32 {r['onnx']['recall_at_5']:.3f}  bf16 {r['bf16']['recall_at_5']:.3f} ({r['onnx']['questions']} questions)")
        article = result["article"]
        lines.append(f"  article: {article['same_answers']} of {article['questions']} answers the same, bf16 index vs fp32 index (fp32 query encoder)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=PASSAGES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-recall", action="store_true")
    parser.add_argument("--encode-only", action="store_true", help="the encoders alone on 1,200 sentences instead of builds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    logging.getLogger("qa.index.embedding").setLevel(logging.INFO)
    logging.getLogger("qa.index.bf16").setLevel(logging.INFO)
    if args.encode_only:
        result = bench_encode_only(rounds=args.rounds)
        print("\n".join(format_encode_only(result)))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    work = Path(tempfile.mkdtemp(prefix="qa-bench-encoders-"))
    try:
        result = bench_encoders(work, args.passages, args.rounds, recall=not args.no_recall)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(format_encoders(result)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
