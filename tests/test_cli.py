from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import main


def run_cli(*args: str, env_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if env_dir is not None:
        env["QA_INDEX_DIR"] = str(env_dir)
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_index_info_ask_round_trip(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.md").write_text("# Harbour news\nThe new harbour opens in May 2027. It will host cruise ships.\n", encoding="utf-8")
    (docs / "bad.txt").write_bytes(b"\xff\xfe\x00\x00garbage")
    (docs / "table.csv").write_text("a,b\n", encoding="utf-8")  # a folder's unsupported file is reported too
    index = tmp_path / "idx"
    built = run_cli("index", str(docs), "--index", str(index))
    assert built.returncode == 0, built.stderr
    assert "indexed 1 document(s)" in built.stdout and "skipped 2 file(s)" in built.stdout and "bad.txt" in built.stdout
    assert "table.csv: unsupported file type '.csv'" in built.stdout
    info = run_cli("info", "--index", str(index))
    assert info.returncode == 0 and "harbour.md: Harbour news" in info.stdout and "type:      flat" in info.stdout
    asked = run_cli("ask", "When does the new harbour open?", "--index", str(index), "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert not answer["abstained"] and "May 2027" in answer["text"]
    c = answer["citations"][0]
    import qa

    assert qa.load(index).document("harbour.md").text[c["start"] : c["end"]] == c["quote"]  # offsets into the stored text


def test_ask_prints_citations_and_abstains(tmp_path: Path) -> None:
    out = run_cli("ask", "What does the pact cover?", "--no-reader", env_dir=tmp_path / "default")
    assert out.returncode == 0, out.stderr
    assert "joint military drills" in out.stdout and "[1]" in out.stdout and "characters 371-588" in out.stdout
    out = run_cli("ask", "What is the capital of France?", env_dir=tmp_path / "default")
    assert out.returncode == 0 and "do not answer" in out.stdout and "related, not an answer" in out.stdout
    asked = run_cli("ask", "What is the capital of France?", "--json", env_dir=tmp_path / "default")
    assert json.loads(asked.stdout)["status"] == "declined"
    out = run_cli("ask", "Who is Japan's defense minister?", env_dir=tmp_path / "default")  # below t_answer
    assert out.returncode == 0 and out.stdout.startswith("Not confirmed — the closest sentence in the documents")
    assert "Not confirmed: “" in out.stdout and "Minister Iwaya" in out.stdout and "do not answer" not in out.stdout


def test_errors_exit_nonzero_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "   ", "--index", str(tmp_path)]) == 2
    assert "question is empty" in capsys.readouterr().err
    assert main(["ask", "hello", "--index", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "no index in" in err and "Traceback" not in err
    assert main(["index", str(tmp_path / "nothing-here"), "--index", str(tmp_path / "i")]) == 1
    assert "path does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["index", str(tmp_path / "empty"), "--index", str(tmp_path / "i")]) == 1
    assert "nothing to index" in capsys.readouterr().err
    assert main(["info", "--index", str(tmp_path / "missing")]) == 1
    assert main(["index", str(tmp_path / "empty"), "--index", str(tmp_path / "i"), "--ocr-budget-s", "0"]) == 2
    assert "ocr_budget_s must be a number of seconds greater than 0. Currently, ocr_budget_s is 0.0" in capsys.readouterr().err


def test_ask_prints_the_phrase_first_and_in_json(tmp_path: Path) -> None:
    out = run_cli("ask", "When was the pact signed?", env_dir=tmp_path / "default")
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("Answer: ") and "Nov. 1" in first
    asked = run_cli("ask", "When was the pact signed?", "--json", env_dir=tmp_path / "default")
    assert json.loads(asked.stdout)["status"] == "answered" and json.loads(asked.stdout)["candidate"] is None
    phrase = json.loads(asked.stdout)["phrase"]
    assert "Nov. 1" in phrase["text"] and phrase["end"] - phrase["start"] == len(phrase["text"])
    plain = run_cli("ask", "When was the pact signed?", "--json", "--no-reader", env_dir=tmp_path / "default")
    assert json.loads(plain.stdout)["phrase"] is None


def test_add_list_ask_with_page_and_remove(tmp_path: Path, sample_pdfs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from tests import sample_documents as documents

    index = tmp_path / "idx"
    cut = documents.truncate(sample_pdfs["report_v2"], tmp_path / "cut.pdf")
    assert main(["add", str(sample_pdfs["report"]), str(cut), "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "added report.pdf: Harbour Report 2031, 3 pages" in out
    assert "skipped " in out and "cut.pdf: damaged or truncated PDF" in out
    assert main(["add", str(sample_pdfs["report"]), "--index", str(index)]) == 0
    assert "unchanged report.pdf (already indexed with the same content)" in capsys.readouterr().out
    assert main(["list", "--index", str(index)]) == 0
    assert capsys.readouterr().out == "report.pdf\tHarbour Report 2031, 3 pages, added\n"
    assert main(["ask", "When was the lighthouse painted green?", "--index", str(index), "--no-reader"]) == 0
    out = capsys.readouterr().out
    assert "March 2031" in out and "[1] Harbour Report 2031 — report.pdf, p. 2, characters" in out
    assert main(["ask", "When was the lighthouse painted green?", "--index", str(index), "--no-reader", "--json"]) == 0
    citations = json.loads(capsys.readouterr().out)["citations"]
    assert [c["page"] for c in citations if "lighthouse" in c["quote"]] == [2]
    assert main(["add", str(sample_pdfs["layout"]), "--index", str(index)]) == 0
    capsys.readouterr()
    assert main(["remove", "report.pdf", "--index", str(index)]) == 0
    assert "removed 1 document(s)" in capsys.readouterr().out and not (index / "files" / "report.pdf").exists()
    assert main(["remove", "nope.pdf", "--index", str(index)]) == 1
    assert "no document 'nope.pdf'" in capsys.readouterr().err
    assert main(["add", str(cut), "--index", str(index)]) == 1  # only skipped files: an error status
    assert main(["list", "--index", str(tmp_path / "missing")]) == 1
    assert "no index in" in capsys.readouterr().err


def test_unconfirmed_answer_prints_not_confirmed(capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import _print_answer
    from qa.types import Answer, Candidate, Citation, Span

    quote = "The pact covers joint military drills."
    c = Citation(1, "pact.txt", "Pact", quote, 10, 10 + len(quote), 0.7, 0, page=2)
    ans = Answer("What does the pact cover?", "", True, 0.31, [], [], None,
                 Candidate(quote, c, Span("pact.txt", 26, 47, "joint military drills"), 0.31))
    assert ans.status == "unconfirmed"
    _print_answer(ans)
    out = capsys.readouterr().out
    assert out.startswith("Not confirmed — the closest sentence in the documents") and "do not answer" not in out
    assert f"Not confirmed: “{quote}” [1]" in out and "(the closest phrase: joint military drills)" in out
    assert "[1] Pact — pact.txt, p. 2, characters 10-48" in out and "confidence" not in out
    _print_answer(Answer("q", "", True, 0.05, [], []))
    assert capsys.readouterr().out.startswith("The documents do not answer this question.")
