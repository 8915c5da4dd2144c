"""End-to-end tests of the web chat: ``python app.py`` in a subprocess, driven by headless
Chromium (Playwright) and by ``gradio_client``.

Two servers are started, once each for the module: one on the bundled article, one on an
index of a hostile document (HTML, script and ``javascript:`` link in its text and title).
A third, on a private copy of the article index, takes a PDF (printed by chromium) and a fake
DOCX through the documents panel, answers from the PDF with its page, and removes it again.
Timings (start-up, time per answer, upload) are written to ``artifacts/app_timings.json`` and
screenshots to ``artifacts/chat.png`` and ``artifacts/upload.png``.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

import qa
from eval.bench.common import free_port
from eval.bench.serving import Served, http_ready, serve
from qa.web import render as ui
from qa.documents.ingest import default_documents

pytestmark = pytest.mark.slow  # every test here uses the real embedding model (in the server)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
STARTUP_TIMEOUT = 120.0
PACT = "What does the pact cover?"  # the first question of every new user: answered, with the phrase below
DRILLS = (
    "Borrell and his Japanese counterpart Takeshi Iwaya unveiled the pact to develop cooperation on joint military "
    "drills, the exchange of information related to the defense industry and space security among other matters."
)
PHRASE = "joint military drills"
UNANSWERABLE = "What is the capital of France?"  # nothing relevant: "not in the documents", no candidate
BELOW_T_ANSWER = "Who is Japan's defense minister?"  # the article names its foreign minister: not confirmed
OFF_TOPIC = "What is the population of Brazil?"  # declined
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMINGS: dict[str, Any] = {}

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_LINK = '<a href="javascript:alert(1)">click</a>'
HOSTILE_TITLE = f"Zorblax <b>manual</b> {HOSTILE_IMG}"
HOSTILE_DOC = f"""# {HOSTILE_TITLE}

The zorblax reactor powers the harbour lamp every night {HOSTILE_SCRIPT} and it never sleeps.
Engineers inspect the zorblax reactor each week with {HOSTILE_IMG} special tools.
Read the zorblax manual at {HOSTILE_LINK} before you touch the reactor.
Markdown such as [open me](javascript:alert(1)) and **bold** text about the zorblax stays literal.
"""


# --------------------------------------------------------------------------------------------
# servers


@dataclass
class Server:
    """A running ``app.py`` (see :func:`eval.bench.serving.serve`)."""

    url: str
    port: int
    served: Served
    stop: contextlib.AbstractContextManager[Served]

    @property
    def startup_s(self) -> float:
        return self.served.startup_s

    def output(self) -> str:
        return self.served.output()


def start_app(index: Path, log: Path, *extra: str) -> Server:
    """Start ``app.py --index INDEX --port FREE`` and wait until it serves its page."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    env.pop("GRADIO_SERVER_NAME", None)  # the default bind address is under test
    env.pop("GRADIO_SERVER_PORT", None)
    command = [sys.executable, str(ROOT / "app.py"), "--index", str(index), "--port", str(port), *extra]
    running = serve(command, http_ready(port, "/"), name="app.py", log=log, env=env, cwd=ROOT, timeout=STARTUP_TIMEOUT, stop_timeout=15)
    return Server(f"http://127.0.0.1:{port}/", port, running.__enter__(), running)


def stop_app(server: Server) -> None:
    server.stop.__exit__(None, None, None)


