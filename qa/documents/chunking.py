"""Split documents into sentences (pysbd) and passages of whole sentences, with offsets.

Headings are told from sentences by the text alone (:func:`heading_lines`), as the readers of
structured formats lay them out (:mod:`qa.documents.layout`): a heading is no sentence, so it
is never an answer, but it opens the passage of its section, so its words still lead retrieval
there.  No sentence is longer than ``MAX_SENTENCE_CHARS`` and no passage longer than
``MAX_PASSAGE_CHARS``: a longer run of text without a sentence break is cut at word boundaries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa.types import Document, Sentence

DEFAULT_MAX_WORDS = 100
DEFAULT_OVERLAP = 1
PASSAGE_BOUNDARY = "blank-line; headings open passages; sentences capped at 5000 characters"
"""How passages are cut, recorded in index manifests (an index cut otherwise is embedded again): never across
a blank line (a paragraph break); a heading is no sentence but opens its section's first passage; sentences
over ``MAX_SENTENCE_CHARS`` are cut at word boundaries."""
MAX_SENTENCE_CHARS = 5000
"""Longest sentence kept whole; a longer one is cut at word boundaries.  Twice the longest of the 94,360 sentences
of SQuAD's 19,418 paragraphs (2,458 characters, a list of alumni; 99.99% are under 1,060)."""
MAX_PASSAGE_CHARS = 10_000
"""A passage takes no further sentence past this many characters (so no passage is longer, but for its first sentence)."""
SEGMENT_WINDOW_CHARS = 20_000
"""A longer line is handed to the segmenter in windows of about this size, cut after a sentence end or space."""
HEADING_MAX_WORDS = 15
"""A heading has at most this many words."""
_PARAGRAPH = re.compile(r"[^\n]+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_ENDS_SENTENCE = re.compile(r"""[.!…:;,]["'”’»)\]]*$""")
_INNER_END = re.compile(r"""[.!?…]["'”’»)\]]*\s+\S""")
_LABEL = re.compile(r"\S:\s+\S")
_VALUE = re.compile(r"[\d@]")


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


def is_heading_shaped(line: str) -> bool:
    """Whether one line reads as a heading: a few words, not a sentence, not a "label: value" line.

    True for at most ``HEADING_MAX_WORDS`` words that do not end as a sentence does (a question mark
    is allowed: a question answers nothing), hold no sentence break inside and no ``"Label: value"``.
    """
    words = line.split()
    if not words or len(words) > HEADING_MAX_WORDS:
        return False
    stripped = line.strip()
    return not (_ENDS_SENTENCE.search(stripped) or _INNER_END.search(stripped) or _LABEL.search(stripped))


def heading_lines(text: str) -> list[tuple[int, int]]:
    """The headings of a text: ``(start, end)`` of each line that is one, stripped, in order.

    A heading is a heading-shaped line (:func:`is_heading_shaped`) that starts a block (it is the
    text's first line, or a blank line comes before it) and is followed by its section: the next
    line, with no blank line between, or after a blank line another heading ("Title", blank line,
    "Section", its text); a line with digits or ``@`` followed by another heading-shaped line is
    a list of values ("Phone 555 1234", "Email desk@x"), no heading.  This is how :mod:`qa.documents.layout` writes the headings of Markdown,
    HTML and Word documents, and how :mod:`qa.documents.pdf` writes a PDF's; in plain text, a
    short line after a blank line that leads into the next line reads the same way.  The last line
    of a text is never a heading.
    """
    lines: list[tuple[int, int, bool]] = []  # (start, end, blank line before)
    blank_before, offset = True, 0
    for raw in text.split("\n"):
        if raw.strip():
            lead = len(raw) - len(raw.lstrip())
            lines.append((offset + lead, offset + len(raw.rstrip()), blank_before))
            blank_before = False
        else:
            blank_before = True
        offset += len(raw) + 1
    found: list[tuple[int, int]] = []
    next_is_heading = False
    for k in range(len(lines) - 2, -1, -1):  # the last line is never a heading
        start, end, blank = lines[k]
        line, (next_start, next_end, next_blank) = text[start:end], lines[k + 1]
        if not next_blank:  # its section follows, unless it is a label over another ("Phone 555 1234", "Email x@y")
            follows = not _VALUE.search(line) or not is_heading_shaped(text[next_start:next_end])
        else:  # or another heading after a blank line
            follows = next_is_heading
        next_is_heading = blank and follows and is_heading_shaped(line)
        if next_is_heading:
            found.append((start, end))
    found.reverse()
    return found


def _windows(line: str) -> list[tuple[int, str]]:
    """A line in pieces of at most about ``SEGMENT_WINDOW_CHARS`` for the segmenter, with their offsets in it."""
    if len(line) <= SEGMENT_WINDOW_CHARS:
        return [(0, line)]
    pieces, start = [], 0
    while len(line) - start > SEGMENT_WINDOW_CHARS:
        limit = start + SEGMENT_WINDOW_CHARS
        window = line[start:limit]
        cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        cut = cut + 2 if cut > SEGMENT_WINDOW_CHARS // 2 else _word_cut(window, SEGMENT_WINDOW_CHARS)
        pieces.append((start, line[start : start + cut]))
        start += cut
    pieces.append((start, line[start:]))
    return pieces


def _word_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``) at most ``limit`` characters in: after its last space in the
    second half, else (no space there) at ``limit`` itself, never between a surrogate pair's halves."""
    space = max(text.rfind(" ", 0, limit + 1), text.rfind("\t", 0, limit + 1))
    if space > limit // 2:
        return space + 1
    if "\ud800" <= text[limit - 1] <= "\udbff":
        return limit - 1
    return limit


