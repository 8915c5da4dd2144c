"""Fit the reader's calibration, abstention threshold and reading depth, through the engine.

Usage::

    python eval/calibrate_reader.py [--data ../shared/data] [--reader qa/models/reader]

Fitted on data never trained on and never reported as held-out:

* the calibration articles of ``squad2_dev_tune.json`` (``CALIBRATION_ARTICLES`` in
  ``eval/train_reader.py``), indexed together, open retrieval as ``eval/run.py`` does it;
* the ``tune`` split of ``eval/qa_article.jsonl`` on the bundled article.

For every question and each candidate depth, the engine's retrieval and the
reader run as in :meth:`qa.QA.ask`; the label is "the answer sentence is
right" (it covers a gold answer span; for the article set, it contains an
accepted answer).  A logistic regression of the label on
:data:`qa.extract.FEATURES` (each set weighing the same) gives the calibration;
the threshold maximises the mean decision accuracy of the sets (a right
answer, or an abstention on an unanswerable question); the depth is the
shallowest whose accuracy is within ``DEPTH_GAIN`` of the deeper ones (each
passage read costs ~7-10 ms).  The result is written into the reader folder's
``reader.json`` and its card's hashes are renewed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
import qa.embedding  # noqa: E402
import qa.engine  # noqa: E402
from eval import metrics, qasets  # noqa: E402
from eval.train_reader import CALIBRATION_ARTICLES  # noqa: E402
from eval.tune import fit_logistic  # noqa: E402
from qa.answer import make_query, score_sentences  # noqa: E402
from qa.extract import FEATURES, read_hits  # noqa: E402
from qa.ingest import default_documents  # noqa: E402
from qa.reader import Reader, default_reader_path, write_card  # noqa: E402
from qa.retrieve import retrieve  # noqa: E402

logger = logging.getLogger("calibrate_reader")
DEPTHS = (1, 2, 3, 4, 5)
DEPTH_GAIN = 0.005
"""A deeper read is chosen only when it raises the mean decision accuracy by more than this."""


def calibration_sets(data: Path, work: Path) -> dict[str, qasets.EvalSet]:
    """The SQuAD calibration articles and the article set's tune split."""
    tune = json.loads((data / "squad2_dev_tune.json").read_text(encoding="utf-8"))
    held = {"version": tune.get("version", "v2.0"), "data": [a for a in tune["data"] if a["title"] in CALIBRATION_ARTICLES]}
    path = work / "squad2_calibration.json"
    path.write_text(json.dumps(held), encoding="utf-8")
    doc = default_documents()[0]
    article = qasets.load_article_set(ROOT / "eval" / "qa_article.jsonl", doc.text, doc.doc_id, doc.title)
    article = qasets.EvalSet(article.name, article.documents, tuple(i for i in article.items if i.split == qasets.TUNE))
    return {"squad2_calibration": qasets.load_squad(path), "article_tune": article}


def is_right(item: qasets.EvalItem, bot: qa.QA, sentence: int, text_judge: bool) -> bool:
    """Whether the answer sentence answers the answerable item."""
    if not item.answerable or sentence < 0:
        return False
    s = bot.store.sentences[sentence]
    if text_judge:
        return metrics.contains_answer(bot.document(s.doc_id).text[s.start : s.end], item.answers)
    return any(g[0] == s.doc_id and metrics.span_covers((s.start, s.end), (g[1], g[2])) for g in item.gold_spans)


def collect(bot: qa.QA, evalset: qasets.EvalSet, text_judge: bool, top_k: int) -> dict[int, list[tuple]]:
    """Per depth, per question: (features, answerable, right)."""
    out: dict[int, list[tuple]] = {d: [] for d in DEPTHS}
    for item in evalset.items:
        text = qa.engine.clean_question(item.question)
        query = make_query(bot.store, text, bot.embedder.encode)
        hits = retrieve(bot.store, query.vector, query.tokens, top_k, "hybrid")
        scored = score_sentences(bot.store, hits, query, bot.params)
        for depth in DEPTHS:
            result = read_hits(bot.store, bot.reader, text, hits, scored, depth)
            out[depth].append((result.features, item.answerable, is_right(item, bot, result.sentence, text_judge)))
    return out


def decision_accuracy(p: np.ndarray, answerable: np.ndarray, right: np.ndarray, threshold: float) -> float:
    answered = p >= threshold
    return float(np.mean(np.where(answered, right, ~answerable)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--reader", type=Path, default=default_reader_path())
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="questions per set (a quick check of the script)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config_path = args.reader / "reader.json"
    config = json.loads(config_path.read_text())
    config.pop("calibration", None)  # collect with the raw scores
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    write_card(args.reader, {}, {})
    reader = Reader(args.reader)
    embedder = qa.embedding.load_embedder()
    collected: dict[str, dict[int, list[tuple]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, evalset in calibration_sets(args.data, Path(tmp)).items():
            if args.limit:
                evalset = qasets.EvalSet(evalset.name, evalset.documents, evalset.items[: args.limit])
            docs = [qa.Document(d.doc_id, d.title, d.text, "<eval>") for d in evalset.documents]
            qa.build_index(docs, Path(tmp) / name, model=embedder)
            bot = qa.engine.QA(qa.engine.load_store(Path(tmp) / name, None), embedder, reader=reader)
            collected[name] = collect(bot, evalset, name == "article_tune", args.top_k)
            logger.info("%s: %d questions read", name, len(evalset.items))
    best = None
    for depth in DEPTHS:
        x, y, w, sets = [], [], [], []
        for name, by_depth in collected.items():
            rows = by_depth[depth]
            x += [r[0] for r in rows]
            y += [float(r[2]) for r in rows]
            w += [1.0 / len(rows)] * len(rows)
            sets.append(rows)
        weights = np.array(w) * len(w) / sum(w)
        coef = fit_logistic(np.array(x), np.array(y), sample_weight=weights)
        thresholds = np.linspace(0.05, 0.95, 91)
        per_set = []
        for rows in sets:
            xs = np.array([r[0] for r in rows])
            p = 1 / (1 + np.exp(-(coef[0] + xs @ coef[1:])))
            answerable = np.array([r[1] for r in rows])
            right = np.array([r[2] for r in rows])
            per_set.append([decision_accuracy(p, answerable, right, t) for t in thresholds])
        mean = np.mean(per_set, axis=0)
        i = int(np.argmax(mean))
        logger.info("depth %d: decision accuracy %s at threshold %.2f (mean %.3f)", depth,
                    [round(float(s[i]), 3) for s in per_set], thresholds[i], mean[i])
        if best is None or mean[i] > best[0] + DEPTH_GAIN:  # a deeper read costs latency: only for a real gain
            best = (float(mean[i]), depth, coef, float(thresholds[i]), [float(s[i]) for s in per_set])
    assert best is not None
    score, depth, coef, threshold, per_set_acc = best
    config["read_depth"] = depth
    config["calibration"] = {
        "features": list(FEATURES), "weights": [round(float(c), 6) for c in coef[1:]], "bias": round(float(coef[0]), 6),
        "threshold": round(threshold, 4),
        "fitted_on": {name: len(next(iter(v.values()))) for name, v in collected.items()},
        "decision_accuracy": dict(zip(collected, [round(a, 4) for a in per_set_acc])),
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    write_card(args.reader, {}, {"calibration_fit": config["calibration"]})
    logger.info("wrote %s: depth %d, threshold %.2f, mean decision accuracy %.3f", config_path, depth, threshold, score)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