@pytest.fixture(scope="module", autouse=True)
def write_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "app_timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture(scope="module")
def article_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled article, indexed once with the real default model."""
    path = tmp_path_factory.mktemp("app-article") / "index"
    qa.build_index(default_documents(), path)
    assert DRILLS in default_documents()[0].text
    return path


@pytest.fixture(scope="module")
def article_server(article_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_app(article_index, tmp_path_factory.mktemp("app-log") / "article.log")
    TIMINGS["startup_seconds_article"] = round(server.startup_s, 2)
    yield server
    stop_app(server)


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("app-hostile")
    (folder / "docs").mkdir()
    (folder / "docs" / "zorblax<b>.txt").write_text(HOSTILE_DOC, encoding="utf-8")
    qa.build_index([folder / "docs"], folder / "index")
    server = start_app(folder / "index", folder / "hostile.log")
    TIMINGS["startup_seconds_hostile"] = round(server.startup_s, 2)
    yield server
    stop_app(server)


# --------------------------------------------------------------------------------------------
# browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (make chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@dataclass
class Watched:
    """A page with everything it requested, every dialog it opened and every script error."""

    page: Any
    urls: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requested URLs whose host is not the loopback interface (data:/blob: have no host)."""
        out = []
        for url in self.urls:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about"):
                continue
            if parsed.hostname not in LOOPBACK:
                out.append(url)
        return out


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    w = Watched(page)
    page.on("request", lambda request: w.urls.append(request.url))
    page.on("websocket", lambda ws: w.urls.append(ws.url))

    def on_dialog(dialog: Any) -> None:
        w.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: w.errors.append(str(exc)))
    yield w
    context.close()


def ask(page: Any, question: str, *, press_enter: bool = False) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    if press_enter:
        box.press("Enter")
    else:
        page.locator("#ask").click()


def bot_messages(page: Any) -> Any:
    return page.locator('#chat [data-testid="bot"]')


def user_messages(page: Any) -> Any:
    return page.locator('#chat [data-testid="user"]')


@pytest.mark.browser
def test_chat_answers_with_citations_abstains_and_runs_examples(article_server: Server, article_index: Path, watched: Watched) -> None:
    from playwright.sync_api import expect

    page = watched.page
    page.goto(article_server.url)
    manifest = json.loads((article_index / "manifest.json").read_text())

    # side panel: what is indexed
    info = page.locator("#info")
    expect(info).to_contain_text("EU and Japan sign security and defence partnership", timeout=30000)
    expect(info.locator("tr", has_text="Passages")).to_contain_text(str(manifest["counts"]["passages"]))
    expect(info.locator("tr", has_text="Model")).to_contain_text("all-MiniLM-L6-v2")
    expect(info.locator("tr", has_text="Built")).to_contain_text(manifest["built_at"][:10])
    expect(page.locator("#top-k")).to_be_visible()

    # 1. a typed question: the drills sentence, a [1] marker and the source passage with the sentence marked
    started = time.perf_counter()
    ask(page, PACT)
    first = bot_messages(page).nth(0)
    expect(first.locator(".qa-answer")).to_contain_text("joint military", timeout=30000)
    expect(first.locator(".qa-answer .qa-phrase")).to_have_text(PHRASE)
    answer_ms = [(time.perf_counter() - started) * 1000]
    expect(first.locator(".qa-answer")).to_contain_text(f"{DRILLS} [1]")
    expect(first.locator(".qa-answer .qa-marker").first).to_have_text("[1]")
    expect(first.locator(".qa-sources")).to_contain_text("EU and Japan sign security and defence partnership")
    expect(first.locator(".qa-source").first.locator("blockquote mark")).to_have_text(DRILLS)
    expect(user_messages(page).nth(0)).to_have_text(PACT)
    expect(page.locator("#question textarea")).to_have_value("")

    # 2. a question the article cannot answer (Enter key): plain no-answer message + related passages
    started = time.perf_counter()
    ask(page, UNANSWERABLE, press_enter=True)
    second = bot_messages(page).nth(1)
    expect(second).to_contain_text(ui.NO_ANSWER, timeout=30000)
    answer_ms.append((time.perf_counter() - started) * 1000)
    expect(second.locator(".qa-related")).to_contain_text(ui.RELATED_HEADING)
    expect(second.locator(".qa-related-item")).not_to_have_count(0)
    expect(second.locator("mark")).to_have_count(0)
    expect(second.locator(".qa-answer")).to_have_count(0)

    # 3. the first example, clicked: answered like the typed question; the history stays on screen
    started = time.perf_counter()
    page.locator("#examples").get_by_text(PACT, exact=True).click()
    expect(bot_messages(page)).to_have_count(3, timeout=30000)
    third = bot_messages(page).nth(2)
    expect(third.locator(".qa-answer")).to_contain_text(f"{DRILLS} [1]", timeout=30000)
    answer_ms.append((time.perf_counter() - started) * 1000)
    expect(third.locator("blockquote mark").first).to_have_text(DRILLS)
    assert third.inner_text() == first.inner_text()  # each question is answered on its own, not from history
    expect(user_messages(page)).to_have_text([PACT, UNANSWERABLE, PACT])
    expect(first.locator(".qa-answer")).to_contain_text(DRILLS)  # earlier turns are still there
    expect(second).to_contain_text(ui.NO_ANSWER)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # 4. an empty question: a friendly notice in the chat, no error toast or traceback
    ask(page, "   ")
    expect(bot_messages(page)).to_have_count(4, timeout=30000)
    expect(bot_messages(page).nth(3)).to_have_text(ui.EMPTY_QUESTION)
    expect(page.locator("body")).not_to_contain_text("Traceback")
    expect(page.locator("body")).not_to_contain_text("Error")

    TIMINGS["browser_answer_ms"] = [round(ms) for ms in answer_ms]

    assert watched.foreign() == [], f"requests left the machine: {watched.foreign()}"
    assert any(urlparse(u).port == article_server.port for u in watched.urls)
    assert watched.dialogs == [] and watched.errors == []


