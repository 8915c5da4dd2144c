"""Command line: ``qa index``, ``qa ask``, ``qa chat``, ``qa info``, ``qa add``, ``qa remove``, ``qa list``, ``qa page``, ``qa serve``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

EXIT_ERROR = 1
EXIT_USAGE = 2
INDEX_HELP = (
    "index location: a folder, a Milvus Lite path ending in .db, or http(s)://host:port of a Milvus server "
    "(token from $QA_MILVUS_TOKEN), each Milvus one optionally ending in #COLLECTION (default: $QA_INDEX_DIR or ./index)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Extractive, cited answers from your documents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="index files and folders of .txt, .md, .html, .pdf, .docx and scans")
    index.add_argument("paths", nargs="+", help="files or folders (searched recursively)")
    index.add_argument("--index", help=INDEX_HELP)
    index.add_argument("--model", help="sentence-transformers model name or folder (default: bundled all-MiniLM-L6-v2)")
    index.add_argument(
        "--replace", action="store_true",
        help="replace an index that holds documents added with `qa add` or uploads, removing them and their kept copies "
        "(without it such a build is refused)",
    )
    index.add_argument(
        "--shard", metavar="I/N", help="Milvus only: index worker I's share of N (every N-th file from the I-th); run N workers"
    )

    ask = sub.add_parser("ask", help="ask a question")
    ask.add_argument("question")
    ask.add_argument("--index", help=INDEX_HELP + "; the bundled article is indexed there when it holds no index")
    ask.add_argument("--top-k", type=int, default=None, help="passages retrieved (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--no-reader", action="store_true", help="answer with the sentence scorer alone (no reader model)")

    chat = sub.add_parser("chat", help="a conversation: questions from standard input until quit or Ctrl-D (/help for commands), follow-ups read with the earlier turns")
    chat.add_argument("--index", help=INDEX_HELP + "; the bundled article is indexed there when it holds no index")
    chat.add_argument("--top-k", type=int, default=None, help="passages retrieved (default 5)")
    chat.add_argument("--no-reader", action="store_true", help="answer with the sentence scorer alone (no reader model)")

    info = sub.add_parser("info", help="describe an index without loading the model")
    info.add_argument("--index", help=INDEX_HELP)

    add = sub.add_parser("add", help="add files to an index (a copy of each is kept with it)")
    add.add_argument("paths", nargs="+", metavar="FILE", help=".txt, .md, .html, .pdf, .docx or image files, or folders of them")
    add.add_argument("--index", help=INDEX_HELP)
    add.add_argument("--max-file-mb", type=float, default=None, help="skip files larger than this (default 50)")
    for command in (index, add):
        command.add_argument(
            "--ocr-budget-s", type=float, default=None, help="seconds of OCR for scanned pages in this call (default 900)"
        )

    remove = sub.add_parser("remove", help="remove documents from an index")
    remove.add_argument("doc_ids", nargs="+", metavar="DOC_ID", help="document ids, as `qa list` shows them")
    remove.add_argument("--index", help=INDEX_HELP)

    listing = sub.add_parser("list", help="list the documents of an index")
    listing.add_argument("--index", help=INDEX_HELP)

    page = sub.add_parser("page", help="a page of a PDF, scan or image as PNG, with a quote (a citation's characters) boxed")
    page.add_argument("doc_id", metavar="DOC_ID", help="the document, as `qa list` shows it")
    page.add_argument("page", metavar="PAGE", type=int, help="the 1-based page (a citation's p.)")
    page.add_argument("--start", type=int, help="the quote's first character (a citation's characters S-E)")
    page.add_argument("--end", type=int, help="one past the quote's last character")
    page.add_argument("--dpi", type=int, default=150, help="resolution, 72-300 (default 150)")
    page.add_argument("-o", "--output", help="the PNG file to write")
    page.add_argument("--json", action="store_true", help="print the page size and the boxes as JSON")
    page.add_argument("--index", help=INDEX_HELP)

    from qa.web.server import add_arguments

    serve = sub.add_parser("serve", help="serve the JSON API and the web chat (see README: HTTP API)")
    add_arguments(serve)
    return parser


def say(message: str) -> None:
    """One line to stderr, at once (what a server started from the command line tells its operator)."""
    print(message, file=sys.stderr, flush=True)


def _print_answer(answer: object) -> None:
    follow_up = getattr(answer, "follow_up", None)
    if follow_up is not None:
        terms = f" (+ {', '.join(follow_up.terms)})" if follow_up.terms else ""
        print(f"(following up on: “{follow_up.question}”{terms})\n")
    if answer.abstained:  # type: ignore[attr-defined]
        cand = answer.candidate  # type: ignore[attr-defined]
        if cand is None:
            print("The documents do not answer this question.")
        else:
            c = cand.citation
            page = f", p. {c.page}" if c.page is not None else ""
            print("Not confirmed — the closest sentence in the documents (check it before relying on it):\n")
            print(f"Not confirmed: “{c.quote}” [{c.number}]")
            if cand.phrase is not None:
                print(f"(the closest phrase: {cand.phrase.text})")
            print(f"\n[{c.number}] {c.title} — {c.doc_id}{page}, characters {c.start}-{c.end}")
        if answer.passages:  # type: ignore[attr-defined]
            print("\nClosest passages (related, not an answer):")
            for p in answer.passages[:3]:  # type: ignore[attr-defined]
                print(f"- {p.title} [{p.doc_id} {p.start}-{p.end}]: {p.text}")
        return
    if answer.phrase is not None:  # type: ignore[attr-defined]
        print(f"Answer: {answer.phrase.text}\n")  # type: ignore[attr-defined]
    markers = " ".join(f"{c.quote} [{c.number}]" for c in answer.citations)  # type: ignore[attr-defined]
    print(markers)
    print(f"\n(confidence {answer.confidence:.2f})\n")  # type: ignore[attr-defined]
    for c in answer.citations:  # type: ignore[attr-defined]
        page = f", p. {c.page}" if c.page is not None else ""
        print(f"[{c.number}] {c.title} — {c.doc_id}{page}, characters {c.start}-{c.end}")
        print(f"    “{c.quote}”")


def _run(args: argparse.Namespace) -> int:
    import qa

    if args.command == "index":
        ocr = {} if args.ocr_budget_s is None else {"ocr_budget_s": args.ocr_budget_s}
        report = qa.build_index(args.paths, args.index, model=args.model, shard=args.shard, replace=args.replace, **ocr)
        print(f"indexed {report.documents} document(s), {report.passages} passage(s) into {report.path}")
        if report.removed_added:
            print(f"removed {len(report.removed_added)} added document(s) and their kept copies (--replace): {', '.join(report.removed_added)}")
        if report.skipped:
            print(f"skipped {len(report.skipped)} file(s):")
            for s in report.skipped:
                print(f"- {s.path}: {s.reason}")
        return 0
    if args.command in ("add", "remove", "list"):
        return _run_library(args)
    if args.command == "serve":
        from qa.web.server import run

        return run(args, say, prog="qa serve")
    if args.command == "chat":
        return _chat(args)
    if args.command == "page":
        return _page(args)
    if args.command == "info":
        from qa.index.backend import read_index_manifest
        from qa.index.location import parse_location

        path = str(parse_location(args.index))
        manifest = read_index_manifest(args.index)
        print(f"index:     {path}")
        print(f"model:     {manifest['model']['name']} ({manifest['model']['dimension']} dimensions)")
        print(f"type:      {manifest['index']['type']}")
        print(f"built:     {manifest['built_at']}")
        counts = manifest["counts"]
        print(f"documents: {counts['documents']}   passages: {counts['passages']}   sentences: {counts['sentences']}")
        for doc in manifest["documents"]:
            print(f"- {doc['doc_id']}: {doc['title']}")
        return 0
    from qa.engine import clean_question

    _name_the_default_index(args.index)  # the first line of stderr
    question = clean_question(args.question)  # checked before the model loads; cut once, so warned once
    bot = qa.load(args.index, reader=not args.no_reader)
    answer = bot.ask(question, top_k=args.top_k)
    if args.json:
        from qa.serialize import answer_to_json

        print(json.dumps(answer_to_json(answer), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return 0


def _page(args: argparse.Namespace) -> int:
    if args.output is None and not args.json:
        raise ValueError("say where to write the page: -o page.png (or --json for the boxes)")
    if (args.start is None) != (args.end is None):
        raise ValueError("give both --start and --end (a citation's characters), or neither")
    if args.index is None:
        raise ValueError("name the index: --index DIR (the one the citation came from)")
    from qa.engine import show_page
    from qa.index.backend import open_store

    view = show_page(open_store(args.index), args.doc_id, args.page, start=args.start, end=args.end, dpi=args.dpi)
    if args.output is not None:
        with open(args.output, "wb") as handle:
            handle.write(view.png)
        print(f"wrote {args.output}: page {view.page} of {view.doc_id}, {view.width} × {view.height} pixels, {len(view.boxes)} line(s) boxed", file=sys.stderr)
    if args.json:
        print(json.dumps({"doc_id": view.doc_id, "page": view.page, "width": view.width, "height": view.height, "dpi": view.dpi,
                          "boxes": [list(b) for b in view.boxes], "read_by": view.read_by, "deskew": view.deskew}))
    return 0


def _name_the_default_index(index: str | None) -> None:
    """Without ``--index``: say first which index answers, and that the bundled article is indexed there when none is.

    ``qa ask`` and ``qa chat`` answer from ``$QA_INDEX_DIR`` or ``./index``; when that folder holds
    no index they index the bundled article into it (and its lock file ``.index.lock`` beside it),
    which this line says before it happens.
    """
    if index is not None:
        return
    from qa.index.local.manifest import MANIFEST
    from qa.index.location import INDEX_ENV, parse_location

    where = parse_location(None)
    default = f"${INDEX_ENV}" if INDEX_ENV in os.environ else "the default, ./index"
    if where.is_milvus or (where.path / MANIFEST).is_file():
        say(f"qa: answering from the index {str(where)!r} ({default}; --index chooses another)")
    else:
        say(f"qa: no index in {str(where)!r} ({default}): indexing the bundled article there first; --index chooses another index")


CLEAR_COMMANDS = ("/clear", "/new")
"""Lines of ``qa chat`` that start a new conversation."""
QUIT_COMMANDS = ("quit", "exit", "/quit", "/exit")
"""Lines of ``qa chat`` that end it (as Ctrl-D does)."""
HELP_COMMANDS = ("/help", "/?")
"""Lines of ``qa chat`` that show its commands."""
CHAT_HELP = (
    "One question per line; a follow-up (\"and who is building it?\") is read with the earlier answers.\n"
    "  /clear or /new   start a new conversation\n"
    "  quit or exit     end the chat (or Ctrl-D)\n"
    "  /help            show this help"
)


def _chat(args: argparse.Namespace) -> int:
    """``qa chat``: one question per line of standard input, each asked with the earlier answers as history."""
    import qa

    _name_the_default_index(args.index)
    bot = qa.load(args.index, reader=not args.no_reader)
    interactive = sys.stdin.isatty()
    if interactive:
        say("Ask a question (quit or Ctrl-D to end, /clear for a new conversation, /help for help).")
    history: list[qa.Answer] = []
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in QUIT_COMMANDS:
            break
        if question.lower() in HELP_COMMANDS:
            print(CHAT_HELP + "\n", flush=True)
            continue
        if question in CLEAR_COMMANDS:
            history = []
            print("(new conversation)\n")
            continue
        try:
            answer = bot.ask(question, top_k=args.top_k, history=history)
        except ValueError as exc:
            print(f"qa: error: {exc}", file=sys.stderr)
            continue
        print(f"Q: {question}")
        _print_answer(answer)
        print(flush=True)
        history.append(answer)
    if interactive:
        print(file=sys.stderr)
    return 0


def _run_library(args: argparse.Namespace) -> int:
    """``qa add``, ``qa remove`` and ``qa list``."""
    import qa
    from qa.errors import counted

    if args.command == "list":
        docs = qa.list_documents(args.index)
        for doc in docs:
            pages = f", {counted(doc.pages, 'page')}" if doc.pages else ""
            added = ", added" if doc.added else ""
            print(f"{doc.doc_id}\t{doc.title}{pages}{added}")
        return 0
    if args.command == "remove":
        removed = qa.remove_documents(args.doc_ids, args.index)
        print(f"removed {len(removed.removed)} document(s) from {removed.path}; {removed.documents} left")
        return 0
    limits = {} if args.max_file_mb is None else {"max_file_mb": args.max_file_mb}
    if args.ocr_budget_s is not None:
        limits["ocr_budget_s"] = args.ocr_budget_s
    report = qa.add_documents(args.paths, args.index, **limits)
    for doc in report.added:
        pages = f", {counted(doc.pages, 'page')}" if doc.pages else ""
        print(f"{'replaced' if doc.replaced else 'added'} {doc.doc_id}: {doc.title}{pages}")
    for doc_id in report.unchanged:
        print(f"unchanged {doc_id} (already indexed with the same content)")
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}")
    print(f"{report.documents} document(s) in {report.path}")
    return EXIT_ERROR if report.skipped and not (report.added or report.unchanged) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error, 2 bad usage)."""
    args = _parser().parse_args(argv)
    from qa.logs import configure_logging

    # long work shows progress: OCR's pages as it goes; no library's DEBUG lines (bm25s: "Building index from tokens")
    progress = {"qa.documents.ocr": logging.INFO} if args.command in ("index", "add") else {}
    configure_logging(logging.INFO if args.verbose else logging.WARNING, progress)
    from qa.errors import IngestError, QAError

    try:
        return _run(args)
    except ValueError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IngestError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except QAError as exc:
        print(f"qa: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
