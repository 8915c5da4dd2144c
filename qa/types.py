"""Frozen dataclasses for everything that crosses a module or API boundary.

All offsets are character offsets into :attr:`Document.text` (Python ``str``
indices, end exclusive), so ``document.text[start:end]`` is always the quoted
text.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Document:
    """A cleaned source document.

    Attributes:
        doc_id: Stable identifier (path relative to the folder given, or file name).
        title: First heading or short first line, else the file name.
        text: Cleaned text; every offset in the package refers to it.
        source: Where the text came from (a file path, or a label such as ``"<memory>"``); for a
            file added with :func:`qa.add_documents`, ``files/NAME`` inside the index folder.
        page_starts: For a PDF, the offset in :attr:`text` where each page's text starts
            (``page_starts[0] == 0``, non-decreasing); empty for other documents.
        layout: For a PDF or a scan, where each character of :attr:`text` is on its page (the
            mapping made at ingest, :mod:`qa.documents.page_map`); ``""`` for other documents and
            for documents of an index built before qa kept it.
    """

    doc_id: str
    title: str
    text: str
    source: str = "<memory>"
    page_starts: tuple[int, ...] = ()
    layout: str = field(default="", repr=False, compare=False)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding the character at ``offset``; None for a document without pages."""
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :attr:`text` (UTF-8), used to detect changed documents."""
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document, as found by the segmenter.

    Attributes:
        doc_id: Document the sentence belongs to.
        start: Offset of the first character in the document text.
        end: Offset one past the last character.
    """

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A run of consecutive whole sentences, the unit of retrieval.

    Attributes:
        doc_id: Document the passage belongs to.
        passage_id: Position of the passage in the index (0-based, global).
        text: ``document.text[start:end]``.
        start: Offset of the first character in the document text.
        end: Offset one past the last character.
        score: Retrieval score (reciprocal-rank-fusion score, higher is better; 0 when unscored).
        title: Title of the document.
    """

    doc_id: str
    passage_id: int
    text: str
    start: int
    end: int
    score: float = 0.0
    title: str = ""


@dataclass(frozen=True)
class Citation:
    """Where one answer sentence came from.

    Attributes:
        number: The citation's marker number, 1-based (``[1]``, ``[2]`` ...).
        doc_id: Document cited.
        title: Title of that document.
        quote: The cited text, equal to ``document.text[start:end]``.
        start: Offset of the quote's first character.
        end: Offset one past the quote's last character.
        score: Relevance score of the sentence in [0, 1].
        passage_id: Passage the sentence was found in.
        page: The 1-based page of a PDF the quote starts on; None for documents without pages.
    """

    number: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    passage_id: int
    page: int | None = None


@dataclass(frozen=True)
class Span:
    """An exact stretch of a document: ``document.text[start:end] == text``.

    Attributes:
        doc_id: Document it lies in.
        start: Offset of its first character.
        end: Offset one past its last character.
        text: The characters themselves.
    """

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Candidate:
    """The best answer the engine found but could not confirm (status ``"unconfirmed"``).

    Attributes:
        text: The candidate sentence, verbatim.
        citation: Where it is, numbered 1.
        phrase: The reader's answer phrase inside it, or None.
        confidence: The engine's confidence in it (below its answer threshold).
    """

    text: str
    citation: Citation
    phrase: Span | None = None
    confidence: float = 0.0


@dataclass(frozen=True)
class FollowUp:
    """What a follow-up answer took from the conversation (see :mod:`qa.answering.conversation`).

    Attributes:
        turn: Position in the ``history`` given (0 = oldest) of the earlier turn followed up: the most
            recent one whose answer was cited, else the most recent one whose words were added.
        question: That turn's question.
        terms: Words of the earlier questions added to the search, most recent turn first.
        doc_ids: Documents preferred because earlier answers cited them, most recent first.
    """

    turn: int
    question: str
    terms: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()


Status = Literal["answered", "unconfirmed", "declined"]
"""The three outcomes of a question (see :attr:`Answer.status`)."""
STATUSES: tuple[str, ...] = ("answered", "unconfirmed", "declined")
"""The values of :attr:`Answer.status`, most confident first."""


@dataclass(frozen=True)
class Answer:
    """The result of :meth:`qa.QA.ask`.

    Attributes:
        question: The question as asked.
        text: The answer sentence(s), verbatim, joined by a space; ``""`` when abstained.
        abstained: True unless :attr:`status` is ``"answered"``: no answer could be confirmed (see ``candidate``).
        confidence: Estimated probability in [0, 1] that the answer is right.
        citations: One citation per answer sentence, in document order.
        passages: Evidence passages, or the closest ("related") passages when abstained.
        phrase: The exact answer phrase found by the reader, inside one of the cited sentences;
            None when abstained or when the reader is off.
        candidate: Set exactly when :attr:`status` is ``"unconfirmed"``: the best sentence the engine
            found but could not confirm, with its citation, phrase and confidence (shown as not
            confirmed, never as the answer).
        follow_up: For a question read with its conversation (``history``), which earlier turn,
            words and documents were used; None when it was answered on its own.
        status: One of :data:`STATUSES`: ``"answered"`` (confidence at or above the answer threshold:
            the cited sentences answer), ``"unconfirmed"`` (below it: the closest sentence is in
            ``candidate``, to be checked), ``"declined"`` (nothing relevant in the documents).  Left
            out, it follows from ``abstained`` and ``candidate``.

    Raises:
        ValueError: ``status`` is not one of :data:`STATUSES`, or disagrees with ``abstained`` or ``candidate``.
    """

    question: str
    text: str
    abstained: bool
    confidence: float
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    phrase: Span | None = None
    candidate: Candidate | None = None
    follow_up: FollowUp | None = None
    status: Status | None = None

    def __post_init__(self) -> None:
        if self.status is None:
            status = "answered" if not self.abstained else "unconfirmed" if self.candidate is not None else "declined"
            object.__setattr__(self, "status", status)
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}. Currently, status is {self.status!r}.")
        if self.abstained != (self.status != "answered"):
            raise ValueError(f"abstained must be {self.status != 'answered'} for status {self.status!r}, not {self.abstained}")
        if (self.candidate is not None) != (self.status == "unconfirmed"):
            raise ValueError(f"candidate must be set exactly when the status is 'unconfirmed' (status {self.status!r})")


@dataclass(frozen=True)
class PageView:
    """A page of a PDF, a scan or an image, with a quote boxed: the result of :meth:`qa.QA.page_view`.

    Attributes:
        doc_id: The document.
        page: The 1-based page number.
        png: The page as a PNG image, the quote's lines filled with the highlight colour and
            the answer phrase with a stronger one.
        width: The image's width in pixels.
        height: Its height in pixels.
        boxes: Rectangles ``(x0, y0, x1, y1)`` in the image's pixels (``x1``, ``y1`` exclusive),
            one per line, that together cover the quote's characters on this page.
        phrase_boxes: The same for the answer phrase (empty when none was given).
        dpi: The resolution the page was drawn at.
        read_by: Where the boxes come from: ``"text layer"`` (the PDF's characters) or ``"ocr"``
            (tesseract's word boxes on the image that was read).
        deskew: For a page read by OCR, the degrees the image was turned to straighten it before it
            was read (the image shown is the straightened one); 0.0 when it was not.
    """

    doc_id: str
    page: int
    png: bytes = field(repr=False)
    width: int
    height: int
    boxes: tuple[tuple[int, int, int, int], ...] = ()
    phrase_boxes: tuple[tuple[int, int, int, int], ...] = ()
    dpi: int = 150
    read_by: str = "text layer"
    deskew: float = 0.0
