"""The web chat's page (Gradio): layout, answers as chat HTML, and the ``/chat`` endpoint.

:func:`build_demo` builds the page around a loaded engine; the server (:mod:`qa.web.server`)
mounts it at ``/`` beside the JSON API.  The page is a chat; the same HTML answers are served
to programs by Gradio's ``/chat`` endpoint::

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("What does the pact cover?", api_name="/chat")

Nothing is fetched from outside: the theme uses system fonts only.  A "Documents" panel lists
the indexed documents and, when uploads are on (:func:`qa.web.settings.uploads_allowed`), lets readers
upload files and remove documents (:mod:`qa.web.uploads`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import qa
from qa.answering.conversation import MAX_TURNS, Turn
from qa.types import Span
from qa.web.settings import DEFAULT_HOST, DEFAULT_TOP_K, MAX_TOP_K
from qa.web.render import (
    NO_FILES,
    error_message,
    escape_text,
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
    format_uploads_off,
)
from qa.web.pages import EMPTY_CAPTION, open_page
from qa.web.uploads import (
    UPLOAD_CACHE_SECONDS,
    UPLOAD_MAX_FILE_MB,
    UPLOAD_TYPES,
    add_uploads_steps,
    documents_of,
    remove_document,
    upload_paths,
)

if TYPE_CHECKING:
    import gradio as gr

logger = logging.getLogger(__name__)

EXAMPLES = [
    "What does the pact cover?",
    "When will the new fighter jet be airborne?",
    "Where does Borrell head after the Tokyo talks?",
    "When was the pact signed?",
]
"""Example questions shown under the chat; each is answered by one sentence of the bundled article."""


def example_questions(bot: qa.QA) -> list[str]:
    """The example buttons for the served index: :data:`EXAMPLES` when it holds the bundled article, else none.

    The examples are the bundled article's questions, so they are offered only where they are
    answered: when a document of the index is that article (its doc_id, and its text's hash where
    the index records it).  Another index gets no example buttons rather than questions it cannot
    answer (questions made from titles would often be declined).

    Args:
        bot: The loaded engine.

    Returns:
        The example questions (empty for an index without the bundled article).
    """
    from qa.documents.ingest import default_documents

    bundled = {doc.doc_id: doc.sha256 for doc in default_documents()}
    manifest = getattr(getattr(bot, "store", None), "manifest", None)
    recorded = manifest.get("documents") if isinstance(manifest, dict) else None
    if isinstance(recorded, list):
        held = any(
            isinstance(d, dict) and d.get("doc_id") in bundled and d.get("text_sha256", bundled[d["doc_id"]]) == bundled[d["doc_id"]]
            for d in recorded
        )
    else:
        held = any(str(d.get("doc_id")) in bundled for d in bot.info.get("documents") or [])
    return list(EXAMPLES) if held else []

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
#chat .qa-candidate .qa-passage { border-left-style: dashed; }
#chat .qa-candidate mark.qa-unconfirmed-mark { background: transparent; border-bottom: 2px dashed var(--color-accent); }
#chat .qa-unconfirmed { color: var(--body-text-color-subdued); }
#chat .qa-unconfirmed .qa-unconfirmed-label { font-weight: 600; font-style: italic; }
#chat .qa-unconfirmed blockquote.qa-passage { background: transparent; color: var(--body-text-color-subdued);
    border-left: 3px dashed var(--border-color-primary); }
#chat .qa-unconfirmed mark.qa-unconfirmed-mark { color: inherit; border-bottom-color: var(--body-text-color-subdued); }
#chat .qa-unconfirmed .qa-marker { color: var(--body-text-color-subdued); }
#chat .qa-notice, #chat .qa-question { margin: 0 !important; }
#chat .qa-followup { margin: 0 0 0.3em 0 !important; font-style: italic; }
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


def _ask(bot: qa.QA, question: Any, top_k: Any, history: list[Turn] | None = None) -> qa.Answer:
    """Ask the engine, logging failures; shared by the chat and the ``/chat`` API.

    Args:
        bot: The loaded engine.
        question: The question.
        top_k: Passages retrieved (1-10).
        history: The chat's earlier turns, oldest first (None or empty: the question on its own).

    Raises:
        ValueError: Empty question (a message containing "empty") or bad ``top_k``.
        Exception: Whatever the engine raised, logged with its traceback.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question is empty")
    try:
        k = _as_top_k(top_k)
        return bot.ask(question, top_k=k, history=history) if history else bot.ask(question, top_k=k)
    except ValueError as exc:
        logger.info("rejected question: %s", exc)
        raise
    except Exception:
        logger.exception("failed to answer %r", question[:200])
        raise


def format_follow_up(answer: qa.Answer) -> str:
    """The discreet "following up on: ..." line above an answer read with its conversation ("" for any other)."""
    follow_up = getattr(answer, "follow_up", None)
    if follow_up is None:
        return ""
    return f'<p class="qa-meta qa-followup">following up on: \u201c{escape_text(follow_up.question)}\u201d</p>\n\n'


def turn_of(answer: qa.Answer) -> Turn:
    """What the chat keeps of an answer for the next questions: the question, the text and the cited spans (an
    unconfirmed answer's closest sentence gives its document like an answer's citations)."""
    cited = answer.citations or ([answer.candidate.citation] if answer.candidate is not None else [])
    return Turn(answer.question, answer.text, tuple(Span(c.doc_id, c.start, c.end, c.quote) for c in cited))