@pytest.mark.browser
def test_hostile_document_and_question_show_as_text(hostile_server: Server, watched: Watched) -> None:
    from playwright.sync_api import expect

    page = watched.page
    page.goto(hostile_server.url)
    expect(page.locator("#info")).to_contain_text(HOSTILE_TITLE, timeout=30000)  # title with HTML, as text
    expect(page.locator("#examples")).to_have_count(0)  # another index: none of the bundled article's example questions

    question = f"{HOSTILE_IMG} What does the zorblax reactor power?"
    ask(page, question)
    reply = bot_messages(page).nth(0)
    expect(reply).to_contain_text("zorblax", timeout=30000)
    expect(user_messages(page).nth(0)).to_have_text(question)
    # the answer and/or its passages quote the hostile text; all of it is shown literally
    chat = page.locator("#chat")
    expect(chat).to_contain_text(HOSTILE_SCRIPT)
    expect(chat).to_contain_text(HOSTILE_IMG)
    expect(chat).to_contain_text(HOSTILE_LINK)
    expect(chat).to_contain_text("[open me](javascript:alert(1)) and **bold** text")
    expect(chat).to_contain_text(HOSTILE_TITLE)

    ask(page, "What does the zorblax manual say about touching the reactor?")
    expect(bot_messages(page)).to_have_count(2, timeout=30000)
    expect(bot_messages(page).nth(1)).to_contain_text(HOSTILE_LINK, timeout=30000)

    page.wait_for_timeout(1000)  # give any injected handler time to fire
    assert watched.dialogs == []
    for selector in ["img[onerror]", "img[src='x']", "script", "a[href^='javascript']", "[onmouseover]", "b"]:
        assert page.locator(f"#chat {selector}, #info {selector}").count() == 0, selector
    assert page.locator("#chat a").count() == 0  # no Markdown link was made from document text
    assert watched.errors == []
    assert watched.foreign() == []


# --------------------------------------------------------------------------------------------
# documents panel: upload a PDF, ask it, remove it (browser)

