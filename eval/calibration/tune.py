"""Fit the sentence model and the abstention threshold (qa.answering.sentences.AnswerParams) on the tuning splits.

Usage: ``python -m eval.calibration.tune [--dataset PATH ...] [--fit-on NAME ...]`` (default:
the article set and the SQuAD sample, both used for fitting).

Each question is encoded and retrieved once.  Every candidate sentence (all
sentences of the top-k passages) is labelled by whether it holds an accepted
answer (article set) or covers a gold answer span (SQuAD); a weighted,
L2-regularised logistic regression of that label on the sentence's signals
(``qa.answering.sentences.FEATURES``) is fitted on the ``tune`` split only, each question
weighing the same (positives and negatives balanced within a question).  The
abstention threshold then maximises the share of right decisions on the tune
split: a right answer, or abstaining on an unanswerable question.  The
``heldout`` split is only reported.  Paste the printed parameters into
``AnswerParams``'s defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

import qa  # noqa: E402
import qa.index.embedding  # noqa: E402
import qa.engine  # noqa: E402
import qa.documents.ingest  # noqa: E402
from eval.scoring import metrics, qasets  # noqa: E402
from qa.answering.sentences import DEFAULT_PARAMS, FEATURES, AnswerParams, ScoredSentence, confidence_of, features, make_query, score_sentences, select  # noqa: E402

logger = logging.getLogger("tune")


def load_set(path: Path) -> qasets.EvalSet:
    """Load an evaluation set; the article set is located in the cleaned bundled article."""
    if path.suffix == ".jsonl":
        doc = qa.documents.ingest.default_documents()[0]
        return qasets.load_article_set(path, doc.text, doc.doc_id)
    return qasets.load_squad(path)


def prepare(evalset: qasets.EvalSet, bot: qa.QA, top_k: int) -> list[dict]:
    """Encode and retrieve every question once."""
    rows = []
    for item in evalset.items:
        query = make_query(bot.store, qa.engine.clean_question(item.question), bot.embedder.encode)
        rows.append({"item": item, "query": query, "hits": bot.store.search(query.vector, query.tokens, top_k, "hybrid")})
    return rows


def is_correct(item: qasets.EvalItem, bot: qa.QA, chosen: list) -> bool:
    """An answer is right when its text contains an accepted answer (article) or a cited span covers a gold span (SQuAD)."""
    sentences = [bot.store.sentences[s.sentence] for s in chosen]
    if item.answers and not item.id.startswith("sq"):
        text = " ".join(bot.document(s.doc_id).text[s.start : s.end] for s in sentences)
        if metrics.contains_answer(text, item.answers):
            return True
    return any(
        g[0] == s.doc_id and metrics.span_covers((s.start, s.end), (g[1], g[2])) for s in sentences for g in item.gold_spans
    )


def evaluate(rows: list[dict], bot: qa.QA, params: AnswerParams) -> list[tuple[ScoredSentence, bool, bool]]:
    """Per question: (best sentence, answerable, answer-correct)."""
    out = []
    for row in rows:
        scored = score_sentences(bot.store, row["hits"], row["query"], params)
        correct = row["item"].answerable and is_correct(row["item"], bot, select(scored, params))
        out.append((scored[0], row["item"].answerable, correct))
    return out


def sentence_examples(rows: list[dict], bot: qa.QA) -> tuple[list[list[float]], list[float], list[float]]:
    """Features, labels and weights of every candidate sentence; each question weighs 1 in all."""
    x, y, weight = [], [], []
    for row in rows:
        scored = score_sentences(bot.store, row["hits"], row["query"], DEFAULT_PARAMS)
        labels = [float(row["item"].answerable and is_correct(row["item"], bot, [s])) for s in scored]
        n_pos = sum(labels)
        n_neg = len(labels) - n_pos
        for s, label in zip(scored, labels):
            x.append(features(s))
            y.append(label)
            # positives share half a question's weight, negatives the other half (all of it when none is positive)
            weight.append(0.5 / n_pos if label else (0.5 if n_pos else 1.0) / n_neg)
    return x, y, weight


def auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    p, n = np.array(pos)[:, None], np.array(neg)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


def fit_logistic(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, l2: float = 1e-2, steps: int = 100) -> np.ndarray:
    """Newton's method for weighted, L2-regularised logistic regression; returns [bias, weights...]."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    sw = np.ones(len(x)) if sample_weight is None else sample_weight
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (sw * (p - y)) + l2 * np.r_[0, w[1:]]
        hess = xb.T @ (xb * (sw * p * (1 - p))[:, None]) + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        w -= np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
    return w


