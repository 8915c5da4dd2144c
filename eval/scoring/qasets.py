"""Evaluation sets: SQuAD v1.1/v2.0 JSON and our own article JSONL.

Everything here is pure data loading; nothing imports :mod:`qa`. Documents are
plain :class:`EvalDoc` records that the run script turns into ``qa.Document``.

All gold spans are ``(doc_id, start, end)`` character offsets into the
document text (end exclusive), so ``doc.text[start:end]`` is the gold text.

Importable as ``eval.scoring.qasets`` (cwd = repo root).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TUNE = "tune"
HELDOUT = "heldout"
SPLITS = (TUNE, HELDOUT)
PARAGRAPH_SEPARATOR = "\n\n"

GoldSpan = tuple[str, int, int]


@dataclass(frozen=True)
class EvalDoc:
    """A document to index for an evaluation set.

    Attributes:
        doc_id: Stable identifier (the SQuAD article title, or the article id).
        title: Human-readable title.
        text: Full text; gold span offsets refer to it.
    """

    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class EvalItem:
    """One evaluation question.

    Attributes:
        id: Question id (unique within its set).
        question: The question text.
        answerable: False if the documents do not answer the question.
        answers: Accepted short answer strings (empty when unanswerable).
        gold_spans: ``(doc_id, start, end)`` evidence spans in document
            coordinates (empty when unanswerable).
        split: ``"tune"`` or ``"heldout"``.
    """

    id: str
    question: str
    answerable: bool
    answers: tuple[str, ...]
    gold_spans: tuple[GoldSpan, ...]
    split: str


@dataclass(frozen=True)
class EvalSet:
    """A named set of documents and questions about them.

    Attributes:
        name: Set name (the file stem).
        documents: Documents to index.
        items: Questions, in file order.
    """

    name: str
    documents: tuple[EvalDoc, ...]
    items: tuple[EvalItem, ...]

    def subset(self, split: str) -> tuple[EvalItem, ...]:
        """Return the items of one split (``"tune"`` or ``"heldout"``)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return tuple(item for item in self.items if item.split == split)


def hash_split(key: str, heldout_fraction: float = 0.5) -> str:
    """Assign a split deterministically from a key (stable across runs and machines).

    Args:
        key: Any string, typically a question id.
        heldout_fraction: Expected fraction of keys sent to ``"heldout"``.

    Returns:
        ``"heldout"`` or ``"tune"``.
    """
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return HELDOUT if bucket / 2**64 < heldout_fraction else TUNE


