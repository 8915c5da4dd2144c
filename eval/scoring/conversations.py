"""Follow-up questions, measured: QuAC-format dialogues asked turn by turn, with and without history.

Each set of ``../shared/data/conversations/`` (CoQA dev Wikipedia, DoQA dev cooking, QuAC train 1%)
becomes one corpus: every dialogue's passage is a document (its trailing ``CANNOTANSWER`` stripped),
indexed once with the real packaged embedder into ``--work`` (reused when present).  Each dialogue
of the chosen half (``eval.scoring.dialogue_split.is_tune``) is then asked turn by turn twice in the same run:

* ``without``: every turn asked alone (what qa did before follow-ups);
* ``with``: each turn asked with the system's OWN earlier answers of that dialogue as ``history``
  (what a chat has), never the gold answers.

A turn is right when it is answerable and the first citation overlaps the gold span by at least
half of the shorter of the two (in the same document), or when it is unanswerable and declined.
The report splits first turns from follow-ups, answerable from unanswerable.

Usage::

    python -m eval.scoring.conversations --sets coqa doqa --half heldout [--max-dialogues N] [--json out.json]

Tune only on ``--half tune``; report ``--half heldout``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import qa  # noqa: E402
from eval.scoring import metrics  # noqa: E402
from eval.scoring.dialogue_split import is_tune  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data" / "conversations"
WORK = Path("/work/conv-work")
SETS = {"coqa": "coqa_dev_wikipedia.json", "doqa": "doqa_dev_cooking.json", "quac": "quac_train_0.01.json",
        "stories": "coqa_dev_children_stories.json", "exams": "coqa_dev_mid-high_school.json"}
UNANSWERABLE = "CANNOTANSWER"

logger = logging.getLogger("eval.scoring.conversations")


@dataclass(frozen=True)
class Turn:
    """One gold turn of a dialogue.

    Attributes:
        question: The question as asked.
        start: Gold span start in the dialogue's document (-1 when unanswerable).
        end: Gold span end (-1 when unanswerable).
    """

    question: str
    start: int
    end: int

    @property
    def answerable(self) -> bool:
        """Whether the gold answer is a span (not ``CANNOTANSWER``)."""
        return self.start >= 0


@dataclass(frozen=True)
class Dialogue:
    """One dialogue: its document id (the paragraph id) and its turns, oldest first."""

    doc_id: str
    turns: tuple[Turn, ...]
    text: str = ""


def clean_context(context: str) -> str:
    """The passage without the ``CANNOTANSWER`` appended to its end."""
    return context.rstrip().removesuffix(UNANSWERABLE).rstrip()


def load_set(path: Path) -> tuple[list[qa.Document], list[Dialogue]]:
    """The documents (one per dialogue) and dialogues of a QuAC-format file.

    Raises:
        FileNotFoundError: The file is missing.
    """
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    documents, dialogues = [], []
    for item in data:
        for p in item["paragraphs"]:
            text = clean_context(p["context"])
            title = item.get("title", "X")
            if title in ("", "X"):
                title = " ".join(text.split()[:8])
            elif item.get("section_title"):
                title = f"{title}: {item['section_title']}"
            documents.append(qa.Document(p["id"], title, text, f"{path.name}#{p['id']}"))
            turns = []
            for turn in p["qas"]:
                gold = turn["answers"][0]
                if gold["text"] == UNANSWERABLE or gold["answer_start"] >= len(text):
                    turns.append(Turn(turn["question"], -1, -1))
                else:
                    start = int(gold["answer_start"])
                    turns.append(Turn(turn["question"], start, min(len(text), start + len(gold["text"]))))
            dialogues.append(Dialogue(p["id"], tuple(turns), text))
    return documents, dialogues


def index_for(name: str, documents: Sequence[qa.Document], work: Path) -> Path:
    """The set's index folder under ``work``, built with the packaged embedder when missing."""
    folder = work / f"{name}-index"
    if not (folder / "manifest.json").exists():
        start = time.perf_counter()
        report = qa.build_index(list(documents), folder)
        logger.info("indexed %s: %d documents, %d passages in %.0f s", name, report.documents, report.passages,
                    time.perf_counter() - start)
    return folder


def overlaps(answer: qa.Answer, doc_id: str, start: int, end: int) -> bool:
    """Whether the first citation overlaps the gold span by at least half of the shorter of the two."""
    if answer.abstained or not answer.citations:
        return False
    c = answer.citations[0]
    if c.doc_id != doc_id:
        return False
    shared = min(c.end, end) - max(c.start, start)
    return shared > 0 and shared >= 0.5 * min(c.end - c.start, end - start)


