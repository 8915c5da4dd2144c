"""Train the answer verifier: does this one sentence answer the question?

The reader (``eval/training/train_reader.py``) finds a span in a passage; the verifier
(Retro-Reader's "sketchy" reading, on a short input) reads the question with a
single candidate sentence and gives one logit: the sentence answers the
question.  :mod:`qa.answering.decision` uses it to choose among candidate sentences and to
decide whether to answer.  Inputs are short (at most ``--max-length`` tokens,
default 96), so an example costs about a third of a reader example.

Examples (``../shared/data``, SQuAD, CC BY-SA 4.0), every sentence cut as the
engine cuts documents (``qa.documents.chunking.split_sentences``):

* positive: a SQuAD 1.1 train question (a seeded sample) or an answerable question of the
  SQuAD 2.0 train slice or of the 10 training articles of ``squad2_dev_tune.json``, with the
  sentence holding its answer;
* ``other-sentence``: the same question with the sentence of its paragraph sharing most words
  with it that lacks the answer;
* ``swap``: the question with one anchor word that the sentence holds (a name, number or
  content word) swapped for one of the same kind from the article that the sentence lacks
  (``eval.training.reader_data``'s swap);
* ``squad2``: the real SQuAD 2.0 unanswerable questions of the train slice and of those 10
  articles, with the sentence of their paragraph sharing most words with them (twice).

The calibration articles (``CALIBRATION_ARTICLES``) are never trained on: the AUC
reported there (answer sentence vs. the best sentence of an unanswerable question)
chooses int8 or fp32.  Stages resume: rerun after an interruption.

    python -m eval.training.train_verifier --data ../shared/data          # adds verifier.onnx to qa/models/reader (not shipped: see README)
    python -m eval.training.train_verifier --tiny --out /tmp/v --work /tmp/vw --max-steps 4
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

from eval.training.reader_data import _swap, _vocabulary, _Question, overlap, read_squad, words  # noqa: E402
from eval.training.train_reader import CALIBRATION_ARTICLES, RETRAIN_COMMAND, TRAIN_FILES, auc, base_model_path, fuse, split_tune  # noqa: E402
from eval.training.loop import Pass, optimizer_and_schedule, resume, run_steps  # noqa: E402
from qa.documents.chunking import split_sentences  # noqa: E402
from qa.files import file_sha256  # noqa: E402
from qa.answering.reader_tokens import encode_pairs, load_tokenizer  # noqa: E402
from qa.types import Document  # noqa: E402

logger = logging.getLogger("train_verifier")
INT8_MAX_AUC_DROP = 0.01
EXPORT_ATOL = 2e-3
COMMAND = ".venv/bin/python -m eval.training.train_verifier --data ../shared/data"
RETRAIN_WITH_VERIFIER = RETRAIN_COMMAND.replace(" && ", f" && {COMMAND} && ", 1)
"""The reader folder's retraining command once it holds a verifier: reader, verifier, then the decision."""