PDF_TITLE = f"Varnholm Lighthouse Keeper's Log {HOSTILE_IMG}"  # uploaded text is shown as text
PDF_FACT = "The lantern room of the Varnholm lighthouse is painted saffron yellow so that fishing crews can see it in fog."
PDF_QUESTION = "What colour is the lantern room of the Varnholm lighthouse painted?"
PDF_PAGE_1 = [
    "Varnholm is a small rocky island in the northern sound, reached by a ferry that runs twice a week in summer.",
    "The island has one harbour, a chapel built from driftwood, and a weather station run by volunteers.",
    "Its keepers have kept a handwritten log since the first tower was raised on the western cliffs.",
    "Most entries record the wind, the tides and the ships that passed on their way to the mainland ports.",
]
PDF_PAGE_2 = [
    "The present tower replaced the first one after a winter storm cracked its foundations.",
    PDF_FACT,
    "The keepers replace the lamp's wick every spring and polish the brass fittings every month.",
]


def print_pdf(folder: Path, name: str, title: str, pages: list[list[str]]) -> Path:
    """Print an HTML page that the test writes to a PDF with Debian's chromium, one ``pages`` entry per PDF page."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("chromium is not installed (make chromium)")
    body = "".join(
        f'<section style="{"break-before: page;" if i else ""}"><h2>Part {i + 1}</h2>'
        + "".join(f"<p>{html.escape(s)}</p>" for s in sentences)
        + "</section>"
        for i, sentences in enumerate(pages)
    )
    page = folder / f"{Path(name).stem}.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family: serif; font-size: 14pt'><h1>{html.escape(title)}</h1>{body}</body></html>",
        encoding="utf-8",
    )
    out = folder / name
    profile = folder / f"chromium-profile-{Path(name).stem}"
    done = subprocess.run(
        [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-pdf-header-footer", f"--user-data-dir={profile}", f"--print-to-pdf={out}", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0 and out.exists() and out.stat().st_size > 0, done.stderr[-2000:]
    shutil.rmtree(profile, ignore_errors=True)
    return out


def pdf_page_count(path: Path) -> int:
    """Pages of a PDF, read by pypdf (the ingest library) or else counted from its page objects."""
    try:
        from pypdf import PdfReader
    except ImportError:
        import re

        return len(re.findall(rb"/Type\s*/Page(?![a-z])", path.read_bytes()))
    return len(PdfReader(str(path)).pages)


@pytest.fixture
def upload_server(article_index: Path, tmp_path: Path) -> Iterator[Server]:
    """The app on a private copy of the article index (uploads change it; the module's index stays as built)."""
    index = tmp_path / "served" / "index"
    shutil.copytree(article_index, index)
    server = start_app(index, tmp_path / "upload.log")
    TIMINGS["startup_seconds_upload"] = round(server.startup_s, 2)
    yield server
    stop_app(server)


def _record_status(page: Any) -> None:
    """Keep every text the documents status line shows (progress lines pass too fast to poll for)."""
    page.evaluate(
        """() => {
            window.__status = [];
            const target = document.querySelector('#doc-status');
            const seen = () => { const t = target.innerText.trim(); if (t && window.__status.at(-1) !== t) window.__status.push(t); };
            new MutationObserver(seen).observe(target, {subtree: true, childList: true, characterData: true});
        }"""
    )


@pytest.mark.browser
def test_upload_a_pdf_ask_it_with_its_page_then_remove_it(upload_server: Server, tmp_path: Path, watched: Watched) -> None:
    from gradio_client import Client
    from playwright.sync_api import expect

    pdf = print_pdf(tmp_path, "varnholm-log.pdf", PDF_TITLE, [PDF_PAGE_1, PDF_PAGE_2])
    assert pdf_page_count(pdf) >= 2
    fake = tmp_path / "minutes.docx"  # text under a Word name: skipped with its reason, the PDF still indexed
    fake.write_text("These minutes are plain text, not a Word document.\n", encoding="utf-8")

    page = watched.page
    page.goto(upload_server.url)
    documents = page.locator("#doc-list")
    expect(documents).to_contain_text("EU and Japan sign security and defence partnership", timeout=30000)
    expect(documents).not_to_contain_text(PDF_TITLE)
    expect(page.locator("#uploads-off")).to_have_count(0)

    # before the upload the article does not answer the question
    ask(page, PDF_QUESTION)
    expect(bot_messages(page).nth(0)).to_contain_text(ui.NO_ANSWER, timeout=30000)

    # questions sent while the build runs are all answered
    client = Client(upload_server.url, verbose=False)
    during: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                during.append(client.predict(PACT, api_name="/chat"))
            except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                failures.append(f"{type(exc).__name__}: {exc}")

    # 1. upload two files: progress while the build runs, then the report (the fake DOCX skipped with
    #    its reason); the panel lists the PDF's title
    _record_status(page)
    page.locator("#uploads input[type=file]").set_input_files([str(pdf), str(fake)])
    asker = threading.Thread(target=keep_asking, daemon=True)
    started = time.perf_counter()
    asker.start()
    page.locator("#add-docs").click()
    status = page.locator("#doc-status")
    try:
        expect(status).to_contain_text("Indexed 1 document", timeout=180000)
    finally:
        stop.set()
        asker.join(timeout=60)
    TIMINGS["upload_pdf_seconds"] = round(time.perf_counter() - started, 2)
    shown = page.evaluate("() => window.__status")
    assert any(s.startswith("Adding 2 files (varnholm-log.pdf, minutes.docx)") for s in shown), shown
    expect(status).to_contain_text("varnholm-log.pdf")
    expect(status.locator(".qa-report-skipped")).to_contain_text("Skipped (1)")
    expect(status.locator(".qa-report-skipped li")).to_have_count(1)
    expect(status.locator(".qa-report-skipped .qa-file")).to_have_text("minutes.docx")
    expect(status.locator(".qa-report-skipped .qa-reason")).not_to_be_empty()
    expect(documents).not_to_contain_text("minutes")
    expect(status).to_contain_text(PDF_TITLE)  # the report names it, as text
    assert page.locator("#documents img[onerror], #info img[onerror]").count() == 0
    expect(documents).to_contain_text(PDF_TITLE)
    expect(page.locator("#info")).to_contain_text(PDF_TITLE)
    # none failed; each is the article's answer (the ones after the swap may cite other passage numbers)
    assert failures == [] and during, (failures, len(during))
    shown_text = [html.unescape(re.sub(r"<[^>]+>", "", d)) for d in during]
    assert all(DRILLS in t and '<p class="qa-answer">' in d for d, t in zip(during, shown_text)), [d[:300] for d in during]

    # 2. a question only the PDF answers: its sentence, cited with the PDF's title and page 2
    ask(page, PDF_QUESTION)
    reply = bot_messages(page).nth(1)
    expect(reply.locator(".qa-answer")).to_contain_text("saffron yellow", timeout=30000)
    source = reply.locator(".qa-source").first
    expect(source.locator(".qa-title")).to_have_text(PDF_TITLE)
    expect(source.locator(".qa-page")).to_have_text("p. 2")
    expect(source.locator("blockquote mark")).to_contain_text("saffron yellow")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=True)

    # 3. remove it: the panel and the info no longer list it, and the question is not answered any more
    _record_status(page)
    documents.locator(".qa-doc-row", has_text=PDF_TITLE).get_by_role("button", name="Remove").click()
    expect(status).to_contain_text("Removed 1 document", timeout=120000)
    expect(documents).not_to_contain_text(PDF_TITLE)
    expect(page.locator("#info")).not_to_contain_text(PDF_TITLE)
    expect(documents).to_contain_text("EU and Japan sign security and defence partnership")
    ask(page, PDF_QUESTION)
    again = bot_messages(page).nth(2)
    expect(again).to_contain_text(ui.NO_ANSWER, timeout=30000)
    expect(again).not_to_contain_text("saffron")
    for selector in ["img[onerror]", "img[src='x']", "script"]:
        assert page.locator(f"#chat {selector}, #documents {selector}, #info {selector}").count() == 0, selector

    expect(page.locator("body")).not_to_contain_text("Traceback")
    assert "Traceback" not in upload_server.output()
    assert watched.foreign() == [], f"requests left the machine: {watched.foreign()}"
    assert watched.dialogs == [] and watched.errors == []


