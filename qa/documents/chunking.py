"""Split documents into sentences (pysbd) and passages of whole sentences, with offsets."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.types import Document, Sentence

DEFAULT_MAX_WORDS = 100
DEFAULT_OVERLAP = 1
PASSAGE_BOUNDARY = "blank-line"
"""Passages never cross a blank line (a paragraph break); recorded in index manifests."""
_PARAGRAPH = re.compile(r"[^\n]+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


@dataclass(frozen=True)
class ChunkSpec:
    """A passage before it is indexed: a run of sentences of one document.

    Attributes:
        doc_id: Document the passage belongs to.
        start: Offset of the first character in the document text.
        end: Offset one past the last character.
        first_sentence: Index (into the document's sentence list) of the first sentence.
        last_sentence: Index one past the last sentence.
    """

    doc_id: str
    start: int
    end: int
    first_sentence: int
    last_sentence: int


REGEX_CACHE = 2048
"""Compiled patterns Python's ``re`` keeps (its default, 512, is fewer than the ~800 pysbd builds from strings on
every call: each pattern was recompiled every time, ~1/3 of a build's segmentation; the output is the same)."""


@functools.lru_cache(maxsize=1)
def _segmenter() -> object:
    import re

    import pysbd

    if isinstance(getattr(re, "_MAXCACHE", None), int) and re._MAXCACHE < REGEX_CACHE:
        re._MAXCACHE = REGEX_CACHE  # type: ignore[attr-defined]
    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(doc: Document) -> list[Sentence]:
    """Segment a document into sentences with exact character offsets.

    Each line (paragraph) is segmented on its own, so no sentence spans a line
    break; leading and trailing white space is excluded from every span.

    Args:
        doc: The document.

    Returns:
        Sentences in document order; ``doc.text[s.start:s.end]`` is the sentence.
    """
    segmenter = _segmenter()
    sentences: list[Sentence] = []
    for para in _PARAGRAPH.finditer(doc.text):
        base, chunk = para.start(), para.group()
        if not chunk.strip():
            continue
        cursor = 0
        for piece in segmenter.segment(chunk):  # type: ignore[attr-defined]
            piece = piece.strip()
            if not piece:
                continue
            found = chunk.find(piece, cursor)
            if found < 0:  # the segmenter altered the text; fall back to the rest of the line
                rest = chunk[cursor:]
                found = cursor + (len(rest) - len(rest.lstrip()))
                piece = rest.strip()
                if not piece:
                    break
            sentences.append(Sentence(doc.doc_id, base + found, base + found + len(piece)))
            cursor = found + len(piece)
        tail = chunk[cursor:].strip()
        if tail:  # text the segmenter dropped is kept as a sentence of its own
            found = chunk.find(tail, cursor)
            sentences.append(Sentence(doc.doc_id, base + found, base + found + len(tail)))
    return sentences


def chunk_sentences(
    doc: Document,
    sentences: Sequence[Sentence],
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
) -> list[ChunkSpec]:
    """Group consecutive sentences into passages of about ``max_words`` words.

    A passage holds whole sentences only: at least one, and more while the word
    count stays within ``max_words``, and never across a blank line (a
    paragraph break).  Consecutive passages of one paragraph share ``overlap``
    sentences.

    Args:
        doc: The document the sentences belong to.
        sentences: Its sentences, in order.
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.

    Returns:
        The passages, in document order.

    Raises:
        ValueError: ``max_words`` < 1 or ``overlap`` < 0.
    """
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1. Currently, max_words is {max_words}.")
    if overlap < 0:
        raise ValueError(f"overlap must be 0 or more. Currently, overlap is {overlap}.")
    words = [len(doc.text[s.start : s.end].split()) for s in sentences]
    # breaks[k]: a blank line lies between sentence k - 1 and sentence k
    breaks = [False] + [bool(_BLANK_LINE.search(doc.text, a.end, b.start)) for a, b in zip(sentences, sentences[1:])]
    chunks: list[ChunkSpec] = []
    i, n = 0, len(sentences)
    while i < n:
        j, total = i + 1, words[i]
        while j < n and not breaks[j] and total + words[j] <= max_words:
            total += words[j]
            j += 1
        chunks.append(ChunkSpec(doc.doc_id, sentences[i].start, sentences[j - 1].end, i, j))
        if j >= n:
            break
        i = j if breaks[j] else max(j - overlap, i + 1)
    return chunks
