"""Web chat for ``qa``: ask questions, get answers quoted verbatim from the documents.

Usage::

    python app.py [--host 127.0.0.1] [--port 7860] [--index DIR] [--allow-uploads]

The engine is loaded once at start-up (``qa.load(DIR)``; without ``--index``
the bundled article is indexed into ``$QA_INDEX_DIR`` or ``./index`` on first
use).  The page is a chat; the same answers are served to programs by the
``/chat`` API endpoint::

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("What does the pact cover?", api_name="/chat")

Nothing is fetched from outside: analytics are off, the theme uses system
fonts only, and the server binds 127.0.0.1 unless told otherwise.

A "Documents" panel lists the indexed documents.  Bound to the loopback
interface (the default), it also lets readers upload files (built into the
served index by :func:`qa.add_documents`) and remove documents
(:func:`qa.remove_documents`); the engine then reloads the index in place
(:meth:`qa.QA.reload`).  Bound to any other address, uploads are off unless
``--allow-uploads`` is given (:func:`uploads_allowed`).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import qa  # noqa: E402
from qa.ui import (  # noqa: E402
    NO_FILES,
    error_message,
    format_add_report,
    format_answer,
    format_build_error,
    format_build_progress,
    format_document,
    format_documents,
    format_empty_question,
    format_error,
    format_info,
    format_notice,
    format_question,
    format_remove_report,
    format_uploads_off,
)

if TYPE_CHECKING:
    import gradio as gr

logger = logging.getLogger("qa.app")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_TOP_K = 5
MAX_TOP_K = 10
EXAMPLES = [
    "When will the new fighter jet be airborne?",
    "Where does Borrell head after the Tokyo talks?",
    "Who is Japan's foreign minister?",
    "When was the pact signed?",
]
"""Example questions shown under the chat; each is answered by one sentence of the bundled article."""

# Queue settings (chosen on purpose):
# * One concurrency group ("answer") is shared by the chat events and the /chat
#   API, so the limit below is global for the whole server.
# * CONCURRENCY_LIMIT = 4: the engine is thread-safe and an answer costs ~25 ms
#   of CPU (one MiniLM encode, which the model runtime already spreads over the
#   cores, plus FAISS/BM25 look-ups).  A few answers in flight let one
#   request's Python work overlap another's native work and keep a slow client
#   from serialising everybody, while more would only oversubscribe the CPU
#   and make every answer slower.
# * QUEUE_MAX_SIZE = 64: waiting requests beyond this are refused at once
#   ("queue is full") instead of piling up unbounded latency and memory.
#   64 x ~25 ms is under two seconds of engine work; end to end, Gradio's
#   per-request overhead dominates (~0.2 s per /chat call when idle, about
#   7 answers/s with 16 clients on a busy 2-core machine), so a full queue
#   is roughly ten seconds of waiting at worst.
CONCURRENCY_LIMIT = 4
QUEUE_MAX_SIZE = 64
# Uploads and removals run in their own concurrency group ("build"), one at a
# time: a build holds the index's build lock anyway, and answers (group
# "answer") keep flowing from the loaded index while it runs; the engine
# switches to the new index only when the build is complete (bot.reload()).
BUILD_CONCURRENCY_LIMIT = 1

UPLOAD_TYPES = [".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm"]
"""File types the upload control offers (qa.add_documents checks the content too)."""
UPLOAD_MAX_FILE_MB = 50
"""Per-file upload limit (MiB) enforced by the web server before a file is stored; equal to
``qa.library.DEFAULT_MAX_FILE_MB``, which qa.add_documents checks again (not imported here: start-up stays cheap)."""
UPLOAD_CACHE_SECONDS = 3600
"""Gradio's copies of uploaded files are deleted after this long (the index keeps its own copy)."""

SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
SYSTEM_MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]