@dataclass(frozen=True)
class Pair:
    """One training example: a question, a sentence and whether the sentence answers it."""

    question: str
    sentence: str
    label: int
    source: str
    article: str


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=ROOT / "qa" / "models" / "reader", help="reader folder to add verifier.onnx to")
    p.add_argument("--work", type=Path, default=ROOT / "eval" / "out" / "verifier-work")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--questions", type=int, default=12000, help="SQuAD 1.1 questions sampled")
    p.add_argument("--other-rate", type=float, default=0.5)
    p.add_argument("--swap-rate", type=float, default=0.5)
    p.add_argument("--max-length", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--stop-after", type=int, default=None, help="leave after this many steps, checkpointed (rerun to resume)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--tiny", action="store_true", help="an inline set, for testing the pipeline")
    return p.parse_args(argv)


# ---------------------------------------------------------------- data


def _sentences(context: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_sentences(Document("p", "", context))]


def pairs_from(data: list[dict], rng: random.Random, max_questions: int | None, other_rate: float, swap_rate: float,
               negative_repeats: int = 1) -> list[Pair]:
    """Verifier pairs of SQuAD articles (see the module docstring)."""
    keys = [(a["title"], q["question"]) for a in data for p in a["paragraphs"] for q in p["qas"] if q["answers"]]
    chosen = set(rng.sample(keys, min(max_questions, len(keys)))) if max_questions is not None else None
    out: list[Pair] = []
    for article in data:
        title = article["title"]
        contexts = [p["context"] for p in article["paragraphs"]]
        vocabulary = _vocabulary(contexts) if swap_rate else {}
        for p in article["paragraphs"]:
            wanted = [q for q in p["qas"] if not q["answers"] or chosen is None or (title, q["question"]) in chosen]
            if not wanted:
                continue
            context = p["context"]
            spans = _sentences(context)
            texts = [context[s:e] for s, e in spans]
            for q in wanted:
                qw = words(q["question"])
                if not q["answers"]:
                    if texts:
                        best = max(range(len(texts)), key=lambda i: (overlap(qw, texts[i]), -i))
                        out += [Pair(q["question"], texts[best], 0, "squad2", title)] * negative_repeats
                    continue
                if q.get("ambiguous"):
                    continue
                a = q["answers"][0]
                start, end = a["answer_start"], a["answer_start"] + len(a["text"])
                holding = [i for i, (s, e) in enumerate(spans) if s <= start and end <= e]
                if not holding:
                    continue
                sentence = texts[holding[0]]
                out.append(Pair(q["question"], sentence, 1, "answer", title))
                answers = {x["text"].lower() for x in q["answers"]}
                if other_rate and rng.random() < other_rate:
                    rest = [i for i in range(len(texts)) if i != holding[0] and not any(x in texts[i].lower() for x in answers)]
                    if rest:
                        best = max(rest, key=lambda i: (overlap(qw, texts[i]), -i))
                        out.append(Pair(q["question"], texts[best], 0, "other-sentence", title))
                if swap_rate and rng.random() < swap_rate:
                    swapped = _swap(_Question(title, 0, q["question"], [], False), sentence, vocabulary, rng)
                    if swapped is not None:
                        out.append(Pair(swapped, sentence, 0, "swap", title))
    return out


def tiny_pairs() -> tuple[list[Pair], list[Pair]]:
    s1 = "The EU and Japan signed a security and defence partnership in Tokyo on Nov. 1, 2024."
    s2 = "It was signed by EU foreign policy chief Josep Borrell and Japanese Foreign Minister Takeshi Iwaya."
    pairs = [Pair("When was the pact signed?", s1, 1, "answer", "tiny"), Pair("Who is Japan's foreign minister?", s2, 1, "answer", "tiny"),
             Pair("Who is Japan's defense minister?", s2, 0, "swap", "tiny"), Pair("When was the pact signed?", s2, 0, "other-sentence", "tiny")]
    return pairs * 4, pairs


def prepare(args: argparse.Namespace) -> dict:
    """``train.jsonl`` (shuffled) and ``calibration.jsonl`` in the work folder."""
    done = args.work / "prepared.json"
    if done.exists():
        return json.loads(done.read_text())
    rng = random.Random(args.seed)
    if args.tiny:
        train, calibration = tiny_pairs()
    else:
        squad11 = pairs_from(read_squad(args.data / TRAIN_FILES[0]), rng, args.questions, args.other_rate, args.swap_rate)
        slice2 = pairs_from(read_squad(args.data / TRAIN_FILES[1]), rng, None, args.other_rate, args.swap_rate, 2)
        tune_train, tune_held = split_tune(read_squad(args.data / TRAIN_FILES[2]))
        tune = pairs_from(tune_train, rng, None, args.other_rate, args.swap_rate, 2)
        calibration = pairs_from(tune_held, random.Random(args.seed + 1), None, 0.0, 0.0)
        train = squad11 + slice2 + tune
    rng.shuffle(train)
    for name, rows in (("train.jsonl", train), ("calibration.jsonl", calibration)):
        (args.work / name).write_text("".join(json.dumps(asdict(p)) + "\n" for p in rows), encoding="utf-8")
    info = {"examples": len(train), "by_source": dict(collections.Counter(p.source for p in train)),
            "calibration_examples": len(calibration), "calibration_by_label": dict(collections.Counter(p.label for p in calibration))}
    done.write_text(json.dumps(info, indent=1))
    logger.info("prepared %s", info)
    return info


def read_pairs(path: Path) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- model


def make_model() -> object:
    import torch
    from transformers import AutoModel

    class Verifier(torch.nn.Module):
        """MiniLM encoder + one logit over [CLS]."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base_model_path()))
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            return self.head(h[:, 0]).squeeze(-1)

    return Verifier()


def batches(tokenizer: object, pairs: list[Pair], batch_size: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches (sorted inside blocks of 50 batches, blocks in training order)."""
    lengths = []
    for b0 in range(0, len(pairs), 512):
        chunk = pairs[b0 : b0 + 512]
        lengths += [int(m.sum()) for m in encode_pairs(tokenizer, [p.question for p in chunk], [p.sentence for p in chunk]).attention_mask]
    rng = random.Random(seed)
    out: list[list[int]] = []
    block = batch_size * 50
    for b0 in range(0, len(pairs), block):
        idx = sorted(range(b0, min(b0 + block, len(pairs))), key=lambda i: lengths[i])
        chunk = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
        rng.shuffle(chunk)
        out += chunk
    return out


def train(args: argparse.Namespace) -> dict | None:
    """One pass over ``train.jsonl``, checkpointed; resumes from the last checkpoint (None: left early, ``--stop-after``)."""
    import torch

    record_path, final = args.work / "train_record.json", args.work / "final.pt"
    if final.exists() and record_path.exists():
        return json.loads(record_path.read_text())
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    pairs = read_pairs(args.work / "train.jsonl")
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json", args.max_length)
    order = batches(tokenizer, pairs, args.batch_size, args.seed)
    total = len(order) if args.max_steps is None else min(args.max_steps, len(order))
    model = make_model()
    optimizer, scheduler = optimizer_and_schedule(model, args.lr, total, args.warmup)
    ckpt = args.work / "checkpoint.pt"
    step, elapsed = resume(ckpt, model, optimizer, scheduler, total)
    model.train()
    bce = torch.nn.BCEWithLogitsLoss()

    def loss_at(at: int) -> torch.Tensor:
        chunk = [pairs[i] for i in order[at]]
        batch = encode_pairs(tokenizer, [p.question for p in chunk], [p.sentence for p in chunk])
        logits = model(*(torch.from_numpy(a) for a in (batch.input_ids, batch.attention_mask, batch.token_type_ids)))
        return bce(logits, torch.tensor([float(p.label) for p in chunk]))

    plan = Pass(args.work, args.seed, total, args.checkpoint_every, args.stop_after)
    step, elapsed = run_steps(model, optimizer, scheduler, loss_at, plan, step, elapsed)
    if step < total:
        return None
    torch.save(model.state_dict(), args.work / "final.tmp")
    os.replace(args.work / "final.tmp", final)
    record = {"steps": total, "examples_seen": sum(len(order[i]) for i in range(total)), "batch_size": args.batch_size,
              "lr": args.lr, "warmup": args.warmup, "max_length": args.max_length, "seed": args.seed,
              "train_seconds": round(elapsed, 1), "threads": args.threads, "device": "cpu",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"}
    record_path.write_text(json.dumps(record, indent=1))
    return record


# ---------------------------------------------------------------- export and evaluate


def export(args: argparse.Namespace) -> dict:
    """``verifier.onnx`` (fp32, fused) and ``verifier-int8.onnx`` in the work folder, checked against torch."""
    import onnxruntime as ort
    import torch

    from qa.onnx.quantize import quantize

    fp32, int8, check_path = args.work / "verifier.onnx", args.work / "verifier-int8.onnx", args.work / "export_check.json"
    if fp32.exists() and int8.exists() and check_path.exists():
        return json.loads(check_path.read_text())
    model = make_model()
    model.load_state_dict(torch.load(args.work / "final.pt", weights_only=True))
    model.eval()
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json", args.max_length)
    sample = read_pairs(args.work / "calibration.jsonl")[:8]
    batch = encode_pairs(tokenizer, [p.question for p in sample], [p.sentence for p in sample])
    arrays = (batch.input_ids, batch.attention_mask, batch.token_type_ids)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"verified_logit": {0: "batch"}}
    with torch.no_grad():
        expected = model(*(torch.from_numpy(a) for a in arrays)).numpy()
        torch.onnx.export(model, tuple(torch.from_numpy(a) for a in arrays), str(fp32), input_names=names,
                          output_names=["verified_logit"], dynamic_axes=axes, opset_version=17, dynamo=False)

    def diff(path: Path) -> float:
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, dict(zip(names, arrays)))[0]
        return float(np.max(np.abs(got - expected)))

    check = {"plain_max_abs_diff": diff(fp32), "tolerance": EXPORT_ATOL}
    check["fused"] = fuse(fp32, model.encoder.config)
    check["max_abs_diff"] = diff(fp32)
    if check["max_abs_diff"] > EXPORT_ATOL:
        raise SystemExit(f"ONNX export differs from torch by {check['max_abs_diff']:.2e} > {EXPORT_ATOL}")
    quantize(fp32, int8)
    check_path.write_text(json.dumps(check, indent=1))
    return check