# --------------------------------------------------------------------------------------------
# API (gradio_client)


def test_api_returns_the_chat_answer_with_citations(article_server: Server, article_index: Path) -> None:
    from gradio_client import Client

    client = Client(article_server.url, verbose=False)
    started = time.perf_counter()
    result = client.predict(PACT, api_name="/chat")
    first_ms = (time.perf_counter() - started) * 1000
    assert isinstance(result, str)
    assert DRILLS in re.sub(r"<[^>]+>", "", html.unescape(result)) and "[1]" in result
    before, after = DRILLS.split(PHRASE)
    assert f'<mark>{html.escape(before)}<strong class="qa-phrase">{PHRASE}</strong>{html.escape(after)}</mark>' in result

    times = []
    for _ in range(5):
        started = time.perf_counter()
        again = client.predict(PACT, api_name="/chat")
        times.append((time.perf_counter() - started) * 1000)
        assert again == result
    TIMINGS["api_answer_ms"] = {"first": round(first_ms), "median_of_5": round(sorted(times)[2])}

    # exactly what the engine's answer formats to, in this process
    bot = qa.load(article_index)
    assert result == ui.format_answer(bot.ask(PACT, top_k=5))
    assert client.predict(PACT, 3, api_name="/chat") == ui.format_answer(bot.ask(PACT, top_k=3))

    abstained = client.predict(UNANSWERABLE, api_name="/chat")
    assert ui.NO_ANSWER in abstained and ui.RELATED_HEADING in abstained