CSS = """
#chat .qa-answer { margin: 0 0 0.4em 0 !important; }
#chat .qa-marker { font-weight: 600; color: var(--color-accent); white-space: nowrap; }
#chat .qa-sources { margin-top: 0.6em; padding-top: 0.5em; border-top: 1px solid var(--border-color-primary); font-size: 0.93em; }
#chat .qa-sources-head { margin-bottom: 0.2em; }
#chat .qa-meta, #chat .qa-docid { color: var(--body-text-color-subdued); font-size: 0.85em; font-weight: normal; }
#chat .qa-source { margin: 0.5em 0 0.8em 0; }
#chat .qa-source:last-child { margin-bottom: 0.2em; }
#chat blockquote.qa-passage { margin: 0.3em 0 0 0 !important; padding: 0.4em 0.75em; border-left: 3px solid var(--color-accent-soft);
    background: var(--background-fill-secondary); border-radius: 0 4px 4px 0; font-style: normal; line-height: 1.5; }
#chat mark { background: #fde68a; color: #1f2937; padding: 0 0.15em; border-radius: 2px; }
#chat .qa-phrase { font-weight: 700; text-decoration: underline; text-decoration-thickness: 2px; }
#chat .qa-abstain { font-weight: 600; margin: 0 0 0.4em 0 !important; }
#chat .qa-related .qa-title { font-size: 0.92em; }
#chat .qa-related .qa-passage { border-left-color: var(--border-color-primary); font-size: 0.95em; }
#chat .qa-notice, #chat .qa-question { margin: 0 !important; }
#chat .qa-error { color: var(--error-text-color, #b91c1c); }
#info { padding: var(--block-padding); border: 1px solid var(--border-color-primary); border-radius: var(--block-radius);
    background: var(--block-background-fill); }
#info .qa-info-head { margin-bottom: 0.3em; }
#info .qa-info-docs { margin: 0.2em 0 0.7em 1.1em; padding: 0; list-style: disc; }
#info .qa-info-docs li { margin: 0.15em 0; }
#info table.qa-info-table { width: 100%; border-collapse: collapse; font-size: 0.9em; margin: 0; border: none; }
#info .qa-info-table tr { border: none; }
#info .qa-info-table th, #info .qa-info-table td { border: none; border-top: 1px solid var(--border-color-primary);
    padding: 0.25em 0.5em 0.25em 0; vertical-align: top; text-align: left; background: transparent; }
#info .qa-info-table th { font-weight: 600; white-space: nowrap; }
#info .qa-info-table td { word-break: break-word; }
#chat .qa-page { color: var(--body-text-color-subdued); font-size: 0.85em; white-space: nowrap; }
#documents { padding: var(--block-padding); border: 1px solid var(--border-color-primary); border-radius: var(--block-radius);
    background: var(--block-background-fill); gap: 0.4em; }
#documents .qa-doc-row { align-items: center; gap: 0.4em; border-top: 1px solid var(--border-color-primary); padding: 0.2em 0; }
#documents .qa-doc { word-break: break-word; }
#documents .qa-docid, #doc-status .qa-docid { color: var(--body-text-color-subdued); font-size: 0.85em; }
#doc-status .qa-report ul { margin: 0.2em 0 0.4em 1.1em; padding: 0; }
#doc-status .qa-error { color: var(--error-text-color, #b91c1c); }
#doc-status .qa-reason { color: var(--body-text-color-subdued); }
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv``.

    Returns:
        The parsed arguments (``host`` and ``port`` are None when not given).
    """
    parser = argparse.ArgumentParser(prog="app.py", description="Web chat: extractive, cited answers from your documents.")
    parser.add_argument("--host", default=None, help=f"address to bind (default: $GRADIO_SERVER_NAME or {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=None, help=f"port (default: $GRADIO_SERVER_PORT or {DEFAULT_PORT})")
    parser.add_argument("--index", default=None, help="index folder (default: the bundled article in $QA_INDEX_DIR or ./index)")
    parser.add_argument(
        "--allow-uploads",
        action="store_true",
        help="let readers add and remove documents even when bound to a non-loopback address (on by default on loopback)",
    )
    return parser.parse_args(argv)


def is_loopback(host: str) -> bool:
    """Whether a bind address is the loopback interface only.

    ``localhost`` and any address in 127.0.0.0/8 or ``::1`` (with or without
    brackets) are loopback; ``0.0.0.0``, ``::``, other addresses and other host
    names are not.

    Args:
        host: The address the server binds.

    Returns:
        True for a loopback address.

    Raises:
        ValueError: ``host`` is not a non-empty string.
    """
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be a non-empty address, not {host!r}")
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def uploads_allowed(host: str, allow_uploads: bool = False) -> bool:
    """The network rule for uploads: on when bound to loopback, else only with ``--allow-uploads``.

    Args:
        host: The address the server binds.
        allow_uploads: The ``--allow-uploads`` flag.

    Returns:
        True when the chat may add and remove documents.

    Raises:
        ValueError: ``host`` is not a non-empty string.
    """
    return is_loopback(host) or bool(allow_uploads)


def resolve_address(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, int]:
    """Pick the host and port: the flags, else ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, else the defaults.

    Args:
        args: Parsed command line.
        env: Environment variables.

    Returns:
        ``(host, port)``.

    Raises:
        ValueError: The port is not an integer in 1-65535.
    """
    host = args.host or env.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    if args.port is not None:
        port = args.port
    else:
        raw = env.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
        try:
            port = int(raw)
        except ValueError:
            raise ValueError(f"GRADIO_SERVER_PORT must be a port number, not {raw!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be between 1 and 65535, not {port}")
    return host, port


def _as_top_k(value: Any) -> int:
    """Turn a slider/API value into the engine's ``top_k`` (ValueError when out of 1-MAX_TOP_K)."""
    if value is None:
        return DEFAULT_TOP_K
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not math.isfinite(value))
        or value != int(value)
    ):
        raise ValueError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, not {value!r}")
    k = int(value)
    if not 1 <= k <= MAX_TOP_K:
        raise ValueError(f"top_k must be from 1 to {MAX_TOP_K}, not {k}")
    return k