def _dedupe(values: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def load_squad(path: str | Path) -> EvalSet:
    """Load a SQuAD v1.1 or v2.0 JSON file.

    Each article becomes one document whose text is its paragraphs' contexts
    joined with ``"\\n\\n"``; answer offsets are translated into document
    coordinates and checked. Duplicate annotator answers are collapsed.
    Questions without ``is_impossible`` (v1.1) are answerable. Splits are
    assigned 50/50 by a hash of the question id.

    Args:
        path: Path to the JSON file.

    Returns:
        The evaluation set, named after the file stem.

    Raises:
        ValueError: If an answer's ``answer_start`` does not point at its text,
            if an answerable question has no answers, or if ids repeat.
    """
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    documents: list[EvalDoc] = []
    items: list[EvalItem] = []
    seen_ids: set[str] = set()
    for article in data["data"]:
        doc_id = article["title"]
        contexts = [p["context"] for p in article["paragraphs"]]
        doc_text = PARAGRAPH_SEPARATOR.join(contexts)
        offset = 0
        for paragraph, context in zip(article["paragraphs"], contexts):
            for qa in paragraph["qas"]:
                qid = qa["id"]
                if qid in seen_ids:
                    raise ValueError(f"duplicate question id {qid!r}")
                seen_ids.add(qid)
                answerable = not qa.get("is_impossible", False)
                texts: list[str] = []
                spans: list[GoldSpan] = []
                for answer in qa.get("answers", []) if answerable else []:
                    text = answer["text"]
                    start = offset + answer["answer_start"]
                    if doc_text[start : start + len(text)] != text:
                        raise ValueError(
                            f"question {qid!r}: answer {text!r} not found at "
                            f"answer_start={answer['answer_start']}"
                        )
                    texts.append(text)
                    spans.append((doc_id, start, start + len(text)))
                if answerable and not spans:
                    raise ValueError(f"question {qid!r} is answerable but has no answers")
                items.append(
                    EvalItem(
                        id=qid,
                        question=qa["question"],
                        answerable=answerable,
                        answers=_dedupe(texts),
                        gold_spans=_dedupe(spans),
                        split=hash_split(qid),
                    )
                )
            offset += len(context) + len(PARAGRAPH_SEPARATOR)
        documents.append(EvalDoc(doc_id=doc_id, title=doc_id.replace("_", " "), text=doc_text))
    logger.info("loaded %s: %d documents, %d questions", path, len(documents), len(items))
    return EvalSet(name=path.stem, documents=tuple(documents), items=tuple(items))


def load_article_set(
    path: str | Path, article_text: str, doc_id: str, title: str | None = None
) -> EvalSet:
    """Load our JSONL question file about a single article.

    Each line is ``{"id", "question", "answerable", "answers", "evidence",
    "split"}``; every evidence string must occur verbatim in ``article_text``
    and becomes a gold span at its first occurrence.

    Args:
        path: Path to the JSONL file.
        article_text: The article text the evidence strings refer to.
        doc_id: Document id to use in gold spans.
        title: Document title (defaults to ``doc_id``).

    Returns:
        The evaluation set (one document), named after the file stem.

    Raises:
        ValueError: If an evidence string is missing from the article, a split
            is unknown, ids repeat, or answers/evidence contradict ``answerable``.
    """
    path = Path(path)
    items: list[EvalItem] = []
    seen_ids: set[str] = set()
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        item_id = row["id"]
        if item_id in seen_ids:
            raise ValueError(f"{path}:{line_no}: duplicate id {item_id!r}")
        seen_ids.add(item_id)
        if row["split"] not in SPLITS:
            raise ValueError(f"item {item_id!r}: unknown split {row['split']!r}")
        answerable = bool(row["answerable"])
        if answerable != bool(row["answers"]) or answerable != bool(row["evidence"]):
            raise ValueError(
                f"item {item_id!r}: answerable={answerable} needs "
                f"{'non-empty' if answerable else 'empty'} answers and evidence"
            )
        spans: list[GoldSpan] = []
        for evidence in row["evidence"]:
            start = article_text.find(evidence)
            if start == -1:
                raise ValueError(f"item {item_id!r}: evidence not found in article: {evidence!r}")
            spans.append((doc_id, start, start + len(evidence)))
        items.append(
            EvalItem(
                id=item_id,
                question=row["question"],
                answerable=answerable,
                answers=tuple(row["answers"]),
                gold_spans=tuple(spans),
                split=row["split"],
            )
        )
    document = EvalDoc(doc_id=doc_id, title=title or doc_id, text=article_text)
    logger.info("loaded %s: %d questions", path, len(items))
    return EvalSet(name=path.stem, documents=(document,), items=tuple(items))


def load_any(
    path: str | Path,
    article_text: str | None = None,
    doc_id: str | None = None,
    title: str | None = None,
) -> EvalSet:
    """Load an evaluation set, choosing the format by file suffix.

    Args:
        path: ``.json`` (SQuAD) or ``.jsonl`` (our article format).
        article_text: Article text; required for ``.jsonl``.
        doc_id: Document id; required for ``.jsonl``.
        title: Optional document title for ``.jsonl``.

    Returns:
        The evaluation set.

    Raises:
        ValueError: On an unknown suffix, or ``.jsonl`` without article/doc_id.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_squad(path)
    if suffix == ".jsonl":
        if article_text is None or doc_id is None:
            raise ValueError(f"{path}: a .jsonl set needs article_text and doc_id")
        return load_article_set(path, article_text, doc_id, title)
    raise ValueError(f"{path}: unsupported suffix {suffix!r} (expected .json or .jsonl)")
