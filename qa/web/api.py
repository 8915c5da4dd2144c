"""The JSON HTTP API: ask, retrieve, describe the index, list, add and remove documents.

:func:`create_api` builds a FastAPI app around a loaded engine::

    POST   /v1/ask                {"question": "...", "top_k": 5, "history": [earlier answers]}  -> the answer, as `qa ask --json` prints it
    POST   /v1/retrieve           {"question": "...", "top_k": 5}  -> {"question", "passages"}
    GET    /v1/info               what is indexed, the model, the build time, whether uploads are on
    GET    /v1/documents          the indexed documents
    POST   /v1/documents          multipart "files" -> what was added, unchanged and skipped (with reasons)
    DELETE /v1/documents/{doc_id} remove one document
    GET    /v1/documents/{doc_id}/pages/{page}?start=&end=[&format=json]  the page as PNG with the quote boxed (or the boxes)
    GET    /healthz               {"status": "ok"} (no key needed)

The schema is at ``/openapi.json`` and the docs at ``/docs``.  Every error is a JSON object
``{"error", "message", "field"}`` with a 4xx status naming the bad field (401 without the key,
403 for a write when uploads are off, 404 unknown document, 409 another build running, 413 body
too large, 422 bad input); a failure of the server itself is a 5xx with one line, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import shutil
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Match
from starlette.exceptions import HTTPException as StarletteHTTPException

import qa
from qa.answering.conversation import Turn
from qa.engine import MAX_QUESTION_CHARS
from qa.errors import DocumentNotFoundError, IndexLockedError, QAError
from qa.types import Span
from qa.web.api_models import (
    AddReportOut,
    AnswerOut,
    AskRequest,
    ConversationRequest,
    DocumentsOut,
    ErrorOut,
    HealthOut,
    InfoOut,
    PageOut,
    RemoveReportOut,
    RetrieveOut,
)
from qa.web.leftovers import upload_folder
from qa.web.names import renamed_clashes, upload_name, without_paths
from qa.web.settings import ServerSettings
from qa.serialize import answer_to_json, passages_to_json

logger = logging.getLogger(__name__)

API_PREFIX = "/v1"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MAX_UPLOAD_FILES = 100
"""Most files one upload request may carry (``qa.add_documents``' ``max_files``)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 500: "internal", 503: "unavailable",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": _ERROR_CODES[code].replace("_", " ")} for code in codes}


# --------------------------------------------------------------------------------------------
# errors


class ApiError(Exception):
    """An error answered as JSON with its status.

    Args:
        status: The HTTP status.
        message: One line for the client.
        field: The request field at fault, if any.
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_body(status: int, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON of an error response.

    Args:
        status: The HTTP status.
        message: One line for the client.
        field: The request field at fault, if any.

    Returns:
        ``{"error": code, "message": message, "field": field}``.
    """
    return {"error": _ERROR_CODES.get(status, "error"), "message": message, "field": field}


def _json_error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, field), status_code=status, headers=headers)


