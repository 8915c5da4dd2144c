"""``qa chat``: a conversation read from standard input until end of file."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import qa
from qa.cli import main

JET = "When will the new fighter jet be airborne?"
WHO = "And who is building it?"


def test_chat_reads_questions_until_eof_and_follows_up(
    article_bot: qa.QA, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(qa, "load", lambda *args, **kwargs: article_bot)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{JET}\n\n{WHO}\n/clear\n{WHO}\n"))
    assert main(["chat"]) == 0
    out = capsys.readouterr().out
    first, follow, cleared = out.split("Q: ")[1:]
    assert first.startswith(JET) and "Answer: 2035" in first and "[1] " in first and "following up on" not in first
    assert follow.startswith(WHO) and "Italy and Britain" in follow
    assert f"(following up on: \u201c{JET}\u201d" in follow and "eu-japan-security-pact.txt, characters" in follow
    assert "(new conversation)" in follow and "following up on" not in cleared


def test_chat_through_a_real_pipe(article_bot: qa.QA) -> None:
    import os

    index = str(article_bot.store.location)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "chat", "--index", index], input=f"{JET}\n{WHO}\n", capture_output=True, text=True,
        env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Q: ") == 2 and "Italy and Britain" in done.stdout.split("Q: ")[2]
    assert "Traceback" not in done.stderr
