"""The JSON bodies of the HTTP API (:mod:`qa.web.api`): requests, responses and errors.

Response objects that mirror :mod:`qa.types` allow extra fields, so a field added to
:class:`qa.Answer` (or to what it holds) is served and documented as allowed without a change here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qa.web.settings import DEFAULT_TOP_K, MAX_TOP_K


class AskRequest(BaseModel):
    """A question (``POST /v1/ask`` and ``POST /v1/retrieve``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(min_length=1, description="The question; white space is normalised and it is cut at 2,000 characters.")
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description=f"Passages retrieved, 1-{MAX_TOP_K}.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty: ask a question with at least one word")
        return value


MAX_HISTORY_TURNS = 20
"""Most earlier turns a request may send (the engine reads the last 3; the body limit counts them all)."""


class HistoryCitation(BaseModel):
    """Where an earlier answer was quoted from: a citation as ``POST /v1/ask`` returned it (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    doc_id: str = Field(min_length=1, description="The cited document.")
    start: int = Field(ge=0, description="Offset of the quote's first character.")
    end: int = Field(ge=0, description="Offset one past its last character.")
    quote: str = Field("", description="The quoted text (optional).")

    @model_validator(mode="after")
    def _ordered(self) -> HistoryCitation:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start}): send the citation as the API returned it")
        return self


class HistoryCandidate(BaseModel):
    """The closest sentence of an earlier unconfirmed answer: its citation is read (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    citation: HistoryCitation


class HistoryTurn(BaseModel):
    """An earlier turn of the conversation: an answer as ``POST /v1/ask`` returned it.

    Only ``question``, ``text``, ``citations`` and (for an unconfirmed answer) ``candidate``'s citation are read;
    other fields of the answer (``passages``, ``confidence`` ...) are accepted and ignored, but count in the body
    limit: send those.
    """

    model_config = ConfigDict(extra="ignore", strict=True)

    question: str = Field(min_length=1, max_length=2000, description="The question asked.")
    text: str = Field(description='The answer\'s text ("" when it was declined); required: a turn without it cannot be read.')
    citations: list[HistoryCitation] = Field(default_factory=list, max_length=20, description="The answer's citations, first first.")
    candidate: HistoryCandidate | None = Field(
        None, description="An unconfirmed answer's closest sentence: its citation gives the follow-up its document, like an answer's."
    )

    @field_validator("question")
    @classmethod
    def _asked(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is empty: send the question that was asked")
        return value


class ConversationRequest(AskRequest):
    """A question, with the earlier turns of its conversation (``POST /v1/ask``)."""

    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description="Earlier turns of this conversation, oldest first, each an answer as this endpoint returned it "
        "(`question`, `text`, `citations`). A follow-up that depends on them is searched with their topic words "
        "in the documents they cited; the answer's `follow_up` says what was used. The server keeps no state: "
        f"send the history with every question (at most {MAX_HISTORY_TURNS} turns; the last 3 count).",
    )


class _Open(BaseModel):
    """A response object that may carry fields added after this schema was written."""

    model_config = ConfigDict(extra="allow")


class SpanOut(_Open):
    """The exact answer phrase: ``document.text[start:end] == text``."""

    doc_id: str
    start: int
    end: int
    text: str


class CitationOut(_Open):
    """One quoted sentence with its document, character offsets and (for a PDF) 1-based page."""

    number: int
    doc_id: str
    title: str
    quote: str
    start: int
    end: int
    score: float
    passage_id: int
    page: int | None = None


class PassageOut(_Open):
    """A retrieved passage (evidence, or related when the answer is abstained)."""

    doc_id: str
    passage_id: int
    text: str
    start: int
    end: int
    score: float
    title: str


class FollowUpOut(_Open):
    """What a follow-up took from the conversation: the earlier turn (its position in ``history``), the words
    added to the search and the documents preferred."""

    turn: int
    question: str
    terms: list[str]
    doc_ids: list[str]


class CandidateOut(_Open):
    """The closest sentence of an unconfirmed answer: the sentence, its citation (numbered 1), the reader's phrase
    inside it and the confidence (below the answer threshold)."""

    text: str
    citation: CitationOut
    phrase: SpanOut | None = None
    confidence: float


STATUS_DESCRIPTION = (
    "How sure the engine is. `answered`: the cited sentences answer the question (confidence at or above the "
    "answer threshold). `unconfirmed`: no answer could be confirmed; `candidate` holds the closest sentence in the "
    "documents, with its citation, to be checked before relying on it (`text` is empty and `citations` too). "
    "`declined`: nothing relevant in the documents (`candidate` is null). `abstained` is true unless `answered`."
)


class AnswerOut(_Open):
    """An answer: the same fields as ``qa ask --json`` (and any field :class:`qa.Answer` gains)."""

    question: str
    text: str
    abstained: bool
    confidence: float
    citations: list[CitationOut]
    passages: list[PassageOut]
    phrase: SpanOut | None = None
    candidate: CandidateOut | None = Field(None, description="Set exactly when `status` is `unconfirmed`: the closest sentence.")
    follow_up: FollowUpOut | None = None
    status: Literal["answered", "unconfirmed", "declined"] = Field(description=STATUS_DESCRIPTION)
    question_cut: str | None = Field(
        None, description="Only when the question was over 2,000 characters: says so; `question` then holds the part that was read."
    )


class RetrieveOut(BaseModel):
    """The question and the passages that best match it, best first."""

    question: str
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    """An indexed document."""

    doc_id: str
    title: str
    pages: int | None = None
    added: bool = Field(description="Added with an upload or `qa add` (its file is kept with the index).")


class DocumentsOut(BaseModel):
    """The indexed documents, in index order."""

    documents: list[DocumentOut]


class AddedOut(BaseModel):
    """A document added (or replacing one of the same name) by an upload."""

    doc_id: str
    title: str
    pages: int | None = None
    replaced: bool


class SkippedOut(BaseModel):
    """An uploaded file that was not indexed, with the reason."""

    file: str
    reason: str


class AddReportOut(BaseModel):
    """What an upload did."""

    added: list[AddedOut]
    unchanged: list[str]
    skipped: list[SkippedOut]
    documents: int = Field(description="Documents in the index now.")


class RemoveReportOut(BaseModel):
    """What a removal did."""

    removed: list[str]
    documents: int


class InfoDocumentOut(BaseModel):
    """A document of the index, as ``GET /v1/info`` lists it."""

    doc_id: str
    title: str


class InfoOut(_Open):
    """What is indexed and served."""

    version: str
    documents: list[InfoDocumentOut]
    passages: int
    sentences: int
    model: str
    dimension: int
    index: str
    built_at: str
    backend: str
    uploads: bool


class HealthOut(BaseModel):
    """The server is up."""

    status: str


class ErrorOut(BaseModel):
    """Every error: a short code, one line for people, and the request field at fault (if any)."""

    error: str
    message: str
    field: str | None = None


class PageOut(BaseModel):
    """A page of a PDF, scan or image with a quote boxed (``GET /v1/documents/{doc_id}/pages/{page}?format=json``)."""

    doc_id: str
    page: int = Field(description="The 1-based page number.")
    width: int = Field(description="Width of the page image in pixels (GET without format=json returns it as PNG).")
    height: int = Field(description="Its height in pixels.")
    dpi: int
    boxes: list[list[int]] = Field(description="[x0, y0, x1, y1] in the image's pixels, one per line of the quote (start-end).")
    phrase_boxes: list[list[int]] = Field(description="The same for the answer phrase (phrase_start-phrase_end).")
    read_by: str = Field(description='"text layer" (the PDF\'s characters) or "ocr" (the words tesseract read).')
    deskew: float = Field(description="Degrees a scanned page was turned to straighten it before OCR (the image shown is straightened).")
