"""Training and calibration examples for the reader, made from SQuAD files.

Every example is one question paired with one passage, cut from a SQuAD
paragraph the way the engine cuts documents (``qa.documents.chunking``: whole sentences,
at most ``DEFAULT_MAX_WORDS`` words), so the reader is trained on the kind of
text it reads at query time.  An example is answerable when its passage holds
the answer span, else it is a negative (no-answer) example.

Negatives come from four sources (``Example.source``):

* ``squad2``: SQuAD 2.0's own unanswerable questions (train slice and the
  training articles of ``squad2_dev_tune.json``), paired with the passage of
  their paragraph that shares most words with the question;
* ``other-passage``: a SQuAD 1.1 question paired with the passage of its own
  article (another paragraph, or another passage of its paragraph) that shares
  most words with it but does not contain the answer;
* ``swap``: a SQuAD 1.1 question whose anchor word (a name, number or content
  word found in its passage) is swapped for another word of the same kind from
  its article that the passage does not contain ("defense minister" for
  "foreign minister"), paired with its own passage;
* none else: no negative is generated from another article.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from qa.documents.chunking import DEFAULT_MAX_WORDS, chunk_sentences, split_sentences
from qa.types import Document

WORD = re.compile(r"[A-Za-z][A-Za-z'\-]+|\d[\d,.]*")
STOP = frozenset(
    "a an the of in on at to for from by with and or is are was were be been being what which who whom whose when "
    "where why how did does do that this these those it its as into than then there their they he she his her not "
    "no can could would should may might will many much some any other after before during about between".split()
)


@dataclass(frozen=True)
class Example:
    """One question with one passage.

    Attributes:
        question: The question.
        context: The passage text.
        answer_start: Character offset of the answer in ``context``; -1 when the passage does not answer.
        answer_text: The answer, ``""`` for a negative.
        source: How the example was made (see the module docstring), or ``"answer"``.
        article: Title of the SQuAD article it came from.
    """

    question: str
    context: str
    answer_start: int
    answer_text: str
    source: str
    article: str


def read_squad(path: Path) -> list[dict]:
    """The ``data`` list of a SQuAD JSON file (``.json`` or ``.json.gz``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)["data"]


def passages_of(context: str, max_words: int = DEFAULT_MAX_WORDS) -> list[tuple[int, int]]:
    """(start, end) offsets of the passages the engine would cut from one paragraph."""
    doc = Document("p", "", context)
    sentences = split_sentences(doc)
    if not sentences:
        return []
    return [(c.start, c.end) for c in chunk_sentences(doc, sentences, max_words, overlap=1)]


def words(text: str) -> set[str]:
    """Lower-cased content words of a text."""
    return {w.lower() for w in WORD.findall(text) if w.lower() not in STOP}


def overlap(question_words: set[str], text: str) -> int:
    """How many of the question's content words occur in ``text``."""
    return len(question_words & words(text))


