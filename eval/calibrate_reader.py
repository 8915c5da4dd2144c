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
accepted answer).  A logistic regression of the label on the reader's
scores, alone or stacked with the sentence scorer's signals (:data:`qa.extract.FEATURES`;
each set weighing the same), gives the calibration; the threshold maximises the
mean decision accuracy of the sets (a right answer, or an abstention on an
unanswerable question).  The depth and the feature set are those of the best
5-fold cross-validated decision accuracy, a deeper read or more features only
when they gain more than ``DEPTH_GAIN`` (each passage read costs ~10-15 ms).  The result is written into the reader folder's
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
MAX_DEPTH = 1
"""The deepest read the choice may take: ``eval/bench.py`` measured ``ask()`` on the bundled article at
p50 18 ms reading one passage and 39-47 ms reading two, against a budget of 30 ms."""


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
    parser.add_argument("--save", type=Path, default=ROOT / "eval" / "out" / "reader-calibration-features.json",
                        help="write the collected features here")
    parser.add_argument("--reuse", type=Path, default=None, help="fit on features saved by an earlier run (no reading)")
    parser.add_argument("--max-depth", type=int, default=MAX_DEPTH, choices=DEPTHS,
                        help="deepest read to choose (every depth is still cross-validated and reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config_path = args.reader / "reader.json"
    config = json.loads(config_path.read_text())
    if args.reuse:
        saved = json.loads(args.reuse.read_text())
        return finish(args, config, config_path, {n: {int(d): rows for d, rows in v.items()} for n, v in saved.items()})
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
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps({n: {str(d): rows for d, rows in v.items()} for n, v in collected.items()}))
    return finish(args, config, config_path, collected)


def fit(sets: list[list[tuple]], columns: list[int]) -> tuple[np.ndarray, float, list[float]]:
    """Logistic calibration on ``columns`` of the features (the others weigh 0), each set weighing the same;
    the threshold of the best mean decision accuracy.  Returns (bias + weights, threshold, accuracy per set)."""
    x = np.array([r[0] for rows in sets for r in rows])[:, columns]
    y = np.array([float(r[2]) for rows in sets for r in rows])
    w = np.concatenate([np.full(len(rows), 1.0 / len(rows)) for rows in sets])
    coef = fit_logistic(x, y, sample_weight=w * len(w) / w.sum())
    full = np.zeros(len(FEATURES) + 1)
    full[0] = coef[0]
    full[[c + 1 for c in columns]] = coef[1:]
    thresholds = np.linspace(0.05, 0.95, 91)
    per_set = np.array([[decision_accuracy(probabilities(full, rows), *labels(rows), t) for t in thresholds] for rows in sets])
    i = int(np.argmax(per_set.mean(axis=0)))
    return full, float(thresholds[i]), [float(a) for a in per_set[:, i]]


def probabilities(coef: np.ndarray, rows: list[tuple]) -> np.ndarray:
    xs = np.array([r[0] for r in rows])
    return 1 / (1 + np.exp(-(coef[0] + xs @ coef[1:])))


def labels(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([bool(r[1]) for r in rows]), np.array([bool(r[2]) for r in rows])


def cross_validated(sets: list[list[tuple]], columns: list[int], folds: int = 5) -> float:
    """Mean decision accuracy of :func:`fit` on held-out folds (every question in one fold, by position)."""
    scores = []
    for k in range(folds):
        train = [[r for i, r in enumerate(rows) if i % folds != k] for rows in sets]
        test = [[r for i, r in enumerate(rows) if i % folds == k] for rows in sets]
        coef, threshold, _ = fit(train, columns)
        scores.append(np.mean([decision_accuracy(probabilities(coef, rows), *labels(rows), threshold) for rows in test]))
    return float(np.mean(scores))


FEATURE_SETS = {"reader": list(range(4)), "reader+sentence": list(range(len(FEATURES)))}
"""Candidate calibrations: the reader's four scores alone, or stacked with the sentence scorer's signals."""
ACROSS_PASSAGES = (FEATURES.index("first_passage"), FEATURES.index("runner_up_gap"))
"""Features that compare the passages read: constant reading one (but for empty reads), so left out at
depth 1, where they would only move the bias and make the calibration wrong for a caller reading deeper."""


def columns_for(name: str, depth: int) -> list[int]:
    return [c for c in FEATURE_SETS[name] if depth > 1 or c not in ACROSS_PASSAGES]


def finish(args: argparse.Namespace, config: dict, config_path: Path, collected: dict) -> int:
    """Choose depth and feature set by 5-fold cross-validated decision accuracy, refit on everything, write."""
    best = None
    scores: dict[str, float] = {}
    for depth in DEPTHS:
        sets = [by_depth[depth] for by_depth in collected.values()]
        for name in FEATURE_SETS:
            score = cross_validated(sets, columns_for(name, depth))
            scores[f"depth {depth}, {name}"] = round(score, 4)
            logger.info("depth %d, %s: cross-validated decision accuracy %.3f", depth, name, score)
            if depth <= args.max_depth and (best is None or score > best[0] + DEPTH_GAIN):  # deeper or richer only for a real gain
                best = (score, depth, name)
    assert best is not None
    score, depth, chosen = best
    coef, threshold, per_set_acc = fit([by_depth[depth] for by_depth in collected.values()], columns_for(chosen, depth))
    config["read_depth"] = depth
    config["calibration"] = {
        "features": list(FEATURES), "weights": [round(float(c), 6) for c in coef[1:]], "bias": round(float(coef[0]), 6),
        "threshold": round(threshold, 4),
        "feature_set": chosen,
        "cross_validated_decision_accuracy": round(score, 4),
        "max_depth": args.max_depth,
        "cross_validated_by_choice": scores,
        "fitted_on": {name: len(next(iter(v.values()))) for name, v in collected.items()},
        "decision_accuracy": dict(zip(collected, [round(a, 4) for a in per_set_acc])),
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    write_card(args.reader, {}, {"calibration_fit": config["calibration"]})
    logger.info("wrote %s: depth %d, %s, threshold %.2f, cross-validated decision accuracy %.3f", config_path, depth, chosen, threshold, score)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