def _ask(bot: qa.QA, question: Any, top_k: Any) -> qa.Answer:
    """Ask the engine, logging failures; shared by the chat and the ``/chat`` API.

    Raises:
        ValueError: Empty question (a message containing "empty") or bad ``top_k``.
        Exception: Whatever the engine raised, logged with its traceback.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question is empty")
    try:
        return bot.ask(question, top_k=_as_top_k(top_k))
    except ValueError as exc:
        logger.info("rejected question: %s", exc)
        raise
    except Exception:
        logger.exception("failed to answer %r", question[:200])
        raise


def reply(bot: qa.QA, question: str, top_k: Any = DEFAULT_TOP_K) -> str:
    """Answer one question as chat Markdown/HTML; errors become friendly messages.

    Args:
        bot: The loaded engine.
        question: The question.
        top_k: Passages retrieved (1-10).

    Returns:
        The formatted answer, abstention or error message (never a traceback).
    """
    try:
        answer = _ask(bot, question, top_k)
    except Exception as exc:  # every failure is shown as a message (and was logged)
        return format_error(exc)
    return format_answer(answer)


def api_answer(bot: qa.QA, question: Any, top_k: Any = DEFAULT_TOP_K) -> str:
    """Answer one question for the ``/chat`` API; failures raise ``gr.Error`` with a friendly message.

    Args:
        bot: The loaded engine.
        question: The question.
        top_k: Passages retrieved (1-10).

    Returns:
        The formatted answer or abstention (the same text as the chat shows).

    Raises:
        gradio.Error: Empty question, bad ``top_k`` or an engine failure; the
            client sees only the message (``gradio_client`` raises ``AppError``).
    """
    import gradio as gr

    try:
        answer = _ask(bot, question, top_k)
    except Exception as exc:  # logged by _ask; the client gets one line
        raise gr.Error(error_message(exc), print_exception=False) from None
    return format_answer(answer)


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
    try:
        report = qa.add_documents(paths, index=bot.info["path"])
    except (qa.QAError, ValueError) as exc:
        logger.warning("upload of %d file(s) failed: %s", len(paths), exc)
        return format_build_error(exc)
    except Exception as exc:  # logged with its traceback for the operator; the reader gets one line
        logger.exception("upload of %d file(s) failed", len(paths))
        return format_build_error(exc)
    logger.info("upload of %d file(s) built in %.1f s: %s", len(paths), time.perf_counter() - started, report)
    return _reload(bot, format_add_report(report))


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


def build_demo(bot: qa.QA, *, uploads: bool = False, host: str = DEFAULT_HOST) -> gr.Blocks:
    """Build the chat page and the ``/chat`` API around a loaded engine.

    Args:
        bot: The loaded engine, shared by every request (it is thread-safe).
        uploads: Show the upload control and the remove buttons (see :func:`uploads_allowed`).
            When False no add or remove event exists on the server at all.
        host: The bound address, named in the "uploads are off" notice.

    Returns:
        The Gradio app, with its queue configured (not launched).
    """
    import gradio as gr

    def respond(question: str, history: list[dict[str, Any]] | None, top_k: float) -> tuple[list[dict[str, Any]], str]:
        """Append the question and its answer to the chat; every question is answered on its own."""
        messages = list(history or [])
        if not isinstance(question, str) or not question.strip():
            messages.append({"role": "assistant", "content": format_empty_question()})
            return messages, ""
        messages.append({"role": "user", "content": format_question(question)})
        messages.append({"role": "assistant", "content": reply(bot, question, top_k)})
        return messages, ""

    def chat(question: str, top_k: int = DEFAULT_TOP_K) -> str:
        """Answer a question from the indexed documents.

        Args:
            question: The question.
            top_k: Passages retrieved, 1-10 (default 5).

        Returns:
            Markdown/HTML, the same text the chat page shows: the answer
            sentences with [n] citation markers and the sources (each cited
            passage with the sentence in <mark>), or "The documents do not
            answer this question." with related passages.
        """
        return api_answer(bot, question, top_k)

    with gr.Blocks(
        title="qa \u2014 cited answers from your documents",
        delete_cache=(UPLOAD_CACHE_SECONDS, UPLOAD_CACHE_SECONDS) if uploads else None,
    ) as demo:
        gr.Markdown(
            "## qa \u2014 answers quoted from your documents\n"
            "Every answer sentence is copied word for word from the indexed documents and cited **[n]**; "
            "the sources below each answer highlight the quoted sentence. "
            "When the documents do not answer, the bot says so and shows the closest passages."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                chatbot = gr.Chatbot(
                    label="Chat",
                    show_label=False,
                    elem_id="chat",
                    height=600,
                    layout="bubble",
                    latex_delimiters=[],  # document text is not math: never let KaTeX reinterpret it
                    group_consecutive_messages=False,
                    feedback_options=None,
                    buttons=["copy"],
                    sanitize_html=True,
                    placeholder="Ask a question below, or click an example.",
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        placeholder="Ask about the documents\u2026",
                        show_label=False,
                        elem_id="question",
                        scale=5,
                        lines=1,
                        max_lines=4,
                        autofocus=True,
                        container=False,
                    )
                    ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1, min_width=80)
                examples = gr.Examples(
                    examples=[[q] for q in EXAMPLES], inputs=[question], label="Examples (click to ask)", elem_id="examples"
                )
            with gr.Column(scale=1, min_width=260):
                top_k = gr.Slider(
                    minimum=1, maximum=MAX_TOP_K, value=DEFAULT_TOP_K, step=1, precision=0,
                    label="Top-k", info="Passages searched for each question", elem_id="top-k",
                )
                info_panel = gr.HTML(format_info(bot.info), elem_id="info", padding=False)
                gr.ClearButton([chatbot, question], value="Clear chat", size="sm")
                with gr.Column(elem_id="documents", variant="default"):
                    gr.HTML('<div class="qa-info-head"><strong>Documents</strong></div>', padding=False)
                    docs_state = gr.State(documents_of(bot))

                    with gr.Column(elem_id="doc-list"):

                        @gr.render(inputs=[docs_state])
                        def show_documents(docs: list[dict[str, Any]]) -> None:
                            """One row per indexed document, with a remove button when uploads are on."""
                            if not docs:
                                gr.HTML(format_documents([]), padding=False)
                            for doc in docs:
                                with gr.Row(elem_classes=["qa-doc-row"], equal_height=True):
                                    gr.HTML(format_document(doc), padding=False, scale=4)
                                    if uploads:
                                        remove = gr.Button("Remove", size="sm", variant="secondary", elem_classes=["qa-remove"], scale=0, min_width=80)
                                        remove.click(
                                            _remover(doc["doc_id"]),
                                            inputs=None,
                                            outputs=[doc_status, docs_state, info_panel],
                                            api_visibility="private",
                                            concurrency_id="build",
                                            concurrency_limit=BUILD_CONCURRENCY_LIMIT,
                                            show_progress="minimal",
                                        )

                    if uploads:
                        files = gr.File(
                            file_count="multiple",
                            file_types=UPLOAD_TYPES,
                            type="filepath",
                            label=f"Add documents (.pdf .docx .txt .md .html, up to {UPLOAD_MAX_FILE_MB} MB each)",
                            elem_id="uploads",
                            height=140,
                        )
                        add = gr.Button("Add to index", variant="primary", size="sm", elem_id="add-docs")
                    else:
                        gr.HTML(format_uploads_off(host), padding=False, elem_id="uploads-off")
                    doc_status = gr.HTML("", elem_id="doc-status", padding=False)

        def _remover(doc_id: str) -> Callable[[], Iterator[tuple[Any, Any, Any]]]:
            def remove_one() -> Iterator[tuple[Any, Any, Any]]:
                """Remove one document; the status line shows progress, then the result."""
                yield format_build_progress("Removing", [doc_id], noun="document"), gr.skip(), gr.skip()
                status = remove_document(bot, doc_id)
                yield status, documents_of(bot), format_info(bot.info)

            return remove_one

        def add_files(chosen: Any) -> Iterator[tuple[Any, Any, Any, Any]]:
            """Index the chosen files; the status line shows progress, then what was added and skipped."""
            try:
                paths = upload_paths(chosen)
            except ValueError as exc:
                yield format_build_error(exc), gr.skip(), gr.skip(), gr.skip()
                return
            if not paths:
                yield format_notice(NO_FILES), gr.skip(), gr.skip(), gr.skip()
                return
            yield format_build_progress("Adding", [p.name for p in paths]), gr.skip(), gr.skip(), gr.skip()
            status = add_uploads(bot, paths)
            yield status, documents_of(bot), format_info(bot.info), None

        if uploads:
            add.click(
                add_files,
                inputs=[files],
                outputs=[doc_status, docs_state, info_panel, files],
                api_visibility="private",
                concurrency_id="build",
                concurrency_limit=BUILD_CONCURRENCY_LIMIT,
                show_progress="minimal",
            )

        def refresh() -> tuple[list[dict[str, Any]], str]:
            """The documents served now: a page opened after an upload shows them, not those at start-up."""
            return documents_of(bot), format_info(bot.info)

        demo.load(
            refresh,
            inputs=None,
            outputs=[docs_state, info_panel],
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )

        answer_event: dict[str, Any] = {
            "fn": respond,
            "inputs": [question, chatbot, top_k],
            "outputs": [chatbot, question],
            "api_visibility": "private",
            "concurrency_id": "answer",
            "show_progress": "minimal",
        }
        question.submit(**answer_event)
        ask.click(**answer_event)
        examples.load_input_event.then(**answer_event)
        gr.api(chat, api_name="chat", concurrency_id="answer")

    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_MAX_SIZE)
    return demo


def make_theme() -> Any:
    """A theme that uses system fonts only (no font files or stylesheets are fetched)."""
    import gradio as gr

    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the engine once, then serve the chat until interrupted.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        The exit status: 0 after a normal shutdown, 1 when the index cannot be
        loaded or the server cannot start, 2 for a bad address.
    """
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("qa").setLevel(logging.INFO)
    try:
        host, port = resolve_address(args, os.environ)
    except ValueError as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 2
    where = args.index or f"{qa.default_index_dir()} (default article)"
    started = time.perf_counter()
    try:
        bot = qa.load(args.index)
    except Exception as exc:  # QAError above all; shown as one line, never a traceback
        print(f"app.py: error: cannot load the index {where}: {exc}", file=sys.stderr)
        return 1
    info = bot.info
    print(
        f"loaded index {info['path']}: {len(info['documents'])} document(s), {info['passages']} passages "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    uploads = uploads_allowed(host, args.allow_uploads)
    print(
        "uploads: on" + (" (loopback)" if is_loopback(host) else " (--allow-uploads)")
        if uploads
        else f"uploads: off (bound to {host}; start with --allow-uploads to enable them)",
        file=sys.stderr,
        flush=True,
    )
    demo = build_demo(bot, uploads=uploads, host=host)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            theme=make_theme(),
            css=CSS,
            ssr_mode=False,
            footer_links=["api"],
            show_error=False,
            share=False,
            prevent_thread_lock=True,
            max_file_size=f"{UPLOAD_MAX_FILE_MB}mb" if uploads else 0,  # 0: the upload route refuses every file
        )
    except OSError as exc:
        print(f"app.py: error: cannot serve on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    warm_up(demo.local_url or f"http://127.0.0.1:{port}/")
    demo.block_thread()
    return 0


def warm_up(url: str) -> None:
    """Send one question through the served ``/chat`` endpoint so the first reader does not pay Gradio's first-request cost.

    Failures are logged and ignored: the page works without it.

    Args:
        url: The served page's local address.
    """
    started = time.perf_counter()
    try:
        from gradio_client import Client

        Client(url, verbose=False).predict(EXAMPLES[0], api_name="/chat")
    except Exception as exc:  # noqa: BLE001 - a warm-up must never stop the server
        logger.warning("warm-up request failed (%s: %s); the first answer may be slower", type(exc).__name__, exc)
        return
    logger.info("warm-up request answered in %.2f s", time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