def shown_right(answer: qa.Answer, dialogue: Dialogue, turn: Turn) -> bool:
    """An answerable turn whose shown sentence (the answer's first citation, or an unconfirmed answer's closest
    sentence) overlaps the gold span as :func:`overlaps` asks."""
    if not answer.abstained:
        return overlaps(answer, dialogue.doc_id, turn.start, turn.end)
    if answer.candidate is None:
        return False
    c = answer.candidate.citation
    shared = min(c.end, turn.end) - max(c.start, turn.start)
    return c.doc_id == dialogue.doc_id and shared > 0 and shared >= 0.5 * min(c.end - c.start, turn.end - turn.start)


def right(answer: qa.Answer, dialogue: Dialogue, turn: Turn) -> bool:
    """A turn is right when answered with an overlapping first citation, or declined when unanswerable."""
    if not turn.answerable:
        return answer.abstained
    return overlaps(answer, dialogue.doc_id, turn.start, turn.end)


Ask = Callable[[str, list], qa.Answer]


def run_dialogues(bot: qa.QA, dialogues: Sequence[Dialogue], modes: Sequence[str] = ("without", "with")) -> dict:
    """Ask every dialogue turn by turn without and with history; count right turns by kind.

    Returns:
        ``{"without"|"with": {"first"|"follow": {"answerable"|"unanswerable": [right, total]}}}`` plus
        ``"followed"`` (follow-ups the engine resolved with the conversation), ``"doc_right"`` (answered
        answerable follow-ups citing the dialogue's document) and ``"ms"`` (ask times by mode and kind).
    """
    counts = {m: {k: {"answerable": [0, 0], "unanswerable": [0, 0]} for k in ("first", "follow")} for m in ("without", "with")}
    ms: dict[str, dict[str, list[float]]] = {m: {"first": [], "follow": []} for m in ("without", "with")}
    followed = [0, 0]
    doc_right = {m: [0, 0] for m in ("without", "with")}
    lost = {m: {k: [0, 0] for k in ("first", "follow")} for m in ("without", "with")}
    phrase = {m: {k: [0.0, 0] for k in ("first", "follow")} for m in ("without", "with")}
    shown = {m: {k: [0, 0, 0] for k in ("first", "follow")} for m in ("without", "with")}
    unshown = {m: {k: [0, 0] for k in ("first", "follow")} for m in ("without", "with")}
    for dialogue in dialogues:
        history: list[qa.Answer] = []
        for i, turn in enumerate(dialogue.turns):
            kind = "first" if i == 0 else "follow"
            label = "answerable" if turn.answerable else "unanswerable"
            for mode in modes:
                start = time.perf_counter()
                ans = bot.ask(turn.question, history=history) if mode == "with" else bot.ask(turn.question)
                ms[mode][kind].append((time.perf_counter() - start) * 1000.0)
                cell = counts[mode][kind][label]
                cell[0] += int(right(ans, dialogue, turn))
                cell[1] += 1
                if turn.answerable:
                    tier = shown[mode][kind]  # answerable: shown right (answered or unconfirmed), status declined, total
                    tier[0] += int(shown_right(ans, dialogue, turn))
                    tier[1] += int(ans.candidate is None and ans.abstained)
                    tier[2] += 1
                    lost[mode][kind][0] += int(ans.abstained)
                    lost[mode][kind][1] += 1
                    said = ans.phrase.text if ans.phrase is not None and not ans.abstained else ""
                    phrase[mode][kind][0] += metrics.best_f1(said, [dialogue.text[turn.start : turn.end]])
                    phrase[mode][kind][1] += 1
                else:
                    unshown[mode][kind][0] += int(ans.status == "declined")  # unanswerable: nothing shown
                    unshown[mode][kind][1] += 1
                if kind == "follow" and not ans.abstained:
                    doc_right[mode][1] += 1
                    doc_right[mode][0] += int(ans.citations[0].doc_id == dialogue.doc_id)
                if mode == "with":
                    if kind == "follow":
                        followed[1] += 1
                        followed[0] += int(ans.follow_up is not None)
                    history.append(ans)
    return {"counts": counts, "followed": followed, "doc_right": doc_right, "ms": ms, "lost": lost, "phrase": phrase, "shown": shown,
            "unshown": unshown}


def share(cell: Sequence[int]) -> float | None:
    """right / total, rounded; None when there are none."""
    return round(cell[0] / cell[1], 3) if cell[1] else None