def converse(bot: qa.QA, question: str, top_k: Any = DEFAULT_TOP_K, history: list[Turn] | None = None) -> tuple[str, list[Turn]]:
    """Answer one chat question with the chat's earlier turns; the reply and the turns to keep for the next one.

    Args:
        bot: The loaded engine.
        question: The question.
        top_k: Passages retrieved (1-10).
        history: The earlier turns of this chat (None: a new conversation).

    Returns:
        The formatted reply (errors become friendly messages and leave the history as it was) and the
        history with this turn added (the last ``MAX_TURNS`` are kept: older ones never count).
    """
    turns = list(history or [])
    try:
        answer = _ask(bot, question, top_k, turns)
    except Exception as exc:  # every failure is shown as a message (and was logged)
        return format_error(exc), turns
    return format_follow_up(answer) + format_answer(answer), (turns + [turn_of(answer)])[-MAX_TURNS:]


def reply(bot: qa.QA, question: str, top_k: Any = DEFAULT_TOP_K) -> str:
    """Answer one question (on its own) as chat Markdown/HTML; errors become friendly messages.

    Args:
        bot: The loaded engine.
        question: The question.
        top_k: Passages retrieved (1-10).

    Returns:
        The formatted answer, abstention or error message (never a traceback).
    """
    return converse(bot, question, top_k)[0]


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

    shown = example_questions(bot)  # the bundled article's questions, only where they are answered

    def respond(
        question: str, history: list[dict[str, Any]] | None, top_k: float, turns: list[Turn] | None
    ) -> tuple[list[dict[str, Any]], str, list[Turn]]:
        """Append the question and its answer to the chat; a follow-up is read with this chat's earlier turns."""
        messages = list(history or [])
        if not isinstance(question, str) or not question.strip():
            messages.append({"role": "assistant", "content": format_empty_question()})
            return messages, "", list(turns or [])
        messages.append({"role": "user", "content": format_question(question)})
        text, kept = converse(bot, question, top_k, turns if messages[:-1] else None)
        messages.append({"role": "assistant", "content": text})
        return messages, "", kept

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
                    placeholder="Ask a question below, or click an example." if shown else "Ask a question below.",
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
                    examples=[[q] for q in shown], inputs=[question], label="Examples (click to ask)", elem_id="examples"
                ) if shown else None
            with gr.Column(scale=1, min_width=260):
                top_k = gr.Slider(
                    minimum=1, maximum=MAX_TOP_K, value=DEFAULT_TOP_K, step=1, precision=0,
                    label="Top-k", info="Passages searched for each question", elem_id="top-k",
                )
                info_panel = gr.HTML(format_info(bot.info), elem_id="info", padding=False)
                conversation = gr.State([])  # this chat's earlier turns (qa.answering.conversation.Turn), per browser session
                clear = gr.ClearButton([chatbot, question], value="Clear chat", size="sm", elem_id="clear-chat")
                clear.click(lambda: [], None, conversation, queue=False)  # a new conversation
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
                            label=f"Add documents (.pdf .docx .txt .md .html, scans .png .jpg .tif; up to {UPLOAD_MAX_FILE_MB} MB each)",
                            elem_id="uploads",
                            height=140,
                        )
                        add = gr.Button("Add to index", variant="primary", size="sm", elem_id="add-docs")
                    else:
                        gr.HTML(format_uploads_off(host), padding=False, elem_id="uploads-off")
                    doc_status = gr.HTML("", elem_id="doc-status", padding=False)
        with gr.Column(elem_id="page-viewer"):  # the page of a citation, rendered when its "page" link is clicked
            page_caption = gr.HTML(EMPTY_CAPTION, elem_id="page-caption", padding=False)
            page_image = gr.Image(None, type="pil", interactive=False, show_label=False, elem_id="page-view", format="png")
            page_request = gr.Textbox("", elem_id="page-request", container=False, show_label=False)
            page_open = gr.Button("page", elem_id="page-open")

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
            status = ""
            for status in add_uploads_steps(bot, paths):  # scanned pages: "reading page 3 of 40 with OCR"; then the report
                yield status, gr.skip(), gr.skip(), gr.skip()
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
            "inputs": [question, chatbot, top_k, conversation],
            "outputs": [chatbot, question, conversation],
            "api_visibility": "private",
            "concurrency_id": "answer",
            "show_progress": "minimal",
        }
        question.submit(**answer_event)
        ask.click(**answer_event)
        if examples is not None:
            examples.load_input_event.then(**answer_event)
        gr.api(chat, api_name="chat", concurrency_id="answer")
        page_open.click(
            lambda raw: open_page(bot, raw), inputs=[page_request], outputs=[page_image, page_caption],
            api_visibility="private", concurrency_id="answer", show_progress="minimal",
        )

    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_MAX_SIZE)
    return demo


def make_theme() -> Any:
    """A theme that uses system fonts only (no font files or stylesheets are fetched)."""
    import gradio as gr

    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS)


def warm_up(url: str, login: tuple[str, str] | None = None) -> None:
    """Send one question through the served ``/chat`` endpoint so the first reader does not pay Gradio's first-request cost.

    Failures are logged and ignored: the page works without it.

    Args:
        url: The served page's local address.
        login: ``(user name, password)`` when the chat is behind its login (:func:`qa.web.settings.chat_login`).
    """
    started = time.perf_counter()
    try:
        from gradio_client import Client

        Client(url, verbose=False, auth=login).predict(EXAMPLES[0], api_name="/chat")
    except Exception as exc:  # noqa: BLE001 - a warm-up must never stop the server
        logger.warning("warm-up request failed (%s: %s); the first answer may be slower", type(exc).__name__, exc)
        return
    logger.info("warm-up request answered in %.2f s", time.perf_counter() - started)
