"""Evaluate the engine: retrieval, answers, abstention, calibration and latency.

Usage (from the repo root)::

    python -m eval.scoring.run [--dataset PATH] [--json OUT] [--top-k N] [--split all|tune|heldout]

The dataset (default ``eval/qa_article.jsonl`` on the bundled article; a
``.json`` file is read as SQuAD, one document per article) is indexed into a
temporary folder through the public API, and every question is asked through
``QA.ask`` once per system:

* ``reader`` -- the engine as shipped: hybrid retrieval, the trained reader reads the top passages;
* ``hybrid`` -- no reader (``qa.load(..., reader=False)``): the sentence scorer of qa 0.2;
* ``bm25`` and ``dense`` -- the shipped engine (with the reader when it runs) with ``retrieval=`` switched;
* ``threshold`` -- an abstention-only baseline: abstain when the dense cosine of
  the question with its best passage is below a threshold fitted (max F1) on
  the tune split. Only its abstention numbers and answered rate are reported.

Definitions:

* Retrieval: rank of the first passage of ``QA.retrieve(q, top_k=5)`` covering
  a gold span (evidence sentences for the article set, answer spans for
  SQuAD), over answerable questions; recall@1/3/5 and MRR (cut at 5).
* ``answer_accuracy``: answerable questions answered (not abstained) correctly,
  over all answerable questions. Article set: the answer text contains an
  accepted answer; SQuAD: a citation span covers a gold answer span.
* ``citation_exact``: citations (over all answers) whose quote equals
  ``document.text[start:end]``.
* Abstention: precision/recall/F1 with positive = unanswerable (metrics.abstention_prf);
  ``answered_rate``: answerable questions not abstained.
* Calibration: a decision is *correct* when the system abstained on an
  unanswerable question or answered an answerable one correctly. The
  confidence binned is that of the decision taken: ``ans.confidence`` when the
  system answered, ``1 - ans.confidence`` when it abstained (the engine's
  confidence estimates "the best sentence answers the question", so its
  complement is the confidence that abstaining is right). Five equal bins; ECE.
* ``decision_accuracy``: share of all questions decided right (a right answer, or an abstention
  on an unanswerable question).
* ``answerable_accuracy``: answerable questions answered with a *first* citation that is right
  (covers a gold span; article set: contains an accepted answer), over answerable questions.
* ``answered_precision``: share of answered questions (answerable or not) answered right.
* ``phrase_em`` / ``phrase_f1``: the answer phrase (``ans.phrase``) against the gold answers
  (SQuAD normalisation, best over answers), over answerable questions, 0 when abstained;
  null for a system without a reader.
* Tiers (docs/evaluation.md): a reply is *answered* (confidence >= ``t_answer``), *unconfirmed* (the closest
  sentence shown as not confirmed, confidence >= ``t_decline``) or *declined*; ``right_answered``: answerable
  questions answered right; ``right_shown``: answerable questions whose answered or unconfirmed sentence is
  right; ``tier_precision``: answered replies (answerable or not) that are right (all judged on the first
  citation, as ``answerable_accuracy``); ``unanswerable_kept_out``: unanswerable questions not answered; ``*_share``: each tier's share of all
  questions. ``reader=False`` has no unconfirmed tier.
* Risk-coverage: every question is also asked with abstention off, ranked by confidence, and
  the accuracy of the most confident share answered is reported at each coverage.
* Latency: wall time of ``QA.ask`` only (p50/p95, ms), asked with abstention off.

Fractions are in [0, 1]; an empty denominator gives 0.0 (as in eval/scoring/metrics.py),
an undefined value (no latency sample, baseline-only rows) is null.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import os  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model is local; never reach for the network

import qa  # noqa: E402
from eval.scoring import metrics, qasets  # noqa: E402
from eval.scoring.report import ALL, CALIBRATION_DEFINITION, SPLIT_CHOICES, render_text, write_outputs  # noqa: E402
from qa.engine import DEFAULT_TOP_K  # noqa: E402
from qa.documents.ingest import default_documents  # noqa: E402

logger = logging.getLogger("eval.scoring.run")

DEFAULT_DATASET = REPO_ROOT / "eval" / "qa_article.jsonl"
SYSTEMS = ("reader", "hybrid", "bm25", "dense")
RETRIEVAL_OF = {"reader": "hybrid", "hybrid": "hybrid", "bm25": "bm25", "dense": "dense"}
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BASELINE = "threshold"
RETRIEVAL_DEPTH = 5
CALIBRATION_BINS = 5
MAX_FAILURES = 10
JUDGE_TEXT = "text"  # answer text contains an accepted answer (article set)
JUDGE_SPAN = "span"  # a citation covers a gold answer span (SQuAD)
METRIC_KEYS = (
    "recall@1", "recall@3", "recall@5", "mrr", "decision_accuracy", "answerable_accuracy", "answered_precision",
    "phrase_em", "phrase_f1", "answer_accuracy", "citation_exact",
    "abstention_precision", "abstention_recall", "abstention_f1", "answered_rate", "ece", "p50_ms", "p95_ms",
    *("tier_precision", "right_answered", "right_shown", "unanswerable_kept_out", "answered_share", "unconfirmed_share",
      "declined_share"),
)


@dataclass(frozen=True)
class Record:
    """The outcome of one question for one system."""

    item: qasets.EvalItem
    rank: int | None
    abstained: bool
    answered_correctly: bool
    confidence: float
    text: str
    citations: int
    citations_exact: int
    latency_ms: float
    right_if_answered: bool = False
    first_right: bool = False
    phrase: str | None = None
    phrase_ok: bool = True
    shown: bool = False
    first_right_if_answered: bool = False

    @property
    def decision_correct(self) -> bool:
        return self.answered_correctly or (self.abstained and not self.item.answerable)

    @property
    def decision_confidence(self) -> float:
        conf = min(1.0, max(0.0, self.confidence))
        return 1.0 - conf if self.abstained else conf


# --------------------------------------------------------------------------- data


def load_dataset(path: str | Path) -> tuple[qasets.EvalSet, str]:
    """Load an evaluation set and the matching answer judge.

    ``.jsonl`` is our article format, checked against the bundled article's
    cleaned text; anything else goes through :func:`qasets.load_any`.
    """
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        doc = default_documents()[0]
        return qasets.load_any(path, article_text=doc.text, doc_id=doc.doc_id, title=doc.title), JUDGE_TEXT
    return qasets.load_any(path), JUDGE_SPAN


def to_documents(evalset: qasets.EvalSet) -> list[qa.Document]:
    return [qa.Document(d.doc_id, d.title, d.text, "<eval>") for d in evalset.documents]


def items_of(items: Sequence[Any], split: str) -> list[Any]:
    """Items (or records, via ``.item``) of one split; ``"all"`` keeps everything."""
    if split == ALL:
        return list(items)
    return [x for x in items if getattr(x, "item", x).split == split]


# --------------------------------------------------------------------------- asking


def is_correct(item: qasets.EvalItem, answer: qa.Answer, judge: str, first_only: bool = False) -> bool:
    """Whether ``answer`` answers the answerable ``item`` correctly (False when abstained).

    Args:
        item: The question.
        answer: The engine's answer.
        judge: ``"text"`` or ``"span"`` (see the module docstring).
        first_only: Judge the first citation only.
    """
    if answer.abstained or not item.answerable:
        return False
    citations = answer.citations[:1] if first_only else answer.citations
    if judge == JUDGE_TEXT:
        return metrics.contains_answer(" ".join(c.quote for c in citations), item.answers)
    return any(
        c.doc_id == doc_id and metrics.span_covers((c.start, c.end), (start, end))
        for c in citations
        for doc_id, start, end in item.gold_spans
    )


def phrase_exact(bot: qa.QA, answer: qa.Answer) -> bool:
    """The phrase is exact text of its document and lies inside one of the citations (True when there is none)."""
    p = answer.phrase
    if p is None:
        return True
    return bot.document(p.doc_id).text[p.start : p.end] == p.text and any(
        c.doc_id == p.doc_id and c.start <= p.start and p.end <= c.end for c in answer.citations
    )


def count_exact(bot: qa.QA, citations: Sequence[qa.Citation]) -> int:
    exact = 0
    for c in citations:
        try:
            exact += bot.document(c.doc_id).text[c.start : c.end] == c.quote
        except KeyError:
            pass
    return exact


def retrieval_rank(bot: qa.QA, item: qasets.EvalItem, system: str) -> int | None:
    passages = bot.retrieve(item.question, top_k=RETRIEVAL_DEPTH, retrieval=system)
    return metrics.first_relevant_rank([(p.doc_id, p.start, p.end) for p in passages], item.gold_spans)


def never_abstaining(bot: qa.QA) -> tuple[qa.QA, float, float]:
    """A copy of ``bot`` that answers every question it finds something relevant for, and the thresholds ``bot``
    answers at (``t_answer``) and declines below (``t_decline``; ``reader=False`` has one threshold for both)."""
    open_bot = copy.copy(bot)
    if bot.decision is not None:
        open_bot.decision = dataclasses.replace(bot.decision, threshold=0.0, decline=0.0)
        return open_bot, bot.decision.threshold, bot.decision.decline
    open_bot.params = dataclasses.replace(bot.params, threshold=0.0)
    return open_bot, bot.params.threshold, bot.params.threshold


def ask_item(bot: qa.QA, item: qasets.EvalItem, retrieval: str, top_k: int, judge: str, threshold: float,
             decline: float | None = None) -> Record:
    """Ask one question (with abstention off) and record everything measured at ``threshold`` (``t_answer``);
    ``shown``: answered or unconfirmed (at or above ``decline``, ``t_decline``)."""
    start = time.perf_counter()
    answer = bot.ask(item.question, top_k=top_k, retrieval=retrieval)
    latency_ms = (time.perf_counter() - start) * 1000.0
    abstained = answer.abstained or answer.confidence < threshold
    right = is_correct(item, answer, judge)
    return Record(
        item=item,
        rank=retrieval_rank(bot, item, retrieval) if item.answerable else None,
        abstained=abstained,
        answered_correctly=right and not abstained,
        confidence=float(answer.confidence),
        text="" if abstained else answer.text,
        citations=0 if abstained else len(answer.citations),
        citations_exact=0 if abstained else count_exact(bot, answer.citations),
        latency_ms=latency_ms,
        right_if_answered=right,
        first_right=is_correct(item, answer, judge, first_only=True) and not abstained,
        phrase=None if abstained or answer.phrase is None else answer.phrase.text,
        phrase_ok=phrase_exact(bot, answer),
        shown=not answer.abstained and answer.confidence >= (threshold if decline is None else decline),
        first_right_if_answered=is_correct(item, answer, judge, first_only=True),
    )


def run_system(bot: qa.QA, items: Sequence[qasets.EvalItem], system: str, top_k: int, judge: str) -> list[Record]:
    """The per-question loop shared by every system (``system`` names its retrieval method)."""
    started = time.perf_counter()
    open_bot, threshold, decline = never_abstaining(bot)
    records = [ask_item(open_bot, item, RETRIEVAL_OF.get(system, system), top_k, judge, threshold, decline) for item in items]
    logger.info("%s: %d questions in %.1f s", system, len(records), time.perf_counter() - started)
    return records


def dense_top_scores(bot: qa.QA, items: Sequence[qasets.EvalItem]) -> list[float]:
    """Per item, the dense cosine of the question with its best passage (the baseline's score)."""
    scores = []
    for item in items:
        hits = bot.retrieve(item.question, top_k=1, retrieval="dense")
        scores.append(float(hits[0].score) if hits else 0.0)
    return scores


# --------------------------------------------------------------------------- summaries


def _percentile(values: Sequence[float], q: float) -> float | None:
    return metrics.percentile(values, q) if values else None


def retrieval_summary(records: Sequence[Record]) -> dict:
    ranks = [r.rank for r in records if r.item.answerable]
    return {
        "recall@1": metrics.recall_at_k(ranks, 1),
        "recall@3": metrics.recall_at_k(ranks, 3),
        "recall@5": metrics.recall_at_k(ranks, 5),
        "mrr": metrics.mrr(ranks),
    }


def abstention_summary(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict:
    precision, recall, f1 = metrics.abstention_prf(abstained, answerable)
    n_answerable = sum(answerable)
    answered = sum(1 for a, ok in zip(abstained, answerable) if ok and not a)
    return {
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstention_f1": f1,
        "answered_rate": answered / n_answerable if n_answerable else 0.0,
    }


def answer_summary(records: Sequence[Record]) -> dict:
    n_answerable = sum(r.item.answerable for r in records)
    citations = sum(r.citations for r in records)
    return {
        "answer_accuracy": sum(r.answered_correctly for r in records) / n_answerable if n_answerable else 0.0,
        "citation_exact": sum(r.citations_exact for r in records) / citations if citations else 0.0,
        "citations": citations,
    }


def decision_summary(records: Sequence[Record], has_reader: bool) -> dict:
    """Decision accuracy, first-citation accuracy, precision of answers, and the phrase metrics."""
    n = len(records)
    answerable = [r for r in records if r.item.answerable]
    answered = [r for r in records if not r.abstained]
    phrases = [(r.phrase or "") if not r.abstained else "" for r in answerable]
    return {
        "decision_accuracy": sum(r.decision_correct for r in records) / n if n else 0.0,
        "answerable_accuracy": sum(r.first_right for r in answerable) / len(answerable) if answerable else 0.0,
        "answered_precision": sum(r.answered_correctly for r in answered) / len(answered) if answered else 0.0,
        "phrase_em": (sum(metrics.exact_match(p, r.item.answers) for p, r in zip(phrases, answerable)) / len(answerable)
                      if has_reader and answerable else None),
        "phrase_f1": (sum(metrics.best_f1(p, r.item.answers) for p, r in zip(phrases, answerable)) / len(answerable)
                      if has_reader and answerable else None),
        "phrase_exact": all(r.phrase_ok for r in records),
    }


def tier_summary(records: Sequence[Record]) -> dict:
    """The three tiers (docs/evaluation.md), judged on the first sentence shown (the reader shows one; ``reader=False``
    may add more): the answered replies' precision, answerable questions with a right sentence as answered and as
    answered or unconfirmed, unanswerable ones kept out of answered, and the share of each tier."""
    answerable = [r for r in records if r.item.answerable]
    unanswerable = [r for r in records if not r.item.answerable]
    answered = [r for r in records if not r.abstained]
    n = len(records)
    return {
        "tier_precision": sum(r.first_right for r in answered) / len(answered) if answered else 0.0,
        "right_answered": sum(r.first_right for r in answerable) / len(answerable) if answerable else 0.0,
        "right_shown": sum(r.shown and r.first_right_if_answered for r in answerable) / len(answerable) if answerable else 0.0,
        "unanswerable_kept_out": sum(r.abstained for r in unanswerable) / len(unanswerable) if unanswerable else 0.0,
        "answered_share": sum(not r.abstained for r in records) / n if n else 0.0,
        "unconfirmed_share": sum(r.abstained and r.shown for r in records) / n if n else 0.0,
        "declined_share": sum(not r.shown for r in records) / n if n else 0.0,
    }


def risk_coverage(records: Sequence[Record]) -> list[dict]:
    """Accuracy of the most confident share of questions answered (abstention off), per coverage."""
    ranked = sorted(records, key=lambda r: -r.confidence)
    rows = []
    for coverage in COVERAGES:
        top = ranked[: max(1, math.ceil(coverage * len(ranked)))] if ranked else []
        right = sum(r.item.answerable and r.right_if_answered for r in top)
        rows.append({"coverage": coverage, "n": len(top), "accuracy": right / len(top) if top else 0.0,
                     "min_confidence": top[-1].confidence if top else None})
    return rows


def calibration_summary(records: Sequence[Record]) -> dict:
    conf = [r.decision_confidence for r in records]
    ok = [r.decision_correct for r in records]
    return {
        "table": metrics.calibration_table(conf, ok, CALIBRATION_BINS),
        "ece": metrics.expected_calibration_error(conf, ok, CALIBRATION_BINS),
        "risk_coverage": risk_coverage(records),
    }


def counts(items: Sequence[qasets.EvalItem]) -> dict:
    n_answerable = sum(i.answerable for i in items)
    return {"n": len(items), "n_answerable": n_answerable, "n_unanswerable": len(items) - n_answerable}


def summarize(records: Sequence[Record], has_reader: bool = False) -> dict:
    """All metrics of one system on one set of records."""
    latencies = [r.latency_ms for r in records]
    return {
        **counts([r.item for r in records]),
        **retrieval_summary(records),
        **decision_summary(records, has_reader),
        **answer_summary(records),
        **abstention_summary([r.abstained for r in records], [r.item.answerable for r in records]),
        **tier_summary(records),
        "ece": calibration_summary(records)["ece"],
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
    }


def fit_threshold(scores: Sequence[float], items: Sequence[qasets.EvalItem]) -> tuple[float | None, float | None]:
    """Threshold (and its F1) fitted on the tune split; None when the tune split is empty."""
    tune = [(s, not i.answerable) for s, i in zip(scores, items) if i.split == qasets.TUNE]
    if not tune:
        logger.warning("no tune items: the threshold baseline is not fitted")
        return None, None
    return metrics.best_threshold([s for s, _ in tune], [p for _, p in tune])


def summarize_threshold(scores: Sequence[float], items: Sequence[qasets.EvalItem], threshold: float | None) -> dict:
    """The abstention-only baseline on a set of items; non-abstention metrics are null."""
    row: dict[str, Any] = {key: None for key in METRIC_KEYS}
    row.update(counts(items))
    row["threshold"] = threshold
    if threshold is not None:
        abstained = [s < threshold for s in scores]
        row.update(abstention_summary(abstained, [i.answerable for i in items]))
    return row


def failures(records: Sequence[Record], limit: int = MAX_FAILURES) -> list[dict]:
    """The most confident wrong decisions: answerable-wrong (incl. abstained) and unanswerable-answered."""
    wrong = sorted((r for r in records if not r.decision_correct), key=lambda r: -r.decision_confidence)
    out = []
    for r in wrong[:limit]:
        if not r.item.answerable:
            kind = "unanswerable-answered"
        else:
            kind = "answerable-abstained" if r.abstained else "answerable-wrong"
        out.append(
            {
                "id": r.item.id,
                "split": r.item.split,
                "kind": kind,
                "question": r.item.question,
                "expected": " | ".join(r.item.answers) if r.item.answerable else "(abstain)",
                "got": "(abstained)" if r.abstained else r.text,
                "confidence": r.confidence,
            }
        )
    return out


def split_report(runs: dict[str, list[Record]], scores: list[float], items: list, threshold: float | None, split: str,
                 readers: Sequence[str] = (), read_depth: int | None = None) -> dict:
    """The per-system dicts for one split (including the threshold baseline).

    ``recall@read`` is the recall at the reader's depth (the passages it reads), for the reader systems.
    """
    systems = {name: summarize(items_of(records, split), name in readers) for name, records in runs.items()}
    for name in readers:
        ranks = [r.rank for r in items_of(runs[name], split) if r.item.answerable]
        systems[name]["recall@read"] = metrics.recall_at_k(ranks, read_depth) if read_depth else None
    chosen = [(s, i) for s, i in zip(scores, items) if split == ALL or i.split == split]
    systems[BASELINE] = summarize_threshold([s for s, _ in chosen], [i for _, i in chosen], threshold)
    return systems


# --------------------------------------------------------------------------- evaluation


def evaluate(
    evalset: qasets.EvalSet,
    model: Any = None,
    top_k: int = DEFAULT_TOP_K,
    split: str = ALL,
    judge: str = JUDGE_TEXT,
    reader: bool | str | Path = True,
) -> dict:
    """Index ``evalset`` in a temporary folder, run every system, and return the results.

    Args:
        evalset: Documents and questions.
        model: Embedder (or model name) for indexing and querying; None loads
            the bundled model once.
        top_k: Passages retrieved as evidence by ``ask``.
        split: Split reported under ``"systems"``, the calibration and the failures.
        judge: ``"text"`` (answer contains an accepted answer) or ``"span"``
            (a citation covers a gold answer span).
        reader: The reader for the ``reader``, ``bm25`` and ``dense`` systems (True: the shipped
            one; a folder; False: no reader, and no ``reader`` system).

    Returns:
        The JSON-ready result (see the module docstring).
    """
    if split not in SPLIT_CHOICES:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLIT_CHOICES}")
    if judge not in (JUDGE_TEXT, JUDGE_SPAN):
        raise ValueError(f"unknown judge {judge!r}")
    started = time.perf_counter()
    if model is None or isinstance(model, str):
        from qa.index.embedding import load_embedder

        model = load_embedder(model)  # loaded once, shared by build_index and load
    items = list(evalset.items)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        report = qa.build_index(to_documents(evalset), Path(tmp) / "index", model=model)
        logger.info("indexed %d documents, %d passages", report.documents, report.passages)
        plain = qa.load(Path(tmp) / "index", model=model, reader=False)
        bot = qa.load(Path(tmp) / "index", model=model, reader=reader) if reader is not False else plain
        runs = {
            system: run_system(plain if system == "hybrid" else bot, items, system, top_k, judge)
            for system in SYSTEMS if system != "reader" or reader is not False
        }
        scores = dense_top_scores(plain, items)
    readers = [s for s in runs if s != "hybrid" and reader is not False]
    read_depth = bot.read_depth if bot.reader is not None else None
    main_system = "reader" if "reader" in runs else "hybrid"
    threshold, tune_f1 = fit_threshold(scores, items)
    return {
        "dataset": evalset.name,
        "n": len(items_of(items, split)),
        "n_total": len(items),
        "documents": len(evalset.documents),
        "passages": report.passages,
        "split": split,
        "judge": judge,
        "top_k": top_k,
        "read_depth": read_depth,
        "systems": split_report(runs, scores, items, threshold, split, readers, read_depth),
        "by_split": {s: split_report(runs, scores, items, threshold, s, readers, read_depth) for s in SPLIT_CHOICES},
        "threshold_baseline": {"threshold": threshold, "tune_f1": tune_f1, "score": "dense cosine of the top passage"},
        "failures": failures(items_of(runs[main_system], split)),
        "failures_system": main_system,
        "calibration": {
            "split": split,
            "bins": CALIBRATION_BINS,
            "definition": CALIBRATION_DEFINITION,
            "systems": {name: calibration_summary(items_of(records, split)) for name, records in runs.items()},
        },
        "wall_s": time.perf_counter() - started,
    }




# --------------------------------------------------------------------------- CLI


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help=".jsonl article set or .json SQuAD file")
    parser.add_argument("--json", dest="json_out", help="write results here (plus .md report and .png chart)")
    parser.add_argument("--top-k", type=positive_int, default=DEFAULT_TOP_K, help="passages per ask()")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default=ALL, help="split for the headline numbers")
    parser.add_argument("--no-reader", action="store_true", help="leave the reader out (the qa 0.2 systems only)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, model: Any = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    evalset, judge = load_dataset(args.dataset)
    result = evaluate(evalset, model=model, top_k=args.top_k, split=args.split, judge=judge, reader=not args.no_reader)
    sys.stdout.write(render_text(result) + "\n")
    if args.json_out:
        for path in write_outputs(result, args.json_out):
            logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