def scores(path: Path, pairs: list[Pair], max_length: int) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tokenizer = load_tokenizer(base_model_path() / "tokenizer.json", max_length)
    out = []
    for b0 in range(0, len(pairs), 64):
        chunk = pairs[b0 : b0 + 64]
        batch = encode_pairs(tokenizer, [p.question for p in chunk], [p.sentence for p in chunk])
        out.append(session.run(None, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
                                      "token_type_ids": batch.token_type_ids})[0])
    return np.concatenate(out)


def evaluate(args: argparse.Namespace) -> dict:
    """AUC of both graphs on the calibration articles; int8 ships when it loses at most ``INT8_MAX_AUC_DROP``."""
    path = args.work / "evaluation.json"
    if path.exists():
        return json.loads(path.read_text())
    pairs = read_pairs(args.work / "calibration.jsonl")
    labels = np.array([p.label for p in pairs])
    result: dict = {"pairs": len(pairs), "positives": int(labels.sum())}
    for name in ("verifier.onnx", "verifier-int8.onnx"):
        result[name] = {"auc": round(auc(scores(args.work / name, pairs, args.max_length), labels), 4)}
        logger.info("%s: %s", name, result[name])
    holds = result["verifier.onnx"]["auc"] - result["verifier-int8.onnx"]["auc"] <= INT8_MAX_AUC_DROP
    result["chosen"] = "verifier-int8.onnx" if holds else "verifier.onnx"
    path.write_text(json.dumps(result, indent=1))
    return result