def validation_error(errors: list[dict[str, Any]]) -> tuple[int, str, str]:
    """Turn pydantic's validation errors into one status, message and field.

    Args:
        errors: ``RequestValidationError.errors()``.

    Returns:
        ``(status, message, field)``: 400 for a body that is not JSON, else 422.
    """
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "value_error"}
    loc: list[str] = []
    for part in first.get("loc", ()):
        if isinstance(part, int):
            if loc and loc[min(1, len(loc) - 1)].startswith("history"):
                loc[-1] += f"[{part}]"  # history[2].question: the turn at fault
        else:
            loc.append(str(part))
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    field = ".".join(where) or (loc[0] if loc else "body")
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return 400, "the body is not valid JSON: send a JSON object such as {\"question\": \"...\"}", "body"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "missing":
        message = f"{field} is required" if field != "body" else "the body is required: a JSON object such as {\"question\": \"...\"}"
    elif field == "body" and kind in ("model_attributes_type", "dict_type", "model_type"):
        message = "the body must be a JSON object such as {\"question\": \"...\"}"
    elif kind == "extra_forbidden":
        message = f"{field} is not a field of this request"
    elif field != "body" and not message.startswith(field):
        message = f"{field}: {message}"
    return 422, message, field


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _json_error(exc.status, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, field = validation_error(list(exc.errors()))
        return _json_error(status, message, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else _ERROR_CODES.get(exc.status_code, "error").replace("_", " ")
        return _json_error(exc.status_code, message, None, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # logged with its traceback for the operator
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _json_error(500, f"the server failed ({type(exc).__name__}); the error is in its log")


# --------------------------------------------------------------------------------------------
# the key and the body limit, checked before a body is read


class Guard:
    """ASGI middleware for ``/v1``: the bearer key first (401), then the body size (413).

    Args:
        app: The application it wraps.
        api_key: The key every ``/v1`` request must send as ``Authorization: Bearer <key>``; None: no key.
        max_json_bytes: Largest body of a JSON request.
        max_upload_bytes: Largest body of ``POST /v1/documents``.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    @staticmethod
    async def _respond(send: Send, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(error_body(status, message, field)).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    def authorised(self, headers: dict[bytes, bytes]) -> bool:
        """Whether the request carries the key (compared in constant time)."""
        if self.api_key is None:
            return True
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")) or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not self.authorised(headers):
            await self._respond(send, 401, "a valid API key is required: send 'Authorization: Bearer <key>' (QA_API_KEY)",
                                "Authorization", {"www-authenticate": "Bearer"})
            return
        if scope.get("method") == "POST" and path in JSON_PATHS and not _is_json(headers):
            await self._respond(send, 415, UNSUPPORTED_MEDIA_TYPE, "Content-Type")
            return
        upload = path == f"{API_PREFIX}/documents" and scope.get("method") == "POST"
        limit = self.max_upload_bytes if upload else self.max_json_bytes
        what = f"{limit // (1024 * 1024)} MiB" if upload else f"{limit // 1024} KiB"
        too_large = f"the request body is larger than {what}, this server's limit"
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await self._respond(send, 400, "Content-Length must be a number of bytes", "Content-Length")
                return
            if int(declared) > limit:
                await self._respond(send, 413, too_large, "body")
                return
        state = {"received": 0, "refused": False}

        async def limited_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["refused"] = True
                    await self._respond(send, 413, too_large, "body")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not state["refused"]:  # after a 413 the app's own answer is dropped
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise


JSON_PATHS = (f"{API_PREFIX}/ask", f"{API_PREFIX}/retrieve")
"""The endpoints whose body is JSON."""
UNSUPPORTED_MEDIA_TYPE = "the body must be sent as JSON: set the header 'Content-Type: application/json'"


def _is_json(headers: dict[bytes, bytes]) -> bool:
    """Whether a request's body is declared JSON, or it has no body (then 422 says the body is required)."""
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if not kind:
        declared = headers.get(b"content-length", b"0").strip()
        return b"transfer-encoding" not in headers and (not declared.isdigit() or int(declared) == 0)
    return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))


def _documented_key(credentials: HTTPAuthorizationCredentials | None = Security(HTTPBearer(auto_error=False))) -> None:
    """Shows the bearer key in the schema; :class:`Guard` checks it before the body is read."""


# --------------------------------------------------------------------------------------------
# the app


def _refresh(bot: qa.QA) -> None:
    """Pick up an index another worker rebuilt (the engine's auto-reload, at most once a second)."""
    current = getattr(bot, "_current_store", None)
    if callable(current):
        current()


def _upload_name(upload: UploadFile) -> str:
    """The plain file name of an uploaded file (no folders); ApiError (422) for none, a NUL or over 255 bytes."""
    try:
        return upload_name(upload.filename or "")
    except ValueError as exc:
        raise ApiError(422, str(exc), "files") from None


def create_api(bot: qa.QA, settings: ServerSettings) -> FastAPI:
    """The JSON API around a loaded engine (the chat is mounted on it by :mod:`qa.web.server`).

    Args:
        bot: The loaded engine, shared by every request (it is thread-safe).
        settings: Where the index is, whether uploads are on, the key, CORS and the body limits.

    Returns:
        The FastAPI app: ``/v1/...``, ``/healthz``, ``/openapi.json`` and ``/docs``.
    """
    app = FastAPI(
        title="qa",
        version=qa.__version__,
        description="Extractive, cited answers from your documents. Every /v1 request needs "
        "`Authorization: Bearer <key>` when the server has a key (QA_API_KEY).",
        redoc_url=None,
    )
    _add_error_handlers(app)
    builds = threading.Lock()  # one build at a time in this process; other processes meet the index's build lock
    secured = [Security(_documented_key)] if settings.api_key else []
    common = _errors(400, 401, 413, 422) if settings.api_key else _errors(400, 413, 422)

    def ask_engine(request: ConversationRequest) -> qa.Answer:
        history = [
            Turn(t.question, t.text, tuple(Span(c.doc_id, c.start, c.end, c.quote)
                                           for c in (t.citations or ([t.candidate.citation] if t.candidate else []))))
            for t in request.history
        ]
        try:
            if history:
                return bot.ask(request.question, top_k=request.top_k, history=history)
            return bot.ask(request.question, top_k=request.top_k)
        except ValueError as exc:
            raise ApiError(422, without_paths(str(exc)), "history" if str(exc).startswith("history") else "question") from None
        except QAError as exc:
            logger.warning("cannot answer: %s", exc)
            raise ApiError(503, f"the index cannot answer now: {without_paths(str(exc))}") from None

    @app.get("/healthz", response_model=HealthOut, tags=["server"])
    def healthz() -> dict[str, str]:
        """Liveness: the server answers (no key needed)."""
        return {"status": "ok"}

    @app.post(f"{API_PREFIX}/ask", response_model=AnswerOut, responses={**common, **_errors(503)}, dependencies=secured, tags=["answers"])
    def ask(request: ConversationRequest) -> JSONResponse:
        """Answer a question with sentences quoted verbatim from the documents, or abstain.

        The fields are those of `qa ask --json`: `status` (`answered`, `unconfirmed` with the closest
        sentence in `candidate`, or `declined`), `text` (the cited sentences, "" unless answered),
        `abstained`, `confidence`, `phrase` (the exact answer inside a cited sentence, or null),
        `citations` (each quote with its document, character offsets and PDF page), `passages`
        (the evidence, or the related passages when abstained) and `follow_up` (for a question read
        with its `history`: the earlier turn, words and documents used; else null).

        A follow-up ("and who is building it?") sends the earlier answers of the conversation as
        `history`, oldest first: the server keeps no conversation state.
        """
        answered = answer_to_json(ask_engine(request))
        if len(" ".join(request.question.split())) > MAX_QUESTION_CHARS:  # `question` holds what was read
            answered["question_cut"] = f"the question was cut to its first {MAX_QUESTION_CHARS:,} characters; only they were read"
        return JSONResponse(answered)

    @app.post(f"{API_PREFIX}/retrieve", response_model=RetrieveOut, responses={**common, **_errors(503)}, dependencies=secured, tags=["answers"])
    def retrieve(request: AskRequest) -> JSONResponse:
        """The passages that best match a question, best first (no answer is read)."""
        try:
            passages = bot.retrieve(request.question, top_k=request.top_k)
        except ValueError as exc:
            raise ApiError(422, without_paths(str(exc)), "question") from None
        except QAError as exc:
            raise ApiError(503, f"the index cannot answer now: {without_paths(str(exc))}") from None
        read = request.question if len(request.question) <= MAX_QUESTION_CHARS else " ".join(request.question.split())[:MAX_QUESTION_CHARS]
        return JSONResponse({"question": read, "passages": passages_to_json(passages)})

    @app.get(f"{API_PREFIX}/info", response_model=InfoOut, responses=common, dependencies=secured, tags=["index"])
    def info() -> dict[str, Any]:
        """What is indexed: documents, passages, sentences, model, index type, build time, and whether uploads are on."""
        _refresh(bot)
        described = dict(bot.info)
        described.pop("path", None)  # the server's folders are not the client's business
        return {"version": qa.__version__, **described, "uploads": settings.uploads}

    @app.get(f"{API_PREFIX}/documents", response_model=DocumentsOut, responses={**common, **_errors(503)}, dependencies=secured, tags=["documents"])
    def list_documents() -> dict[str, Any]:
        """The indexed documents, in index order (read from the index, so every worker lists the same)."""
        try:
            docs = qa.list_documents(settings.index)
        except QAError as exc:
            raise ApiError(503, f"cannot read the index: {without_paths(str(exc))}") from None
        return {"documents": [{"doc_id": d.doc_id, "title": d.title, "pages": d.pages, "added": d.added} for d in docs]}

    def check_writes() -> None:
        if not settings.uploads:
            raise ApiError(403, f"uploads are off: the server is bound to {settings.host}; start it with --allow-uploads to enable them")

    def reload_engine() -> None:
        try:
            bot.reload()
        except Exception:  # the old index keeps answering; the other workers reload on their own
            logger.exception("reloading the index after a build failed; the previous one keeps answering")

    @app.post(
        f"{API_PREFIX}/documents", response_model=AddReportOut,
        responses={**common, **_errors(403, 409, 500)}, dependencies=secured, tags=["documents"],
    )
    def add_documents(files: list[UploadFile] = File(description="Files to add: .pdf .docx .txt .md .html, at most 50 MiB each")) -> dict[str, Any]:
        """Add files to the index (the chat's upload rules): each file is kept with the index and its
        name becomes the doc_id; a file of a name already indexed replaces that document. Bad files are
        skipped with the reason. Every worker answers from the new index within a second."""
        check_writes()
        if not files:
            raise ApiError(422, "files is empty: send at least one file", "files")
        if len(files) > MAX_UPLOAD_FILES:
            raise ApiError(422, f"{len(files)} files in one request; at most {MAX_UPLOAD_FILES}", "files")
        names = [_upload_name(f) for f in files]
        try:
            indexed = [d.doc_id for d in qa.list_documents(settings.index)]
        except QAError:
            indexed = []  # a new or unreadable index: qa.add_documents says what is wrong
        clashes = renamed_clashes(names, indexed)
        refused = [{"file": name, "reason": clashes[name]} for name in names if name in clashes]
        with upload_folder() as folder:
            paths = []
            for number, (upload, name) in enumerate(zip(files, names)):
                if name in clashes:
                    continue
                path = folder / str(number) / name
                path.parent.mkdir()
                with path.open("wb") as out:
                    shutil.copyfileobj(upload.file, out, 1024 * 1024)
                paths.append(path)
            by_path = {str(p): p.name for p in paths}
            if not paths:
                return {"added": [], "unchanged": [], "skipped": refused, "documents": len(indexed)}
            try:
                with builds:
                    report = qa.add_documents(paths, settings.index, model=bot.embedder, max_files=MAX_UPLOAD_FILES)
            except IndexLockedError as exc:
                raise ApiError(409, without_paths(str(exc))) from None
            except (QAError, ValueError) as exc:
                raise ApiError(422, without_paths(str(exc)), "files") from None
        logger.info("API upload of %d file(s): %s", len(paths), report)
        reload_engine()
        return {
            "added": [{"doc_id": d.doc_id, "title": d.title, "pages": d.pages, "replaced": d.replaced} for d in report.added],
            "unchanged": list(report.unchanged),
            "skipped": refused + [
                {"file": by_path.get(str(s.path), Path(s.path).name), "reason": without_paths(s.reason)} for s in report.skipped
            ],
            "documents": report.documents,
        }

    @app.get(
        f"{API_PREFIX}/documents/{{doc_id:path}}/pages/{{page}}", response_model=PageOut,
        responses={**common, **_errors(404, 409), 200: {"content": {"image/png": {}}, "description": "The page as PNG (format=png), or its boxes (format=json)."}},
        dependencies=secured, tags=["documents"],
    )
    def show_page(
        doc_id: str,
        page: int,
        start: int | None = Query(None, ge=0, description="Offset of the quote's first character (a citation's start)."),
        end: int | None = Query(None, ge=1, description="Offset one past its last character (a citation's end)."),
        phrase_start: int | None = Query(None, ge=0, description="The answer phrase's start, marked more strongly."),
        phrase_end: int | None = Query(None, ge=1, description="The answer phrase's end."),
        dpi: int = Query(150, ge=72, le=300, description="Resolution of the image."),
        format: Literal["png", "json"] = Query("png", description="png: the image with the quote boxed; json: the boxes and the page size."),  # noqa: A002
    ) -> Response:
        """A page of a PDF, scan or image of the index, rendered with the quote (start-end, as a citation gives
        them) boxed line by line. Only documents of the index are shown, from the file it was built from; 404 for
        a document or page that is not there, 422 for a bad range, 409 when the file is gone or changed."""
        _refresh(bot)
        doc = bot.store.documents.get(doc_id)
        if doc is None:
            raise ApiError(404, f"no document {doc_id!r} in the index (see GET /v1/documents)", "doc_id")
        if not 1 <= page <= len(doc.page_starts):
            what = f"{doc_id!r} has no pages" if not doc.page_starts else f"{doc_id!r} has {len(doc.page_starts)} page(s)"
            raise ApiError(404, f"no page {page}: {what}", "page")
        if (start is None) != (end is None) or (phrase_start is None) != (phrase_end is None):
            raise ApiError(422, "give both start and end (and both phrase_start and phrase_end), or neither", "start" if (start is None) != (end is None) else "phrase_start")
        phrase = None if phrase_start is None or phrase_end is None else (phrase_start, phrase_end)
        try:
            view = bot.page(doc_id, page, start=start, end=end, phrase=phrase, dpi=dpi)
        except ValueError as exc:
            raise ApiError(422, str(exc), "phrase_start" if str(exc).startswith("phrase") else "start") from None
        except QAError as exc:
            message = str(exc).replace(doc.source, Path(doc.source).name) if doc.source else str(exc)
            raise ApiError(409, message, "doc_id") from None
        if format == "json":
            return JSONResponse({
                "doc_id": view.doc_id, "page": view.page, "width": view.width, "height": view.height, "dpi": view.dpi,
                "boxes": [list(b) for b in view.boxes], "phrase_boxes": [list(b) for b in view.phrase_boxes],
                "read_by": view.read_by, "deskew": view.deskew,
            })
        return Response(view.png, media_type="image/png", headers={"cache-control": "private, max-age=300"})

    @app.delete(
        f"{API_PREFIX}/documents/{{doc_id:path}}", response_model=RemoveReportOut,
        responses={**common, **_errors(403, 404, 409, 500)}, dependencies=secured, tags=["documents"],
    )
    def remove_document(doc_id: str) -> dict[str, Any]:
        """Remove one document (by its doc_id, as GET /v1/documents lists it); the last one cannot be removed."""
        check_writes()
        try:
            with builds:
                report = qa.remove_documents([doc_id], settings.index, model=bot.embedder)
        except DocumentNotFoundError:
            raise ApiError(404, f"no document {doc_id!r} in the index (see GET /v1/documents)", "doc_id") from None
        except IndexLockedError as exc:
            raise ApiError(409, without_paths(str(exc))) from None
        except (QAError, ValueError) as exc:
            raise ApiError(409, without_paths(str(exc)), "doc_id") from None
        logger.info("API removed %r: %s", doc_id, report)
        reload_engine()
        return {"removed": list(report.removed), "documents": report.documents}

    known = list(app.routes)  # the API's own routes, before the catch-all below

    @app.api_route(API_PREFIX, methods=ALL_METHODS, include_in_schema=False)
    @app.api_route(f"{API_PREFIX}/{{rest:path}}", methods=ALL_METHODS, include_in_schema=False)
    def unknown(request: Request) -> JSONResponse:
        """Every other /v1 request: 405 (with Allow) for a known path, else 404, in the API's error format
        (without this route the chat mounted at / would answer them in its own)."""
        allowed = sorted({m for r in known if isinstance(r, APIRoute) and r.matches(request.scope)[0] != Match.NONE for m in r.methods})
        if allowed:
            return _json_error(405, f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}",
                               None, {"Allow": ", ".join(allowed)})
        return _json_error(404, f"no endpoint {request.url.path}; the endpoints are listed at /docs")

    app.add_middleware(
        Guard, api_key=settings.api_key, max_json_bytes=settings.max_json_kb * 1024, max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
    )
    if settings.cors_origins:  # added last, so it wraps the guard: a 401 or 413 carries the CORS headers too
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
