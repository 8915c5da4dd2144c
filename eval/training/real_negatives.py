"""Real unanswerable questions from the conversation files: their standalone ``CANNOTANSWER`` turns.

The files (``../shared/data/conversations/``, QuAC format) hold dialogues; a turn that leans on earlier ones
("What did he do next?") means nothing alone, so only turns that read alone (:func:`stands_alone`) are kept.
The tune/held-out separation of the conversation evaluation is kept: of the dev files only the dialogues with
the tune half of ``eval.scoring.dialogue_split.is_tune`` (the conversation evaluation's split) are used; ``quac_train_0.01.json`` is train data, used whole.
"""

from __future__ import annotations

import json
from pathlib import Path

from eval.training.negative_words import AUX_DO, COPULA, PRONOUNS, WH
from eval.scoring.dialogue_split import is_tune
from eval.training.reader_data import Example, passages_of, words


def stands_alone(question: str) -> bool:
    """Whether a conversation turn reads without the dialogue: a question (wh-word or auxiliary first, "?"
    last) of at least 5 words, with no pronoun, no "else"/"also"/"other" and no leading "and"/"but"/"so"."""
    q = question.strip()
    toks = q.split()
    if len(toks) < 5 or not q.endswith("?") or PRONOUNS.search(q):
        return False
    first = toks[0].lower()
    return first in WH | AUX_DO | COPULA | {"has", "have", "had", "is", "are", "in", "on"} and first not in ("and", "but", "so")


def conversation_negatives(folder: Path) -> tuple[list[Example], dict]:
    """The standalone ``CANNOTANSWER`` turns of every conversation file, each with the passage of its
    dialogue's context sharing most words with it; dev files keep only their tune-half dialogues."""
    out, counts = [], {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        whole = "train" in path.name
        n = [0, 0, 0]
        for item in data:
            for p in item["paragraphs"]:
                if not whole and not is_tune(p["id"]):
                    continue
                context = p["context"].replace("CANNOTANSWER", "").rstrip()
                texts = [context[s:e] for s, e in passages_of(context)]
                for turn in p["qas"]:
                    if not any(a["text"] == "CANNOTANSWER" for a in turn["answers"]):
                        continue
                    n[0] += 1
                    if not stands_alone(turn["question"]) or not texts:
                        continue
                    n[1] += 1
                    qw = words(turn["question"])
                    best = max(texts, key=lambda t: len(qw & words(t)))
                    out.append(Example(turn["question"].strip(), best, -1, "", "cannotanswer", item["title"]))
        counts[path.name] = {"unanswerable_turns_used_half": n[0], "standalone": n[1], "whole_file": whole}
    return out, counts