def decision_accuracy(results: list, params: AnswerParams) -> float:
    """Share of questions where answering/abstaining is right (and the answer correct)."""
    good = 0
    for best, answerable, correct in results:
        answered = confidence_of(best, params) >= params.threshold
        good += (answered and correct) or (not answered and not answerable)
    return good / len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", action="append", type=Path)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--fit-on", action="append", help="dataset (file stem) whose tune split is fitted on (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    datasets = args.dataset or [ROOT / "eval" / "qa_article.jsonl", ROOT / "eval" / "data" / "squad2_dev_sample.json"]
    embedder = qa.index.embedding.load_embedder()
    prepared = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in datasets:
            evalset = load_set(path)
            docs = [qa.Document(d.doc_id, d.title, d.text, "<eval>") for d in evalset.documents]
            qa.build_index(docs, Path(tmp) / path.stem, model=embedder)
            bot = qa.load(Path(tmp) / path.stem, model=embedder)
            prepared[path.stem] = (bot, prepare(evalset, bot, args.top_k))
    x, y, weight = [], [], []
    for name in args.fit_on or list(prepared):
        bot, rows = prepared[name]
        tune_rows = [r for r in rows if r["item"].split == "tune"]
        fx, fy, fw = sentence_examples(tune_rows, bot)
        x += fx
        y += fy
        weight += [w / len(tune_rows) for w in fw]  # each dataset weighs the same
    w = fit_logistic(np.array(x), np.array(y), sample_weight=np.array(weight) * len(x) / sum(weight))
    params = replace(
        DEFAULT_PARAMS, bias=float(w[0]), a_cosine=float(w[1]), a_coverage=float(w[2]), a_soft=float(w[3]),
        a_min_match=float(w[4]), a_type=float(w[5]),
    )
    results = {name: evaluate(rows, bot, params) for name, (bot, rows) in prepared.items()}
    splits = {name: [r["item"].split for r in rows] for name, (bot, rows) in prepared.items()}
    for name, res in results.items():
        for i, feature in enumerate(FEATURES):
            pos = [features(r[0])[i] for r in res if r[1]]
            neg = [features(r[0])[i] for r in res if not r[1]]
            logger.info("%s: AUC of the best sentence's %s (answerable vs not) %.3f", name, feature, auc(pos, neg))
    thresholds = np.linspace(0.05, 0.9, 35)
    scores = []
    for t in thresholds:
        p = replace(params, threshold=float(t))
        accs = [
            decision_accuracy([r for r, s in zip(results[name], splits[name]) if s == "tune"], p)
            for name in (args.fit_on or list(prepared))
        ]
        scores.append(float(np.mean(accs)))
    params = replace(params, threshold=round(float(thresholds[int(np.argmax(scores))]), 4))
    logger.info("fitted: %s", json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(params).items()}))
    for name, res in results.items():
        for split in ("tune", "heldout"):
            sub = [r for r, s in zip(res, splits[name]) if s == split]
            answerable = [r for r in sub if r[1]]
            logger.info(
                "%s %s: decision accuracy %.3f, answer accuracy %.3f (answerable, ignoring abstention)",
                name, split, decision_accuracy(sub, params), sum(r[2] for r in answerable) / max(len(answerable), 1),
            )


if __name__ == "__main__":
    main()