def write(args: argparse.Namespace, info: dict, record: dict, check: dict, evaluation: dict) -> None:
    """Copy the chosen graph to ``OUT/verifier.onnx``, record it in ``reader.json`` and the card."""
    from qa.answering.reader import write_card

    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.work / evaluation["chosen"], args.out / "verifier.tmp")
    os.replace(args.out / "verifier.tmp", args.out / "verifier.onnx")
    config_path = args.out / "reader.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {"max_length": 192}
    config["verifier"] = {"max_length": args.max_length, "quantized": evaluation["chosen"].endswith("int8.onnx")}
    config_path.write_text(json.dumps(config, indent=1) + "\n")
    if not (args.out / "tokenizer.json").exists():
        shutil.copyfile(base_model_path() / "tokenizer.json", args.out / "tokenizer.json")
    card_path = args.out / "card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    training = card.get("training", {})
    training["command"] = RETRAIN_WITH_VERIFIER
    training["verifier"] = {
        **record, "examples": info, "command": COMMAND, "onnx_export_check": check,
        "data_files": [] if args.tiny else [{"file": n, "sha256": file_sha256(args.data / n)} for n in TRAIN_FILES],
        "never_trained_on": list(CALIBRATION_ARTICLES) + ["squad2_dev_sample.json", "eval/qa_article.jsonl"],
        "negatives": "other-sentence (same paragraph, lacks the answer), swap (anchor word swapped), squad2 (real unanswerable)",
    }
    write_card(args.out, training, {"verifier_calibration_articles": evaluation})
    logger.info("wrote %s", args.out / "verifier.onnx")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logger.setLevel(logging.INFO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    info = prepare(args)
    record = train(args)
    if record is None:
        return 0
    check = export(args)
    evaluation = evaluate(args)
    write(args, info, record, check, evaluation)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
