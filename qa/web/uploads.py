"""The chat's document actions: upload files into the served index, remove a document, list them.

Each action builds with :func:`qa.add_documents` / :func:`qa.remove_documents` on the engine's index
(an incremental build under the index's build lock, swapped in atomically), then reloads the engine
(:meth:`qa.QA.reload`); every failure is one line of status HTML, never a traceback.  Whether these
actions exist at all is the network rule's business (:func:`qa.web.settings.uploads_allowed`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import qa
from qa.documents.ingest import Skipped
from qa.documents.ocr import OcrProgress, progress_to
from qa.web.names import renamed_clashes, without_paths
from qa.web.render import (
    NO_FILES,
    format_add_report,
    format_build_error,
    format_notice,
    format_ocr_progress,
    format_remove_report,
)

logger = logging.getLogger(__name__)

UPLOAD_TYPES = [".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm", ".png", ".jpg", ".jpeg", ".tif", ".tiff"]
"""File types the upload control offers (qa.add_documents checks the content too)."""
UPLOAD_MAX_FILE_MB = 50
"""Per-file upload limit (MiB) enforced by the web server before a file is stored; equal to
``qa.index.updates.DEFAULT_MAX_FILE_MB``, which qa.add_documents checks again (not imported here: start-up stays cheap)."""
PROGRESS_POLL_S = 0.25
"""How often :func:`add_uploads_steps` looks for OCR progress while a build runs."""
UPLOAD_CACHE_SECONDS = 3600
"""Gradio's copies of uploaded files are deleted after this long (the index keeps its own copy)."""


def documents_of(bot: qa.QA) -> list[dict[str, Any]]:
    """The served documents as ``{"doc_id", "title", "pages"}`` entries, in index order (the documents panel's state).

    Args:
        bot: The loaded engine.

    Returns:
        One plain dictionary per indexed document (``pages``: a PDF's page count when
        ``bot.info`` gives it, else None).
    """
    return [
        {"doc_id": str(d.get("doc_id", "")), "title": str(d.get("title") or ""), "pages": d.get("pages")}
        for d in bot.info.get("documents") or []
    ]


def upload_paths(files: Any) -> list[Path]:
    """The file paths of an upload control's value.

    Args:
        files: What ``gr.File(file_count="multiple", type="filepath")`` passes: None, a
            path, or a list of paths (or of objects with a ``name`` / ``path``).

    Returns:
        The paths, in the order given, duplicates dropped.

    Raises:
        ValueError: An entry is not a path.
    """
    if files is None:
        return []
    items = files if isinstance(files, (list, tuple)) else [files]
    paths: list[Path] = []
    for item in items:
        raw = item if isinstance(item, (str, os.PathLike)) else getattr(item, "path", None) or getattr(item, "name", None)
        if not isinstance(raw, (str, os.PathLike)) or not str(raw):
            raise ValueError(f"an uploaded file must be given as a path, not {item!r}")
        path = Path(raw)
        if path not in paths:
            paths.append(path)
    return paths


def _reload(bot: qa.QA, done: str) -> str:
    """Reload the served index after a build; a failure keeps the old index and says so."""
    try:
        bot.reload()
    except Exception as exc:  # the old index keeps serving; the reader gets one line
        logger.exception("reloading %s after a build failed", bot.info.get("path"))
        return done + format_build_error(exc, "switch the chat to the new index (it keeps answering from the previous one)")
    return done


