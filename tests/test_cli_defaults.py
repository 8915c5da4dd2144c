"""What a newcomer meets first on the command line (issue 31): the index ``qa ask`` / ``qa chat`` answer
from is named on stderr's first line (and that the bundled article is indexed into ./index when it holds
none), no library DEBUG lines, a cut question warned once, counts and articles spelled right.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qa
from qa.cli import main
from qa.errors import a_or_an, counted
from qa.index.intake import IndexedDocument

ROOT = Path(__file__).resolve().parents[1]


def run_in(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QA_INDEX_DIR"}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=folder, capture_output=True, text=True, env=env, input=stdin,
                          timeout=300)


@pytest.mark.slow
def test_ask_in_a_new_folder_says_it_indexes_the_article_into_index_first(tmp_path: Path) -> None:
    first = run_in(tmp_path, "ask", "What does the pact cover?", "--no-reader")
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0] == (
        "qa: no index in 'index' (the default, ./index): indexing the bundled article there first; --index chooses another index"
    )
    assert "joint military drills" in first.stdout and (tmp_path / "index" / "manifest.json").is_file()
    again = run_in(tmp_path, "chat", "--no-reader", stdin="When was the pact signed?\nquit\n")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0] == "qa: answering from the index 'index' (the default, ./index; --index chooses another)"
    assert again.stdout.count("Q: ") == 1


def test_the_index_env_is_named_and_an_explicit_index_is_not(
    article_bot: qa.QA, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(article_bot.info["path"]))
    monkeypatch.setattr(qa, "load", lambda *a, **k: article_bot)
    assert main(["ask", "When was the pact signed?"]) == 0
    assert capsys.readouterr().err.splitlines()[0] == (
        f"qa: answering from the index {str(article_bot.info['path'])!r} ($QA_INDEX_DIR; --index chooses another)"
    )
    assert main(["ask", "When was the pact signed?", "--index", str(article_bot.info["path"])]) == 0
    assert capsys.readouterr().err == ""
    assert main(["ask", "When was the pact signed? " + "pact " * 600]) == 0  # a warning about the question comes after it
    assert capsys.readouterr().err.splitlines()[0].startswith("qa: answering from the index ")


def test_chat_quits_on_quit_and_exit_and_shows_help(article_bot: qa.QA, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(qa, "load", lambda *a, **k: article_bot)
    for word in ("quit", "exit", "EXIT", "/quit"):
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"/help\nWhen was the pact signed?\n{word}\nWhat does the pact cover?\n"))
        assert main(["chat", "--index", str(article_bot.info["path"])]) == 0
        out = capsys.readouterr().out
        assert out.count("Q: ") == 1 and "Q: /help" not in out and f"Q: {word}" not in out, out
        assert "quit or exit     end the chat" in out and "/clear or /new   start a new conversation" in out


def test_a_long_question_is_warned_once(article_bot: qa.QA, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(qa, "load", lambda *a, **k: article_bot)
    with caplog.at_level(logging.WARNING):
        assert main(["ask", "When was the pact signed? " + "pact " * 600, "--index", str(article_bot.info["path"]), "--json"]) == 0
    assert [r.getMessage() for r in caplog.records if "cut to" in r.getMessage()] == ["question of 3025 characters cut to 2000"]
    capsys.readouterr()


def test_index_and_add_print_no_library_debug_lines(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Dogs bark at night. Owls hoot at dawn.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Cats sleep all day.\n", encoding="utf-8")
    built = run_in(tmp_path, "index", "a.txt", "--index", "idx")
    added = run_in(tmp_path, "add", "b.txt", "--index", "idx")
    assert built.returncode == 0 and added.returncode == 0, built.stderr + added.stderr
    assert "DEBUG" not in built.stderr + added.stderr and "bm25s" not in built.stderr + added.stderr
    assert built.stderr == "" and added.stderr == ""


def test_other_libraries_are_held_to_the_chosen_level() -> None:
    from qa.logs import OtherLibrariesAtLevel

    keep = OtherLibrariesAtLevel(logging.WARNING)

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "m", None, None)

    assert not keep.filter(record("bm25s", logging.DEBUG)) and not keep.filter(record("bm25s", logging.INFO))
    assert keep.filter(record("bm25s", logging.WARNING)) and keep.filter(record("qa.documents.ocr", logging.INFO))
    from qa.logs import configure_logging

    with pytest.raises(ValueError, match="qa_levels names loggers of the package"):
        configure_logging(logging.WARNING, {"bm25s": logging.DEBUG}, handlers=[])


def test_counts_and_articles_are_spelled_right(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert (counted(1, "page"), counted(3, "page"), counted(1200, "page")) == ("1 page", "3 pages", "1,200 pages")
    assert (a_or_an("int"), a_or_an("Answer"), a_or_an("list"), a_or_an("str")) == ("an int", "an Answer", "a list", "a str")
    one = IndexedDocument("leaflet.pdf", "Leaflet", "files/leaflet.pdf", 1, True)
    monkeypatch.setattr(qa, "list_documents", lambda *a, **k: [one], raising=False)
    assert main(["list"]) == 0
    assert capsys.readouterr().out == "leaflet.pdf\tLeaflet, 1 page, added\n"
    from qa.answering.conversation import turns_of

    with pytest.raises(ValueError, match=r"Currently, history is an int\."):
        turns_of(3)  # type: ignore[arg-type]
    answer = qa.Answer("q", "", True, 0.0, [], [])
    with pytest.raises(ValueError, match=r"Currently, history is an Answer\."):
        turns_of(answer)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Currently, history\[0\] is an int \(3\)\."):
        turns_of([3])
    with pytest.raises(ValueError, match=r"history\[0\] is a tuple of 1 item \(str\)"):
        turns_of([("only",)])
