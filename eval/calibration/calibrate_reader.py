"""Fit the answer decision (:mod:`qa.answering.decision`): the choice of sentence, the confidence, its tiers, the depth.

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
   :data:`qa.answering.decision.DECISION_FEATURES`, over all questions of all tune sets together, each set
   weighing the same; every weight keeps its expected sign, :data:`SIGNS`);
3. the two thresholds of the tiers (:func:`tier_thresholds`):

   * ``t_answer`` (answered at or above it): the lowest confidence at which at least
     ``ANSWERED_PRECISION`` of the answered replies (answerable or not) hold a right sentence, on
     every tune set;
   * ``t_decline`` (declined below it; unconfirmed in between): **answers first** — the highest
     confidence that keeps every question ``reader=False`` answers right shown, as answered or
     unconfirmed, on every tune set.

The depth: up to ``--max-depth`` (each passage read costs ~10 ms), a deeper read only when its
5-fold cross-validated utility gains more than ``DEPTH_GAIN`` and more than twice the standard
error of the per-fold gains (the folds' noise).
The result is written into the reader folder's ``reader.json`` (``"decision"``) and its card.
``--report`` also collects the held-out sets (never fitted on) and ``--tables`` writes, for every set,
the risk-coverage table and the tiers of the new fit and of ``--before`` (an earlier ``reader.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

import qa  # noqa: E402
import qa.index.embedding  # noqa: E402
from eval.scoring import qasets  # noqa: E402
from eval.calibration.decision_data import DEPTHS, collect  # noqa: E402
from eval.training.train_reader import CALIBRATION_ARTICLES, auc  # noqa: E402
from eval.calibration.tune import fit_logistic  # noqa: E402
from qa.answering.decision import DECISION_FEATURES, OPTION_FEATURES, DecisionModel, Linear, decision_vector  # noqa: E402
from qa.answering.evidence import EVIDENCE_FEATURES  # noqa: E402
from qa.answering.sentences import DEFAULT_PARAMS  # noqa: E402
from qa.documents.ingest import default_documents  # noqa: E402
from qa.answering.reader import default_reader_path, write_card  # noqa: E402

logger = logging.getLogger("calibrate_reader")
DEPTH_GAIN = 0.005
"""A deeper read is chosen only when it raises the cross-validated utility by more than this (and than the folds' noise)."""
MAX_DEPTH = 2
"""The deepest read the choice may take (``eval/bench/run.py``: each passage read costs ~10 ms on 2 cores)."""
ANSWERABLE_SHARE = 0.9
"""The mix the depth is chosen for (cross-validated utility = share x answerable answered right + (1 - share) x
unanswerable kept out of answered): most questions users ask are answerable."""
ANSWERED_PRECISION = 0.60
"""``t_answer`` is the lowest confidence at which at least this share of the answered replies is right on every
tune set (see :func:`tier_thresholds`)."""
TIER_GRID = np.round(np.arange(0.0, 1.0, 0.005), 3)
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


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


def report_sets(data: Path) -> dict[str, qasets.EvalSet]:
    """The held-out sets, collected with ``--report`` for the risk-coverage tables only (never fitted on):
    the SQuAD sample and the article set's held-out split."""
    doc = default_documents()[0]
    article = qasets.load_article_set(ROOT / "eval" / "qa_article.jsonl", doc.text, doc.doc_id, doc.title)
    article = qasets.EvalSet(article.name, article.documents, tuple(i for i in article.items if i.split == qasets.HELDOUT))
    return {"squad2_sample": qasets.load_squad(data / "squad2_dev_sample.json"), "article_heldout": article}


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
            found = d["evidence"][i] if "evidence" in d else [0.0] * len(EVIDENCE_FEATURES)
            feats.append(decision_vector(logits[i], d["reader_best"][i], verified[i], max(verified), d["stats"], found))
            right.append(bool(r["answerable"] and d["right"][i] and not veto))
        answerable.append(bool(r["answerable"]))
        vetoed.append(veto)
    return np.array(feats, float), np.array(right), np.array(answerable), np.array(vetoed)


def fit_model(sets: list[list[dict]], depth: int) -> DecisionModel:
    """Choice, answer model and thresholds for one depth (see the module docstring)."""
    choice = fit_choice(sets, depth)
    decided = [decide_rows(choice, rows, depth) for rows in sets]
    x = np.vstack([f[~v] for f, _, _, v in decided])  # the vetoed questions are declined by rule, not by the model
    y = np.concatenate([r[~v] for _, r, _, v in decided]).astype(float)
    answer = fit_signed(x, y, _weights([int((~v).sum()) for _, _, _, v in decided]))
    model = DecisionModel(depth, choice, answer, 0.0)
    t_answer, t_decline = tier_thresholds(model, sets)
    return DecisionModel(depth, choice, answer, t_answer, t_decline)


SIGNS = {"choice_logit": 1, "max_answerable": 1, "best_read_score": 1, "chose_reader_best": 1, "scorer_logit": 1,
         "top_answerable": 1, "top_margin": 1, "chosen_verified": 1, "max_verified": 1, "sentence_cover": 1,
         "passage_cover": 1, "other_doc_margin": 1, "numbers_missing": -1, "names_missing": -1, "type_agree": 1}
"""The sign each confidence feature may take: more evidence for the answer never lowers the confidence.  Without it,
collinear features take opposite weights (the scorer's logit took -0.29 beside the choice logit that holds it), and
the SQuAD 2.0 tune articles, whose unanswerable questions were written to share the paragraph's words, gave the
passage's coverage of the question a negative weight: artefacts that would not carry to other documents."""


def fit_signed(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> Linear:
    """Logistic regression of ``y`` on the :data:`qa.answering.decision.DECISION_FEATURES` ``x`` whose weights
    keep their :data:`SIGNS`: refitted without the feature of the most wrongly signed weight until none is
    (dropped features weigh 0; the verifier's, all zeros without one, are left out)."""
    active = [i for i, name in enumerate(DECISION_FEATURES) if x[:, i].std() > 0]
    while True:
        coef = fit_logistic(x[:, active], y, weights)
        wrong = [(c * SIGNS[DECISION_FEATURES[i]], i) for i, c in zip(active, coef[1:]) if c * SIGNS[DECISION_FEATURES[i]] < 0]
        if not wrong:
            break
        active.remove(min(wrong)[1])
    full = [0.0] * len(DECISION_FEATURES)
    for i, c in zip(active, coef[1:]):
        full[i] = float(c)
    return Linear(float(coef[0]), tuple(full))


def confidences(model: DecisionModel, rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per question: the confidence (0 when both keys say no), the chosen sentence right, answerable, and
    whether ``reader=False`` answers it right."""
    feats, right, answerable, vetoed = decide_rows(model.choice, rows, model.depth)
    conf = np.where(vetoed, 0.0, probabilities(model.answer, feats)) if len(rows) else np.zeros(0)
    plain = np.array([bool(r["answerable"] and r["plain"]["right"]) for r in rows])
    return conf, right, answerable, plain


def answered_precision(conf: np.ndarray, right: np.ndarray, t: float) -> float:
    """Share of the questions answered at ``t`` (answerable or not) whose sentence is right (1 when none is)."""
    answered = conf >= t
    return float((right & answered).sum() / answered.sum()) if answered.any() else 1.0


def tier_thresholds(model: DecisionModel, sets: list[list[dict]]) -> tuple[float, float]:
    """``t_answer``: the lowest confidence at which the answered replies reach :data:`ANSWERED_PRECISION`
    on every set; ``t_decline``: the highest that keeps every question ``reader=False`` answers right
    shown (answered or unconfirmed) on every set (answers first), rounded down."""
    decided = [confidences(model, rows) for rows in sets]
    t_answer = next((float(t) for t in TIER_GRID
                     if all(answered_precision(c, r, t) >= ANSWERED_PRECISION for c, r, _, _ in decided)), float(TIER_GRID[-1]))
    floor = min((float(c[p].min()) for c, _, _, p in decided if p.any()), default=0.0)
    t_decline = float(np.floor(floor * 1000) / 1000)
    return t_answer, min(t_decline, t_answer)


def tiers(model: DecisionModel, rows: list[dict]) -> dict:
    """The per-tier figures of ``model`` on ``rows`` beside ``reader=False``'s (see docs/evaluation.md)."""
    conf, right, answerable, plain = confidences(model, rows)
    answered, shown = conf >= model.threshold, (conf >= model.decline) & (conf > 0)  # 0: both keys said no
    n_ans, n_un = max(int(answerable.sum()), 1), max(int((~answerable).sum()), 1)
    plain_answered = np.array([not r["plain"]["abstained"] for r in rows], dtype=bool)
    return {
        "questions": len(rows), "answerable": int(answerable.sum()),
        "answered_precision": round(answered_precision(conf, right, model.threshold), 4),
        "right_answered": round(float((right & answered).sum()) / n_ans, 4),
        "right_shown": round(float((right & shown).sum()) / n_ans, 4),
        "unanswerable_kept_out": round(float((~answerable & ~answered).sum()) / n_un, 4),
        "answered": round(float(answered.mean()), 4) if len(rows) else 0.0,
        "unconfirmed": round(float((shown & ~answered).mean()), 4) if len(rows) else 0.0,
        "declined": round(float((~shown).mean()), 4) if len(rows) else 0.0,
        "plain_answered_precision": round(float(plain.sum() / plain_answered.sum()) if plain_answered.any() else 1.0, 4),
        "plain_right": round(float(plain.sum()) / n_ans, 4),
        "plain_unanswerable_kept_out": round(float((~answerable & ~plain_answered).sum()) / n_un, 4),
        "right_shown_count": int((right & shown).sum()), "plain_right_count": int(plain.sum()),
    }


def risk_coverage(model: DecisionModel, rows: list[dict], coverages: tuple[float, ...] = COVERAGES) -> dict:
    """Precision of the most confident share of the questions (answerable or not), at each coverage, and the
    AUC of the confidence for "the chosen sentence is right"."""
    conf, right, _, _ = confidences(model, rows)
    order = np.argsort(-conf, kind="stable")
    out = {}
    for c in coverages:
        top = order[: max(1, int(round(c * len(rows))))]
        out[f"{c:.1f}"] = round(float(right[top].mean()), 4)
    out["auc"] = round(auc(conf, right), 4) if right.any() and not right.all() else None
    return out


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


FIT_SETS = ("squad2_calibration", "article_tune")
"""The sets fitted on (the others collected, with ``--report``, are only reported)."""


def tables(model: DecisionModel, collected: dict[str, list[dict]], before: Path | None) -> dict:
    """Per set: risk-coverage and tiers of ``model``, and of the decision in ``before`` (a ``reader.json``)."""
    old = DecisionModel.from_config(json.loads(before.read_text())["decision"]) if before is not None else None
    out = {}
    for name, rows in collected.items():
        entry = {"fitted_on": name in FIT_SETS, "after": {"risk_coverage": risk_coverage(model, rows), "tiers": tiers(model, rows)}}
        if old is not None:
            entry["before"] = {"risk_coverage": risk_coverage(old, rows), "tiers": tiers(old, rows)}
        out[name] = entry
        logger.info("%s: %s", name, json.dumps(entry))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--reader", type=Path, default=default_reader_path())
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="questions per set (a quick check of the script)")
    parser.add_argument("--save", type=Path, default=ROOT / "eval" / "out" / "decision-rows.json",
                        help="write the collected rows here")
    parser.add_argument("--reuse", type=Path, default=None, help="fit on rows saved by an earlier run (no reading)")
    parser.add_argument("--report", action="store_true",
                        help="also collect the held-out sets (SQuAD sample, article held-out) for the risk-coverage tables")
    parser.add_argument("--before", type=Path, default=None,
                        help="a reader.json whose decision is compared with the new fit in the risk-coverage tables")
    parser.add_argument("--tables", type=Path, default=None,
                        help="write the risk-coverage and tier tables of every collected set (before and after) here (JSON)")
    parser.add_argument("--max-depth", type=int, default=MAX_DEPTH, choices=DEPTHS,
                        help="deepest read to choose (every depth is still cross-validated and reported)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.reuse:
        collected = json.loads(args.reuse.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            sets = calibration_sets(args.data, Path(tmp))
            if args.report:
                sets.update(report_sets(args.data))
            if args.limit:
                sets = {n: qasets.EvalSet(s.name, s.documents, s.items[: args.limit]) for n, s in sets.items()}
            collected = collect_sets(sets, args.reader, args.top_k)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(collected))
    everything = collected
    collected = {n: rows for n, rows in collected.items() if n in FIT_SETS}
    model, scores = choose_model(collected, args.max_depth)
    if args.tables:
        args.tables.parent.mkdir(parents=True, exist_ok=True)
        args.tables.write_text(json.dumps(tables(model, everything, args.before), indent=1) + "\n")
    fitted = {name: evaluate(model, rows) for name, rows in collected.items()}
    config_path = args.reader / "reader.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("calibration", None)
    config.pop("read_depth", None)
    config["decision"] = model.to_config()
    config["decision"]["fit"] = {
        "sets": {name: len(rows) for name, rows in collected.items()},
        "answerable_share": ANSWERABLE_SHARE,
        "max_depth": args.max_depth,
        "answered_precision": ANSWERED_PRECISION,
        "tiers_on_the_fit_sets": {name: tiers(model, rows) for name, rows in collected.items()},
        "cross_validated_by_depth": {str(d): s for d, s in scores.items()},
        "on_the_fit_sets": fitted,
    }
    config_path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    write_card(args.reader, {}, {"decision_fit": config["decision"]["fit"]})
    logger.info("wrote %s: depth %d, t_answer %.3f, t_decline %.3f; on the fit sets %s", config_path, model.depth,
                model.threshold, model.decline, fitted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
