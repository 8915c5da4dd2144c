"""The chat's document actions (qa/web/uploads.py) with a fake engine and a fake library: upload,
remove, list; every failure is one line and keeps the served index."""

from __future__ import annotations

import html
import logging
from typing import Any

import pytest

import qa
from qa.web import render as ui
from qa.web import uploads
from tests.web.test_chat import InfoBot
from tests.web.test_render import INFO, _add_report, _added


class LibraryBot(InfoBot):
    """A fake engine whose index can be reloaded (counts the reloads, or fails)."""

    def __init__(self, reload_error: BaseException | None = None) -> None:
        super().__init__()
        self.reloads = 0
        self.reload_error = reload_error

    def reload(self) -> None:
        self.reloads += 1
        if self.reload_error is not None:
            raise self.reload_error


@pytest.fixture
def library(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace qa.add_documents / qa.remove_documents by recorders; set "error" to make them raise."""
    calls: dict[str, Any] = {"add": [], "remove": [], "error": None}

    def add_documents(paths: Any, index: Any = None, **kwargs: Any) -> Any:
        calls["add"].append((list(paths), index))
        if calls["error"] is not None:
            raise calls["error"]
        return _add_report(added=[_added(p.name, p.stem) for p in paths])

    def remove_documents(doc_ids: Any, index: Any = None) -> Any:
        from pathlib import Path

        from qa.index.intake import RemoveReport

        calls["remove"].append((list(doc_ids), index))
        if calls["error"] is not None:
            raise calls["error"]
        return RemoveReport(Path(index), tuple(doc_ids), 1)

    monkeypatch.setattr(qa, "add_documents", add_documents, raising=False)
    monkeypatch.setattr(qa, "remove_documents", remove_documents, raising=False)
    return calls


def test_upload_paths(tmp_path: Any) -> None:
    from pathlib import Path
    from types import SimpleNamespace

    assert uploads.upload_paths(None) == [] and uploads.upload_paths([]) == []
    assert uploads.upload_paths("a.pdf") == [Path("a.pdf")]
    assert uploads.upload_paths(["a.pdf", Path("b.txt"), "a.pdf", SimpleNamespace(path="c.md")]) == [Path("a.pdf"), Path("b.txt"), Path("c.md")]
    with pytest.raises(ValueError, match="an uploaded file must be given as a path, not 3"):
        uploads.upload_paths([3])


def test_add_uploads_builds_into_the_served_index_then_reloads(library: dict[str, Any]) -> None:
    from pathlib import Path

    bot = LibraryBot()
    out = uploads.add_uploads(bot, ["/tmp/gradio/1/report.pdf", "/tmp/gradio/2/notes.docx"])
    assert library["add"] == [([Path("/tmp/gradio/1/report.pdf"), Path("/tmp/gradio/2/notes.docx")], INFO["path"])]
    assert bot.reloads == 1
    assert "Indexed 2 documents" in out and "report.pdf" in out and "notes.docx" in out


def test_add_uploads_without_files_does_not_build(library: dict[str, Any]) -> None:
    bot = LibraryBot()
    assert uploads.add_uploads(bot, None) == ui.format_notice(ui.NO_FILES)
    assert library["add"] == [] and bot.reloads == 0


@pytest.mark.parametrize("error", [qa.IndexLockedError("locked"), ValueError("too many files"), OSError("disk full /secret")])
def test_a_failed_upload_is_a_message_and_keeps_the_index(library: dict[str, Any], error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    library["error"] = error
    bot = LibraryBot()
    with caplog.at_level(logging.INFO, logger="qa.web.uploads"):
        out = uploads.add_uploads(bot, ["a.pdf"])
    assert out == ui.format_build_error(error)
    assert bot.reloads == 0 and "Traceback" not in out and "secret" not in out
    if isinstance(error, OSError):  # unexpected failures are logged with their traceback for the operator
        assert any(r.exc_info for r in caplog.records)


def test_a_failed_reload_says_the_old_index_still_serves(library: dict[str, Any]) -> None:
    bot = LibraryBot(reload_error=qa.CorruptIndexError("index.faiss is truncated"))
    out = uploads.add_uploads(bot, ["a.pdf"])
    assert "Indexed 1 document" in out
    assert "Could not switch the chat to the new index (it keeps answering from the previous one): index.faiss is truncated" in out


def test_remove_document_removes_from_the_served_index_then_reloads(library: dict[str, Any]) -> None:
    bot = LibraryBot()
    out = uploads.remove_document(bot, "report.pdf")
    assert library["remove"] == [(["report.pdf"], INFO["path"])] and bot.reloads == 1
    assert "Removed 1 document" in out
    assert "doc_id must be a non-empty string, not ''" in html.unescape(uploads.remove_document(bot, ""))
    library["error"] = qa.IndexLockedError("locked")
    assert uploads.remove_document(bot, "a.pdf") == ui.format_build_error(qa.IndexLockedError("locked"), "remove the document")
    assert bot.reloads == 1


def test_documents_of_lists_the_served_documents() -> None:
    assert uploads.documents_of(InfoBot()) == [
        {"doc_id": "a.txt", "title": "First <doc>", "pages": None},
        {"doc_id": "b.txt", "title": "", "pages": None},
    ]
