"""Fit the answer decision (:mod:`qa.answering.decision`): the choice of sentence, the confidence, the threshold, the depth.

Usage::

    python -m eval.calibration.calibrate_reader [--data ../shared/data] [--reader qa/models/reader]

Fitted on data neither the reader nor the sentence scorer was trained on, and never reported as held-out:

* the calibration articles of ``squad2_dev_tune.json`` (``CALIBRATION_ARTICLES`` in
  ``eval/training/train_reader.py``), indexed together, open retrieval as ``eval/scoring/run.py`` does it;
* the ``tune`` split of ``eval/qa_article.jsonl`` on the bundled article.

For every question, :mod:`eval.calibration.decision_data` records the answer options at each
reading depth through the engine's own code.  Per depth:

1. the choice model (a logistic regression of "this option is right" on
   :data:`qa.answering.decision.OPTION_FEATURES`, over the answerable questions, each set weighing the same);
2. the answer model (a logistic regression of "the chosen option is right" on
   :data:`qa.answering.decision.DECISION_FEATURES`, over all questions);
3. the threshold: **answers first** — on every set, the answerable questions answered right
   must stay at least ``FLOOR_MARGIN`` above what ``reader=False`` answers right, and declining may
   cost at most ``MAX_ANSWER_LOSS`` of them against never declining; among the
   thresholds that keep that, the one of the best mean utility for a mix of mostly answerable
   questions (``ANSWERABLE_SHARE`` answerable: utility = share x answerable right + (1 - share) x
   unanswerable declined).

The depth: up to ``--max-depth`` (each passage read costs ~10 ms), a deeper read only when its
5-fold cross-validated utility gains more than ``DEPTH_GAIN`` and more than twice the standard
error of the per-fold gains (the folds' noise).
The result is written into the reader folder's ``reader.json`` (``"decision"``) and its card.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
import qa.index.embedding  # noqa: E402
from eval.scoring import qasets  # noqa: E402
from eval.calibration.decision_data import DEPTHS, collect  # noqa: E402
from eval.training.train_reader import CALIBRATION_ARTICLES, auc  # noqa: E402
from eval.calibration.tune import fit_logistic  # noqa: E402
from qa.answering.decision import DECISION_FEATURES, OPTION_FEATURES, DecisionModel, Linear, decision_vector  # noqa: E402
from qa.answering.sentences import DEFAULT_PARAMS  # noqa: E402
from qa.documents.ingest import default_documents  # noqa: E402
from qa.answering.reader import default_reader_path, write_card  # noqa: E402

logger = logging.getLogger("calibrate_reader")
DEPTH_GAIN = 0.005
"""A deeper read is chosen only when it raises the cross-validated utility by more than this (and than the folds' noise)."""
MAX_DEPTH = 2
"""The deepest read the choice may take (``eval/bench/run.py``: each passage read costs ~10 ms on 2 cores)."""
FLOOR_MARGIN = 0.0
"""On every set, answerable questions answered right must stay this far above ``reader=False``'s share."""
MAX_ANSWER_LOSS = 0.01
"""On every set, declining may cost at most this share of the answerable questions answered right when never
declining: the floor over ``reader=False`` alone did not carry from the tune articles to other articles."""
ANSWERABLE_SHARE = 0.9
"""The mix fitted for: most questions users ask are answerable."""
THRESHOLDS = np.round(np.linspace(0.0, 0.9, 91), 3)


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


def collect_sets(sets: dict[str, qasets.EvalSet], reader: Path, top_k: int = 5) -> dict[str, list[dict]]:
    """Index each set and collect its rows (:func:`eval.calibration.decision_data.collect`)."""
    embedder = qa.index.embedding.load_embedder()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, evalset in sets.items():
            docs = [qa.Document(d.doc_id, d.title, d.text, "<eval>") for d in evalset.documents]
            qa.build_index(docs, Path(tmp) / name, model=embedder)
            bot = qa.load(str(Path(tmp) / name), model=embedder, reader=reader)
            rows[name] = collect(bot, evalset, name.startswith("article"), top_k)
            logger.info("%s: %d questions read", name, len(rows[name]))
    return rows


def _weights(groups: list[int]) -> np.ndarray:
    w = np.concatenate([np.full(n, 1.0 / max(n, 1)) for n in groups])
    return w * len(w) / w.sum()


def fit_choice(sets: list[list[dict]], depth: int) -> Linear:
    """Logistic model of "this option is right" over the options of the answerable questions."""
    xs, ys, groups = [], [], []
    for rows in sets:
        count = 0
        for r in rows:
            if not r["answerable"]:
                continue
            d = r["depths"][str(depth)]
            xs += d["options"]
            ys += d["right"]
            count += len(d["options"])
        groups.append(count)
    coef = fit_logistic(np.array(xs, float), np.array(ys, float), _weights(groups))
    return Linear(float(coef[0]), tuple(float(c) for c in coef[1:]))


SCORER_LOGIT_FLOOR = float(np.log(DEFAULT_PARAMS.threshold / (1 - DEFAULT_PARAMS.threshold)))
"""``reader=False``'s threshold as a logit: below it, and with no passage backing a span, the engine declines
(:func:`qa.answering.decision.nothing_relevant`)."""


def decide_rows(choice: Linear, rows: list[dict], depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per question: decision features, whether the chosen option is right, whether it is answerable, and whether
    both keys decline it before any model (:func:`qa.answering.decision.nothing_relevant`)."""
    feats, right, answerable, vetoed = [], [], [], []
    for r in rows:
        d = r["depths"][str(depth)]
        veto = not d["options"] or (not d["backed"] and d["stats"][4] < SCORER_LOGIT_FLOOR)
        if not d["options"]:
            feats.append([0.0] * len(DECISION_FEATURES))
            right.append(False)
        else:
            logits = [choice.logit(f) for f in d["options"]]
            i = int(np.argmax(logits))
            verified = [f[OPTION_FEATURES.index("verified")] for f in d["options"]]
            feats.append(decision_vector(logits[i], d["reader_best"][i], verified[i], max(verified), d["stats"]))
            right.append(bool(r["answerable"] and d["right"][i] and not veto))
        answerable.append(bool(r["answerable"]))
        vetoed.append(veto)
    return np.array(feats, float), np.array(right), np.array(answerable), np.array(vetoed)


def fit_model(sets: list[list[dict]], depth: int) -> DecisionModel:
    """Choice, answer model and threshold for one depth (see the module docstring)."""
    choice = fit_choice(sets, depth)
    decided = [decide_rows(choice, rows, depth) for rows in sets]
    x = np.vstack([f[~v] for f, _, _, v in decided])  # the vetoed questions are declined by rule, not by the model
    y = np.concatenate([r[~v] for _, r, _, v in decided]).astype(float)
    coef = fit_logistic(x, y, _weights([int((~v).sum()) for _, _, _, v in decided]))
    answer = Linear(float(coef[0]), tuple(float(c) for c in coef[1:]))
    floors = [plain_right(rows) + FLOOR_MARGIN for rows in sets]
    never = [rates_at(answer, f, r, a, 0.0, v)[0] for f, r, a, v in decided]
    if any(n < floor for n, floor in zip(never, floors)):
        logger.warning("depth %d: answerable right %s is below reader=False's even when never declining (floors %s); "
                       "the decision declines nothing", depth, [round(n, 3) for n in never], [round(f, 3) for f in floors])
    best_t, best_u = 0.0, -1.0
    for t in THRESHOLDS:
        rates = [rates_at(answer, f, r, a, t, v) for f, r, a, v in decided]
        if any(ar < floor for (ar, _), floor in zip(rates, floors)):
            continue
        if any(ar < n - MAX_ANSWER_LOSS - 1e-9 for (ar, _), n in zip(rates, never)):
            continue
        u = float(np.mean([utility(ar, dr) for ar, dr in rates]))
        if u > best_u + 1e-9:
            best_t, best_u = float(t), u
    return DecisionModel(depth, choice, answer, best_t)


def plain_right(rows: list[dict]) -> float:
    """Share of the answerable questions that ``reader=False`` answers right."""
    answerable = [r for r in rows if r["answerable"]]
    return sum(r["plain"]["right"] for r in answerable) / max(len(answerable), 1)


def plain_declined(rows: list[dict]) -> float:
    """Share of the unanswerable questions that ``reader=False`` declines."""
    unanswerable = [r for r in rows if not r["answerable"]]
    return sum(r["plain"]["abstained"] for r in unanswerable) / max(len(unanswerable), 1)


def probabilities(answer: Linear, feats: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(answer.bias + feats @ np.array(answer.weights))))


def rates_at(answer: Linear, feats: np.ndarray, right: np.ndarray, answerable: np.ndarray, t: float,
             vetoed: np.ndarray | None = None) -> tuple[float, float]:
    """(answerable answered right, unanswerable declined) at threshold ``t`` (the vetoed questions are declined)."""
    answered = probabilities(answer, feats) >= t
    if vetoed is not None:
        answered &= ~vetoed
    return (float(np.sum(right & answered) / max(answerable.sum(), 1)),
            float(np.sum(~answerable & ~answered) / max((~answerable).sum(), 1)))


def utility(answerable_right: float, declined: float) -> float:
    return ANSWERABLE_SHARE * answerable_right + (1 - ANSWERABLE_SHARE) * declined


def evaluate(model: DecisionModel, rows: list[dict]) -> dict:
    """Answerable right and unanswerable declined of ``model`` on ``rows``, beside ``reader=False``'s."""
    feats, right, answerable, vetoed = decide_rows(model.choice, rows, model.depth)
    ar, dr = rates_at(model.answer, feats, right, answerable, model.threshold, vetoed)
    never, _ = rates_at(model.answer, feats, right, answerable, 0.0, vetoed)
    confidence = np.where(vetoed, 0.0, probabilities(model.answer, feats))
    max_answerable = np.array([r["depths"][str(model.depth)]["stats"][0] for r in rows])
    return {"answerable_right": round(ar, 4), "declined": round(dr, 4), "never_declining_right": round(never, 4),
            "plain_right": round(plain_right(rows), 4), "plain_declined": round(plain_declined(rows), 4),
            "questions": len(rows), "auc_confidence": round(auc(confidence, answerable), 4),
            "auc_max_answerable": round(auc(max_answerable, answerable), 4)}


def cross_validated(sets: list[list[dict]], depth: int, folds: int = 5) -> dict:
    """Utility, answerable right, declined and lead over ``reader=False`` of :func:`fit_model` on held-out folds
    (by position), means over the folds and the sets; ``fold_utilities`` per fold."""
    per_fold = []
    for k in range(folds):
        train = [[r for i, r in enumerate(rows) if i % folds != k] for rows in sets]
        test = [[r for i, r in enumerate(rows) if i % folds == k] for rows in sets]
        model = fit_model(train, depth)
        per_fold.append([evaluate(model, rows) for rows in test])
    ar = float(np.mean([[e["answerable_right"] for e in fold] for fold in per_fold]))
    dr = float(np.mean([[e["declined"] for e in fold] for fold in per_fold]))
    lead = float(np.mean([[e["answerable_right"] - e["plain_right"] for e in fold] for fold in per_fold]))
    fold_utilities = [float(np.mean([utility(e["answerable_right"], e["declined"]) for e in fold])) for fold in per_fold]
    return {"utility": round(utility(ar, dr), 4), "answerable_right": round(ar, 4), "declined": round(dr, 4),
            "lead_over_plain": round(lead, 4), "fold_utilities": [round(u, 4) for u in fold_utilities]}


def real_gain(deeper: dict, current: dict) -> bool:
    """Whether a deeper read's cross-validated utility beats the current one by more than ``DEPTH_GAIN`` and
    by more than twice the standard error of the paired per-fold differences (fold noise)."""
    diff = np.array(deeper["fold_utilities"]) - np.array(current["fold_utilities"])
    noise = 2 * float(diff.std(ddof=1)) / np.sqrt(len(diff))
    return float(diff.mean()) > max(DEPTH_GAIN, noise)


def choose_model(collected: dict[str, list[dict]], max_depth: int) -> tuple[DecisionModel, dict]:
    """The shallowest depth that no deeper one (up to ``max_depth``) really beats (:func:`real_gain`), refitted on everything."""
    sets = list(collected.values())
    scores = {}
    best: int | None = None
    for depth in DEPTHS:
        scores[depth] = cross_validated(sets, depth)
        logger.info("depth %d: cross-validated %s", depth, scores[depth])
        if depth <= max_depth and (best is None or real_gain(scores[depth], scores[best])):
            best = depth
    assert best is not None
    return fit_model(sets, best), scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--reader", type=Path, default=default_reader_path())
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="questions per set (a quick check of the script)")
    parser.add_argument("--save", type=Path, default=ROOT / "eval" / "out" / "decision-rows.json",
                        help="write the collected rows here")
    parser.add_argument("--reuse", type=Path, default=None, help="fit on rows saved by an earlier run (no reading)")
    parser.add_argument("--max-depth", type=int, default=MAX_DEPTH, choices=DEPTHS,
                        help="deepest read to choose (every depth is still cross-validated and reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.reuse:
        collected = json.loads(args.reuse.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            sets = calibration_sets(args.data, Path(tmp))
            if args.limit:
                sets = {n: qasets.EvalSet(s.name, s.documents, s.items[: args.limit]) for n, s in sets.items()}
            collected = collect_sets(sets, args.reader, args.top_k)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(collected))
    collected = {n: rows for n, rows in collected.items() if n in ("squad2_calibration", "article_tune")}
    model, scores = choose_model(collected, args.max_depth)
    fitted = {name: evaluate(model, rows) for name, rows in collected.items()}
    config_path = args.reader / "reader.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("calibration", None)
    config.pop("read_depth", None)
    config["decision"] = model.to_config()
    config["decision"]["fit"] = {
        "sets": {name: len(rows) for name, rows in collected.items()},
        "floor_margin": FLOOR_MARGIN, "max_answer_loss": MAX_ANSWER_LOSS, "answerable_share": ANSWERABLE_SHARE,
        "max_depth": args.max_depth,
        "cross_validated_by_depth": {str(d): s for d, s in scores.items()},
        "on_the_fit_sets": fitted,
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    write_card(args.reader, {}, {"decision_fit": config["decision"]["fit"]})
    logger.info("wrote %s: depth %d, threshold %.2f; on the fit sets %s", config_path, model.depth, model.threshold, fitted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