def test_api_errors_are_clean_messages(article_server: Server) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(article_server.url, verbose=False)
    with pytest.raises(AppError) as info:
        client.predict("   ", api_name="/chat")
    assert str(info.value) == ui.EMPTY_QUESTION
    with pytest.raises(AppError) as info:
        client.predict(PACT, 0, api_name="/chat")
    assert str(info.value) == "That question could not be used: top_k must be from 1 to 10, not 0"
    assert "Traceback" not in article_server.output()
    assert client.predict(PACT, api_name="/chat")  # the server is still fine


def test_concurrent_clients_get_the_serial_answers(article_server: Server) -> None:
    from gradio_client import Client

    questions = [PACT, UNANSWERABLE, "When will the new fighter jet be airborne?", "Where does Borrell head after the Tokyo talks?"]
    serial_client = Client(article_server.url, verbose=False)
    serial = {q: serial_client.predict(q, api_name="/chat") for q in questions}
    assert "2035" in serial[questions[2]] and "South Korea" in serial[questions[3]]

    results: dict[int, str] = {}
    lock = threading.Lock()

    def one(i: int) -> None:
        q = questions[i % len(questions)]
        result = Client(article_server.url, verbose=False).predict(q, api_name="/chat")
        with lock:
            results[i] = result

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(one, i) for i in range(20)]
        done, not_done = wait(futures, timeout=120)
        assert not not_done, f"{len(not_done)} of 20 concurrent requests did not finish within 120 s"
        for f in done:
            f.result()  # re-raise any client error
    TIMINGS["concurrent_20_clients_seconds"] = round(time.perf_counter() - started, 2)
    assert len(results) == 20
    for i, result in results.items():
        assert result == serial[questions[i % len(questions)]], i


