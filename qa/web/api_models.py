"""The JSON bodies of the HTTP API (:mod:`qa.web.api`): requests, responses and errors.

Response objects that mirror :mod:`qa.types` allow extra fields, so a field added to
:class:`qa.Answer` (or to what it holds) is served and documented as allowed without a change here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class AnswerOut(_Open):
    """An answer: the same fields as ``qa ask --json`` (and any field :class:`qa.Answer` gains)."""

    question: str
    text: str
    abstained: bool
    confidence: float
    citations: list[CitationOut]
    passages: list[PassageOut]
    phrase: SpanOut | None = None


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