def add_uploads(bot: qa.QA, files: Any) -> str:
    """Index uploaded files into the served index, then answer from it: the upload control's action.

    Calls :func:`qa.add_documents` on the engine's index folder (an incremental
    build under the index's build lock, swapped in atomically), then
    :meth:`qa.QA.reload`.  Questions in flight finish on the index they started on.

    Args:
        bot: The loaded engine.
        files: The upload control's value (see :func:`upload_paths`).

    Returns:
        The status HTML: what was added, replaced, already indexed and skipped (with
        reasons), or a one-line error (never a traceback).
    """
    try:
        paths = upload_paths(files)
    except ValueError as exc:
        return format_build_error(exc)
    if not paths:
        return format_notice(NO_FILES)
    started = time.perf_counter()
    indexed = [d["doc_id"] for d in documents_of(bot)]
    clashes = renamed_clashes([p.name for p in paths], indexed)  # a"b.txt is not stored over a_b.txt
    refused = tuple(Skipped(str(p), clashes[p.name]) for p in paths if p.name in clashes)
    paths = [p for p in paths if p.name not in clashes]
    if not paths:
        from qa.index.intake import AddReport

        return format_add_report(AddReport(str(bot.info["path"]), (), (), refused, len(indexed)))
    try:
        report = qa.add_documents(paths, index=bot.info["path"])
        # reasons name files by their upload name, never by the server's staging folder
        report = replace(report, skipped=refused + tuple(Skipped(s.path, without_paths(s.reason)) for s in report.skipped))
    except (qa.QAError, ValueError) as exc:
        logger.warning("upload of %d file(s) failed: %s", len(paths), exc)
        return format_build_error(exc)
    except Exception as exc:  # logged with its traceback for the operator; the reader gets one line
        logger.exception("upload of %d file(s) failed", len(paths))
        return format_build_error(exc)
    logger.info("upload of %d file(s) built in %.1f s: %s", len(paths), time.perf_counter() - started, report)
    return _reload(bot, format_add_report(report))


def add_uploads_steps(bot: qa.QA, files: Any) -> Iterator[str]:
    """:func:`add_uploads`, with the status lines to show while it runs.

    The build runs in a worker thread; while it reads scanned pages by OCR, a status
    line says which ("scan.pdf: reading page 3 of 40 with OCR"), at most one every
    ``PROGRESS_POLL_S``.

    Args:
        bot: The loaded engine.
        files: The upload control's value (see :func:`upload_paths`).

    Yields:
        Progress lines (status HTML), then the final status of :func:`add_uploads`.
    """
    try:
        paths = upload_paths(files)
    except ValueError as exc:
        yield format_build_error(exc)
        return
    if not paths:
        yield format_notice(NO_FILES)
        return
    heard: queue.Queue[OcrProgress] = queue.Queue()
    done: list[str] = []

    def build() -> None:
        with progress_to(heard.put):
            done.append(add_uploads(bot, paths))

    worker = threading.Thread(target=build, name="qa-upload", daemon=True)
    worker.start()
    names = [p.name for p in paths]
    while worker.is_alive() or not heard.empty():
        try:
            latest = heard.get(timeout=PROGRESS_POLL_S)
        except queue.Empty:
            continue
        while not heard.empty():
            latest = heard.get_nowait()
        yield format_ocr_progress(names, Path(latest.path).name, latest.message)
    worker.join()
    yield done[0] if done else format_build_error(RuntimeError("the build stopped without a report; see the server's log"))


def remove_document(bot: qa.QA, doc_id: Any) -> str:
    """Remove one document from the served index, then answer without it: a remove button's action.

    Args:
        bot: The loaded engine.
        doc_id: The document's id.

    Returns:
        The status HTML: what was removed, or a one-line error (never a traceback).
    """
    if not isinstance(doc_id, str) or not doc_id:
        return format_build_error(ValueError(f"doc_id must be a non-empty string, not {doc_id!r}"), "remove the document")
    try:
        report = qa.remove_documents([doc_id], index=bot.info["path"])
    except (qa.QAError, ValueError) as exc:
        logger.warning("removing %r failed: %s", doc_id, exc)
        return format_build_error(exc, "remove the document")
    except Exception as exc:  # logged with its traceback for the operator; the reader gets one line
        logger.exception("removing %r failed", doc_id)
        return format_build_error(exc, "remove the document")
    logger.info("removed %r: %s", doc_id, report)
    return _reload(bot, format_remove_report(report))