def cap_span(text: str, start: int, end: int, limit: int = MAX_SENTENCE_CHARS) -> list[tuple[int, int]]:
    """Cut the span ``text[start:end]`` into spans of at most ``limit`` characters at word boundaries, stripped.

    Args:
        text: The document text.
        start: Start of the span.
        end: End of the span (exclusive).
        limit: Longest span kept whole.

    Returns:
        ``[(start, end)]`` when the span fits, else its pieces in order; white space between them
        belongs to none (a run of text with no space is cut at ``limit``).
    """
    spans: list[tuple[int, int]] = []
    while end - start > limit:
        cut = start + _word_cut(text[start:end], limit)
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        spans.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append((start, end))
    return spans


def split_sentences(doc: Document) -> list[Sentence]:
    """Segment a document into sentences with exact character offsets.

    Each line (paragraph) is segmented on its own, so no sentence spans a line
    break; leading and trailing white space is excluded from every span.
    Headings (:func:`heading_lines`) are no sentences, and a sentence over
    ``MAX_SENTENCE_CHARS`` is cut at word boundaries (:func:`cap_span`).

    Args:
        doc: The document.

    Returns:
        Sentences in document order; ``doc.text[s.start:s.end]`` is the sentence.
    """
    segmenter = _segmenter()
    headings = {start for start, _ in heading_lines(doc.text)}
    sentences: list[Sentence] = []

    def add(start: int, end: int) -> None:
        sentences.extend(Sentence(doc.doc_id, a, b) for a, b in cap_span(doc.text, start, end))

    for para in _PARAGRAPH.finditer(doc.text):
        line = para.group()
        if not line.strip():
            continue
        if para.start() + len(line) - len(line.lstrip()) in headings:
            continue
        for offset, chunk in _windows(line):
            base = para.start() + offset
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
                add(base + found, base + found + len(piece))
                cursor = found + len(piece)
            tail = chunk[cursor:].strip()
            if tail:  # text the segmenter dropped is kept as a sentence of its own
                found = chunk.find(tail, cursor)
                add(base + found, base + found + len(tail))
    return sentences


def chunk_sentences(
    doc: Document,
    sentences: Sequence[Sentence],
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
) -> list[ChunkSpec]:
    """Group consecutive sentences into passages of about ``max_words`` words.

    A passage holds whole sentences only: at least one, and more while the word
    count stays within ``max_words`` and its length within ``MAX_PASSAGE_CHARS``,
    and never across a blank line (a paragraph break).  Consecutive passages of
    one paragraph share ``overlap`` sentences.  A passage whose first sentence
    comes right after a heading (on the next line) starts at the heading.

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
    opens = {end: start for start, end in heading_lines(doc.text)}
    chunks: list[ChunkSpec] = []
    i, n = 0, len(sentences)
    while i < n:
        j, total = i + 1, words[i]
        while j < n and not breaks[j] and total + words[j] <= max_words and sentences[j].end - sentences[i].start <= MAX_PASSAGE_CHARS:
            total += words[j]
            j += 1
        start = sentences[i].start
        line = doc.text.rfind("\n", 0, start)
        if line > 0 and not doc.text[line + 1 : start].strip():  # the sentence starts its line
            end = line
            while end > 0 and doc.text[end - 1] in " \t":
                end -= 1
            if end in opens and (i == 0 or sentences[i - 1].end <= opens[end]):  # a heading ends the line before
                start = opens[end]
        chunks.append(ChunkSpec(doc.doc_id, start, sentences[j - 1].end, i, j))
        if j >= n:
            break
        i = j if breaks[j] else max(j - overlap, i + 1)
    return chunks