def _containing(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    for s, e in spans:
        if s <= start and end <= e:
            return s, e
    return None


@dataclass(frozen=True)
class _Question:
    article: str
    paragraph: int
    question: str
    answers: list[tuple[int, str]]
    ambiguous: bool


def _articles(data: list[dict]) -> Iterator[tuple[str, list[str], list[_Question]]]:
    for article in data:
        contexts = [p["context"] for p in article["paragraphs"]]
        questions = []
        for i, paragraph in enumerate(article["paragraphs"]):
            for q in paragraph["qas"]:
                answers = [] if q.get("is_impossible") else [(a["answer_start"], a["text"]) for a in q["answers"]]
                ambiguous = any(a.get("ambiguous") for a in q["answers"])
                questions.append(_Question(article["title"], i, q["question"], answers, ambiguous))
        yield article["title"], contexts, questions


def _positive(q: _Question, context: str, spans: list[tuple[int, int]]) -> Example | None:
    for start, text in q.answers:
        if context[start : start + len(text)] != text or not text.strip():
            continue
        span = _containing(spans, start, start + len(text))
        if span is not None:
            s, e = span
            return Example(q.question, context[s:e], start - s, text, "answer", q.article)
    return None


def _best_passage(question: str, candidates: list[str]) -> str | None:
    qw = words(question)
    scored = [(overlap(qw, c), -i, c) for i, c in enumerate(candidates)]
    return max(scored)[2] if scored else None


def _swap(q: _Question, passage: str, vocabulary: dict[str, list[str]], rng: random.Random) -> str | None:
    """The question with one anchor word swapped for one of the same kind the passage lacks."""
    tokens = list(WORD.finditer(q.question))
    passage_words = words(passage)
    rng.shuffle(tokens)
    for m in tokens:
        word = m.group()
        low = word.lower()
        if low in STOP or low not in passage_words or m.start() == 0 and not word[0].isdigit():
            continue
        kind = "number" if word[0].isdigit() else "name" if word[0].isupper() else "word"
        if kind == "word" and len(word) < 5:
            continue
        pool = [w for w in vocabulary[kind] if w.lower() not in passage_words and w.lower() != low]
        if not pool:
            continue
        new = rng.choice(pool)
        return q.question[: m.start()] + new + q.question[m.end() :]
    return None


def _vocabulary(contexts: list[str]) -> dict[str, list[str]]:
    kinds: dict[str, set[str]] = {"number": set(), "name": set(), "word": set()}
    for context in contexts:
        for i, m in enumerate(WORD.finditer(context)):
            w = m.group().rstrip(".,")
            if not w or w.lower() in STOP:
                continue
            if w[0].isdigit():
                kinds["number"].add(w)
            elif w[0].isupper() and i > 0:
                kinds["name"].add(w)
            elif len(w) >= 5:
                kinds["word"].add(w)
    return {k: sorted(v) for k, v in kinds.items()}


def examples_from(
    data: list[dict],
    rng: random.Random,
    max_questions: int | None = None,
    other_rate: float = 0.0,
    swap_rate: float = 0.0,
    real_negatives: bool = True,
    skip_ambiguous: bool = True,
    exclude: set[tuple[str, str]] | None = None,
) -> list[Example]:
    """Examples from SQuAD articles.

    Args:
        data: The ``data`` list of a SQuAD file.
        rng: Random source (decides sampling and swaps).
        max_questions: Answerable questions to keep (a random sample), None for all.
        other_rate: Share of kept answerable questions that also yield an ``other-passage`` negative.
        swap_rate: Share of kept answerable questions that also yield a ``swap`` negative.
        real_negatives: Keep the file's unanswerable questions (SQuAD 2.0).
        skip_ambiguous: Drop answers whose position in the paragraph is unknown.
        exclude: ``(article title, question)`` keys never to sample (those an earlier round used).

    Returns:
        The examples, in file order.
    """
    chosen: set[tuple[str, str]] | None = None
    if max_questions is not None:
        keys = [(q.article, q.question) for _, _, qs in _articles(data) for q in qs if q.answers]
        if exclude:
            keys = [k for k in keys if k not in exclude]
        chosen = set(rng.sample(keys, min(max_questions, len(keys))))
    out: list[Example] = []
    for title, contexts, questions in _articles(data):
        spans = [passages_of(c) for c in contexts]
        texts = [[c[s:e] for s, e in sp] for c, sp in zip(contexts, spans)]
        vocabulary = _vocabulary(contexts) if swap_rate else {}
        for q in questions:
            context = contexts[q.paragraph]
            if not q.answers:
                if real_negatives:
                    best = _best_passage(q.question, texts[q.paragraph])
                    if best is not None:
                        out.append(Example(q.question, best, -1, "", "squad2", title))
                continue
            if chosen is not None and (title, q.question) not in chosen or skip_ambiguous and q.ambiguous:
                continue
            positive = _positive(q, context, spans[q.paragraph])
            if positive is None:
                continue
            out.append(positive)
            answer_lows = {text.lower() for _, text in q.answers}
            if other_rate and rng.random() < other_rate:
                pool = [
                    t for i, ts in enumerate(texts) for t in ts
                    if t != positive.context and not any(a in t.lower() for a in answer_lows)
                ]
                best = _best_passage(q.question, pool)
                if best is not None:
                    out.append(Example(q.question, best, -1, "", "other-passage", title))
            if swap_rate and rng.random() < swap_rate:
                swapped = _swap(q, positive.context, vocabulary, rng)
                if swapped is not None:
                    out.append(Example(swapped, positive.context, -1, "", "swap", title))
    return out


def write_examples(path: Path, examples: list[Example]) -> None:
    """Write examples as JSON lines."""
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")


def read_examples(path: Path) -> list[Example]:
    """Read examples written by :func:`write_examples`."""
    with open(path, encoding="utf-8") as f:
        return [Example(**json.loads(line)) for line in f if line.strip()]


def made_negatives(path: Path | None, count: int, rng: random.Random) -> list[Example]:
    """``count`` examples sampled from ``eval/training/make_negatives.py``'s ``negatives.jsonl`` (all when it has fewer).

    Raises:
        SystemExit: A round asks for negatives and ``path`` is None.
    """
    if not count:
        return []
    if path is None:
        raise SystemExit(f"this round trains on {count} made negatives: pass --negatives FILE (eval/training/make_negatives.py's negatives.jsonl)")
    made = read_examples(path)
    return rng.sample(made, min(count, len(made)))


def negatives_record(path: Path) -> dict:
    """What a card says of a negatives file: its hash, and ``stats.json`` beside it (the generator's seed and
    counts per kind) less the article list."""
    import hashlib

    stats_path = path.with_name("stats.json")
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
    stats.pop("articles", None)
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "made_by": "eval/training/make_negatives.py",
            **stats}