def test_the_json_api_is_served_beside_the_chat(article_server: Server, article_index: Path) -> None:
    """One process serves people and programs: POST /v1/ask on the chat's port gives `qa ask --json`'s answer."""
    from qa.serialize import answer_to_json

    request = urllib.request.Request(
        f"{article_server.url}v1/ask", data=json.dumps({"question": PACT}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        body = json.loads(response.read())
    assert body == answer_to_json(qa.load(article_index).ask(PACT))
    assert body["phrase"]["text"] == PHRASE
    with urllib.request.urlopen(f"{article_server.url}openapi.json", timeout=30) as response:
        assert "/v1/ask" in json.loads(response.read())["paths"]


# --------------------------------------------------------------------------------------------
# process level


def test_server_binds_loopback_only(article_server: Server) -> None:
    tcp = Path("/proc/net/tcp")
    if not tcp.exists():
        pytest.skip("no /proc/net/tcp on this system")
    listening = [
        line.split()[1]
        for line in tcp.read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == article_server.port
    ]
    assert listening == ["0100007F:%04X" % article_server.port]  # 127.0.0.1, nothing else
    tcp6 = Path("/proc/net/tcp6")
    if tcp6.exists():
        assert not any(
            line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == article_server.port
            for line in tcp6.read_text().splitlines()[1:]
        )


def test_missing_index_fails_with_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    missing = tmp_path / "nowhere"
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--index", str(missing), "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert f"app.py: error: cannot load the index {missing}:" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.browser
def test_the_three_tiers_in_the_chat(article_server: Server, watched: Watched) -> None:
    """With the shipped reader and its fitted thresholds: the pact question is answered, a question below
    ``t_answer`` is shown as not confirmed (a muted block: the label, the closest sentence quoted with its citation
    and highlight, no confidence), and a question about nothing in the article is declined."""
    from playwright.sync_api import expect

    page = watched.page
    page.goto(article_server.url)
    ask(page, PACT)
    answered = bot_messages(page).nth(0)
    expect(answered.locator(".qa-answer")).to_contain_text(f"{DRILLS} [1]", timeout=30000)
    expect(answered.locator(".qa-unconfirmed")).to_have_count(0)
    ask(page, BELOW_T_ANSWER)
    reply = bot_messages(page).nth(1)
    expect(reply.locator(".qa-unconfirmed")).to_contain_text(ui.NOT_CONFIRMED, timeout=30000)
    expect(reply).not_to_contain_text(ui.NO_ANSWER)
    expect(reply).not_to_contain_text("confidence")  # nothing that reads like an answer's confidence
    expect(reply.locator(".qa-unconfirmed .qa-candidate")).to_contain_text(ui.CANDIDATE_HEADING)
    expect(reply.locator(".qa-unconfirmed blockquote mark.qa-unconfirmed-mark")).to_contain_text("Minister Iwaya")
    expect(reply.locator(".qa-unconfirmed .qa-marker")).to_have_text("[1]")
    expect(reply.locator(".qa-answer")).to_have_count(0)
    expect(reply.locator(".qa-related")).to_contain_text(ui.RELATED_HEADING)
    muted = reply.locator(".qa-unconfirmed blockquote").evaluate("e => getComputedStyle(e).color")
    plain = answered.locator(".qa-answer").evaluate("e => getComputedStyle(e).color")
    assert muted != plain  # visibly distinct from an answer
    ARTIFACTS.mkdir(exist_ok=True)
    block = reply.locator(".qa-unconfirmed")
    block.evaluate("e => e.scrollIntoView({block: 'center'})")  # clear of the page's sticky header
    block.screenshot(path=str(ARTIFACTS / "unconfirmed.png"))  # the label and the closest sentence (docs/unconfirmed.png)
    ask(page, OFF_TOPIC)  # nothing relevant: declined, the plain statement, no closest sentence
    declined = bot_messages(page).nth(2)
    expect(declined).to_contain_text(ui.NO_ANSWER, timeout=30000)
    expect(declined.locator(".qa-candidate")).to_have_count(0)
    assert watched.foreign() == [] and watched.errors == []