def summary(result: dict) -> dict:
    """The headline shares of one set: per mode, first turns and follow-ups answered right and declined."""
    out = {}
    for mode, kinds in result["counts"].items():
        row = {}
        for kind, labels in kinds.items():
            both = [labels["answerable"][0] + labels["unanswerable"][0], labels["answerable"][1] + labels["unanswerable"][1]]
            row[kind] = {"all": share(both), "answerable": share(labels["answerable"]), "declined": share(labels["unanswerable"]),
                         "turns": both[1], "answerable_turns": labels["answerable"][1],
                         "unanswerable_turns": labels["unanswerable"][1]}
        row["doc_right"] = share(result["doc_right"][mode])
        row["answerable_declined"] = {k: share(v) for k, v in result["lost"][mode].items()}
        row["shown_right"] = {k: round(v[0] / v[2], 3) if v[2] else None for k, v in result["shown"][mode].items()}
        row["status_declined"] = {k: round(v[1] / v[2], 3) if v[2] else None for k, v in result["shown"][mode].items()}
        row["unanswerable_status_declined"] = {k: share(v) for k, v in result["unshown"][mode].items()}
        row["phrase_f1"] = {k: round(v[0] / v[1], 3) if v[1] else None for k, v in result["phrase"][mode].items()}
        times = {k: sorted(v) for k, v in result["ms"][mode].items()}
        row["p50_ms"] = {k: round(v[len(v) // 2], 1) if v else None for k, v in times.items()}
        out[mode] = row
    out["followed_share"] = share(result["followed"])
    return out


def _cell(row: dict, share_key: str, count_key: str) -> str:
    """``share (count)``, or ``–`` when there are no such turns."""
    count = row.get(count_key)
    return "–" if not count else f"{row[share_key]} ({count})"


def table(results: dict[str, dict]) -> str:
    """A Markdown table of the summaries: one row per set and mode."""
    lines = [
        ("| set | history | first turns right | follow-ups right | follow-ups answerable right | follow-ups unanswerable declined "
         "| first turns declined | answered follow-ups in the right document | answerable follow-ups declined "
         "| p50 ms first / follow-up |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in results.items():
        for mode in ("without", "with"):
            r = s[mode]
            first, follow = r["first"], r["follow"]
            lines.append(
                f"| {name} | {mode} | {first['all']} ({first['turns']}) | {follow['all']} ({follow['turns']}) "
                f"| {follow['answerable']} ({follow['answerable_turns']}) | {_cell(follow, 'declined', 'unanswerable_turns')} "
                f"| {_cell(first, 'declined', 'unanswerable_turns')} | {r['doc_right']} | {r['answerable_declined']['follow']} | {r['p50_ms']['first']} / {r['p50_ms']['follow']} |"
            )
    return "\n".join(lines)


def set_knob(knob: str) -> None:
    """Set ``NAME=VALUE`` on :mod:`qa.answering.conversation` (a tuning run's variant).

    Raises:
        ValueError: No such constant, or no ``=``.
    """
    from qa.answering import conversation, topic

    name, sep, value = knob.partition("=")
    if name.startswith("topic."):
        conversation, name = topic, name.removeprefix("topic.")
    if not sep or not hasattr(conversation, name) or not name.isupper():
        raise ValueError(f"--knob takes NAME=VALUE with NAME a constant of qa.answering.conversation; got {knob!r}")
    old = getattr(conversation, name)
    if isinstance(old, bool):
        new: object = bool(int(value))
    elif isinstance(old, tuple):
        new = tuple(float(v) for v in value.split(","))
    else:
        new = type(old)(value)
    setattr(conversation, name, new)
    logger.info("knob %s = %r (was %r)", name, getattr(conversation, name), old)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and print the table (and write JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["coqa", "doqa"])
    parser.add_argument("--half", choices=("tune", "heldout"), default="heldout")
    parser.add_argument("--max-dialogues", type=int, default=0, help="only the first N dialogues of the half (0: all)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=WORK, help="where each set's index is built once and reused")
    parser.add_argument("--build-only", action="store_true", help="build the indexes and stop")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only-with", action="store_true", help="tuning only: skip the run without history")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="tuning only: set a constant of qa.answering.conversation (int, float or 0/1 for flags)")
    args = parser.parse_args(argv)
    for knob in args.knob:
        set_knob(knob)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.sets:
        documents, dialogues = load_set(args.data / SETS[name])
        folder = index_for(name, documents, args.work)
        if args.build_only:
            continue
        half = [d for d in dialogues if is_tune(d.doc_id) == (args.half == "tune")]
        if args.max_dialogues:
            half = half[: args.max_dialogues]
        bot = qa.load(folder)
        start = time.perf_counter()
        result = run_dialogues(bot, half, ("with",) if args.only_with else ("without", "with"))
        results[name] = summary(result) | {"dialogues": len(half), "seconds": round(time.perf_counter() - start, 1)}
        logger.info("%s %s: %s", name, args.half, json.dumps(results[name]))
    if results:
        sys.stdout.write(table(results) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps({"half": args.half, "results": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
