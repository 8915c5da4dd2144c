"""One server for people and programs: the JSON API (:mod:`qa.web.api`) with the web chat
(:mod:`qa.web.chat`) mounted at ``/``, run by uvicorn; ``qa serve`` and ``python app.py`` start it.

Usage::

    qa serve [--host 127.0.0.1] [--port 7860] [--index DIR] [--allow-uploads] [--workers N]
             [--cors-origin ORIGIN ...] [--no-chat] [--no-reader | --reader FOLDER] [--max-json-kb 64] [--max-upload-mb 200]

The engine is loaded once per worker process at start-up; a missing or broken index stops the
server with a one-line message.  With ``--workers N`` (N > 1) uvicorn runs N processes on the one
index (each loads it; an upload through any of them rebuilds it under the build lock and the others
reload it by themselves within a second); the chat is then not mounted, because Gradio's queue
keeps its sessions in one process.

:func:`main` and :func:`run` are the command line of ``app.py`` and ``qa serve``: they print their
start-up lines and one-line errors to stderr (like :mod:`qa.cli`); everything else logs.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import qa
from qa.web.settings import (
    CHAT_LOGIN_MESSAGE,
    DEFAULT_HOST,
    DEFAULT_MAX_JSON_KB,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PORT,
    ServerSettings,
    api_key_from,
    resolve_address,
    uploads_line,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

SETTINGS_ENV = "QA_SERVE_SETTINGS"
"""Set by the parent for its worker processes (the settings as JSON, without the key); not a user setting."""
BACKLOG = 2048


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's options to a parser (shared by ``qa serve`` and ``app.py``).

    Args:
        parser: The parser (or sub-command parser) to extend.
    """
    parser.add_argument("--host", default=None, help=f"address to bind (default: $GRADIO_SERVER_NAME or {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=None, help=f"port (default: $GRADIO_SERVER_PORT or {DEFAULT_PORT})")
    parser.add_argument("--index", default=None, help="index location (default: the bundled article in $QA_INDEX_DIR or ./index)")
    parser.add_argument(
        "--allow-uploads",
        action="store_true",
        help="let clients add and remove documents even when bound to a non-loopback address (on by default on loopback)",
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes on the one index (default 1; >1 serves the API only)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow browser calls to the API from this origin (repeatable; default: CORS off)")
    parser.add_argument("--no-chat", action="store_true", help="serve the API without the web chat")
    parser.add_argument("--no-reader", action="store_true", help="answer with the sentence scorer alone (no reader model)")
    parser.add_argument("--reader", default=None, metavar="FOLDER",
                        help="answer with the reader model in this folder (default: the one shipped in qa/models/reader)")
    parser.add_argument("--max-json-kb", type=int, default=DEFAULT_MAX_JSON_KB, help=f"largest JSON request (default {DEFAULT_MAX_JSON_KB})")
    parser.add_argument("--max-upload-mb", type=int, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest upload request, all files together (default {DEFAULT_MAX_UPLOAD_MB})")


def parse_args(argv: Sequence[str] | None = None, prog: str = "app.py") -> argparse.Namespace:
    """Parse the server's command line.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv``.
        prog: The program name shown in usage and errors.

    Returns:
        The parsed arguments (``host`` and ``port`` are None when not given).
    """
    parser = argparse.ArgumentParser(prog=prog, description="Web chat and JSON API: extractive, cited answers from your documents.")
    add_arguments(parser)
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> ServerSettings:
    """The server's settings from its command line and environment (``QA_API_KEY``, the Gradio address variables).

    Args:
        args: Parsed command line (see :func:`add_arguments`).
        env: Environment variables.

    Returns:
        The settings.

    Raises:
        ValueError: A bad port, key, origin or limit, a non-loopback host without a key, or both
            ``--reader`` and ``--no-reader``.
    """
    if args.no_reader and args.reader:
        raise ValueError(f"--reader {args.reader} and --no-reader contradict each other: give one of them")
    host, port = resolve_address(args, env)
    return ServerSettings(
        host=host,
        port=port,
        index=args.index,
        allow_uploads=bool(args.allow_uploads),
        api_key=api_key_from(env),
        workers=args.workers,
        chat=not args.no_chat,
        cors_origins=tuple(args.cors_origin),
        max_json_kb=args.max_json_kb,
        max_upload_mb=args.max_upload_mb,
        reader=False if args.no_reader else (args.reader or True),
    )


def load_engine(settings: ServerSettings) -> qa.QA:
    """Load the engine the settings name (auto-reload on, so uploads through other workers are seen).

    Args:
        settings: Where the index is, and whether to use the reader.

    Returns:
        The engine.

    Raises:
        QAError: The index is missing, damaged or stale.
    """
    return qa.load(settings.index, reader=settings.reader)


def create_app(bot: qa.QA, settings: ServerSettings) -> FastAPI:
    """The API with the chat mounted at ``/`` (when :attr:`ServerSettings.serves_chat`).

    Args:
        bot: The loaded engine.
        settings: The server's settings.

    Returns:
        The ASGI app to serve.
    """
    from qa.web.api import create_api

    app = create_api(bot, settings)
    if not settings.serves_chat:
        from fastapi.responses import RedirectResponse

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/docs")

        return app
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from qa.web.chat import CSS, build_demo, make_theme
    from qa.web.pages import CSS as PAGE_CSS, PAGE_JS
    from qa.web.uploads import UPLOAD_MAX_FILE_MB

    demo = build_demo(bot, uploads=settings.uploads, host=settings.host)
    login = settings.chat_login  # off loopback with uploads on: the API key is the chat's password
    return gr.mount_gradio_app(
        app,
        demo,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        theme=make_theme(),
        css=CSS + PAGE_CSS,
        js=PAGE_JS,
        ssr_mode=False,
        footer_links=["api"],
        show_error=False,
        max_file_size=f"{UPLOAD_MAX_FILE_MB}mb" if settings.uploads else 0,  # 0: the upload route refuses every file
        auth=login,
        auth_message=CHAT_LOGIN_MESSAGE if login else None,
    )


def _configure_logging() -> None:
    from qa.logs import configure_logging

    configure_logging(logging.WARNING, {"qa": logging.INFO})


def _remove_leftovers(settings: ServerSettings) -> None:
    """Remove the upload folders a killed server left (see :mod:`qa.web.leftovers`); a failure is only logged."""
    from qa.index.location import parse_location
    from qa.web.leftovers import remove_upload_leftovers

    try:
        where = parse_location(settings.index)
        remove_upload_leftovers(None if where.is_milvus else where.path)
    except Exception as exc:  # noqa: BLE001 - leftovers never stop a server
        logger.warning("could not look for leftover upload folders (%s: %s)", type(exc).__name__, exc)


def _warm_up(bot: qa.QA) -> None:
    """Answer one question before serving, so the first client does not pay the first run's cost."""
    from qa.web.chat import EXAMPLES

    try:
        bot.ask(EXAMPLES[0])
    except Exception as exc:  # noqa: BLE001 - a warm-up must never stop the server
        logger.warning("warm-up question failed (%s: %s)", type(exc).__name__, exc)


def app_from_env() -> FastAPI:
    """The app of one worker process (uvicorn's factory with ``--workers N``): settings from the parent.

    Returns:
        The ASGI app.

    Raises:
        ValueError: The parent's settings are missing or malformed.
    """
    _configure_logging()
    raw = os.environ.get(SETTINGS_ENV)
    if raw is None:
        raise ValueError(f"{SETTINGS_ENV} is not set: start the server with `qa serve`, not uvicorn directly")
    settings = ServerSettings.from_json(raw, os.environ)
    bot = load_engine(settings)
    _warm_up(bot)
    return create_app(bot, settings)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (IPv6 for an address with a colon).

    Args:
        host: Address or host name (``[::1]`` brackets allowed).
        port: Port.

    Returns:
        The bound socket, inheritable by worker processes.

    Raises:
        OSError: The address is taken or cannot be bound.
    """
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    family = socket.AF_INET6 if ":" in name else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets of that protocol, and without
    # it a response's body waits for the client's delayed ACK of its headers (~40 ms a request on Linux)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((name, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(settings: ServerSettings, bot: qa.QA | None, sock: socket.socket) -> int:
    """Run uvicorn on a bound socket until interrupted.

    Args:
        settings: The server's settings.
        bot: The loaded engine (one worker); None with several workers (each loads its own).
        sock: The bound socket.

    Returns:
        0 after a normal shutdown, 1 when the server could not start.
    """
    import uvicorn

    common = {"log_config": None, "access_log": False, "timeout_graceful_shutdown": 2, "backlog": BACKLOG}
    if settings.workers > 1:
        from uvicorn.supervisors import Multiprocess

        os.environ[SETTINGS_ENV] = settings.to_json()
        config = uvicorn.Config("qa.web.server:app_from_env", factory=True, workers=settings.workers, **common)
        Multiprocess(config, sockets=[sock]).run()
        return 0
    assert bot is not None
    server = uvicorn.Server(uvicorn.Config(create_app(bot, settings), **common))
    if settings.serves_chat:
        login = ("warm-up", settings.api_key) if settings.chat_login and settings.api_key else None
        threading.Thread(target=_warm_chat, args=(server, local_url(settings.host, settings.port), login), daemon=True).start()
    server.run(sockets=[sock])
    return 0 if server.started else 1


def local_url(host: str, port: int) -> str:
    """The address this machine reaches the server at (``0.0.0.0`` and ``::`` are reached on loopback).

    Args:
        host: The bound address.
        port: The bound port.

    Returns:
        ``http://HOST:PORT/``.
    """
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    name = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(name, name)
    return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"


def _warm_chat(server: object, url: str, login: tuple[str, str] | None = None, timeout: float = 60.0) -> None:
    """Once uvicorn serves, send one question through the chat's ``/chat`` endpoint (see :func:`qa.web.chat.warm_up`)."""
    from qa.web.chat import warm_up

    deadline = time.monotonic() + timeout
    while not getattr(server, "started", False) and not getattr(server, "should_exit", False) and time.monotonic() < deadline:
        time.sleep(0.05)
    if getattr(server, "started", False):
        warm_up(url, login)


def main(argv: Sequence[str] | None, say: Callable[[str], None], prog: str = "app.py") -> int:
    """Load the engine, then serve the API (and the chat) until interrupted.

    Args:
        argv: Command-line arguments without the program name.
        say: Shows one line to the person who started the server (the command line's stderr,
            :func:`qa.cli.say`); the package itself never prints.
        prog: The program name in messages (``app.py`` or ``qa serve``).

    Returns:
        The exit status: 0 after a normal shutdown, 1 when the index cannot be loaded or the
        server cannot start, 2 for bad settings (address, key, limits).
    """
    return run(parse_args(argv, prog), say, prog)


def run(args: argparse.Namespace, say: Callable[[str], None], prog: str = "app.py") -> int:
    """Serve with parsed arguments (``qa serve`` parses its own); see :func:`main`.

    Args:
        args: Parsed command line (see :func:`add_arguments`).
        say: Shows one line to the person who started the server (see :func:`main`).
        prog: The program name in messages.

    Returns:
        The exit status, as :func:`main`.
    """
    _configure_logging()
    try:
        settings = settings_from_args(args, os.environ)
    except ValueError as exc:
        say(f"{prog}: error: {exc}")
        return 2
    where = settings.index or f"{qa.default_index_dir()} (default article)"
    started = time.perf_counter()
    try:
        bot = load_engine(settings)
    except Exception as exc:  # QAError above all; shown as one line, never a traceback
        say(f"{prog}: error: cannot load the index {where}: {exc}")
        return 1
    info = bot.info
    _remove_leftovers(settings)
    say(
        f"loaded index {info['path']}: {len(info['documents'])} document(s), {info['passages']} passages "
        f"in {time.perf_counter() - started:.1f} s"
    )
    say(uploads_line(settings.host, settings.allow_uploads))
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        say(f"{prog}: error: cannot serve on {settings.host}:{settings.port}: {exc}")
        return 1
    host = f"[{settings.host}]" if ":" in settings.host and not settings.host.startswith("[") else settings.host
    url = f"http://{host}:{settings.port}"
    key = "Authorization: Bearer $QA_API_KEY" if settings.api_key else "no key (QA_API_KEY unset; loopback only)"
    chat = f"chat: {url}/" if settings.serves_chat else (
        "chat: off (--no-chat)" if not settings.chat else f"chat: off (--workers {settings.workers}: the chat needs one worker)"
    )
    say(f"API: {url}/v1 (docs {url}/docs), {key}; {chat}; workers: {settings.workers}")
    if settings.cors_origins:
        say(f"CORS: {', '.join(settings.cors_origins)}")
    if settings.workers > 1:
        del bot  # each worker loads its own
        return serve(settings, None, sock)
    _warm_up(bot)
    return serve(settings, bot, sock)
