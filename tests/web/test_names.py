"""Upload names and server paths in messages (qa/web/names.py), and the chat's uploads that use them:
a name that cleans to an indexed document's is refused, a bad file is named by its upload name."""

from __future__ import annotations

import html
import io
import shutil
from pathlib import Path

import pytest

import qa
from qa.web import uploads
from qa.web.names import MAX_NAME_BYTES, renamed_clashes, upload_name, without_paths


def test_upload_name_keeps_the_last_component_and_refuses_bad_names() -> None:
    assert upload_name("../../etc/report.pdf") == "report.pdf" and upload_name("C:\\docs\\a b.txt") == "a b.txt"
    assert upload_name("é" * 125 + ".txt") == "é" * 125 + ".txt"  # 254 bytes: allowed
    with pytest.raises(ValueError, match=r"is 264 bytes long; at most 255: rename the file to a shorter name"):
        upload_name("é" * 130 + ".txt")
    with pytest.raises(ValueError, match=r"the file name 'a<NUL>b.txt' holds a NUL character: rename the file"):
        upload_name("a\x00b.txt")
    for empty in ("", "  ", "..", "a/..", None):
        with pytest.raises(ValueError, match="every uploaded file needs a file name"):
            upload_name(empty)
    assert MAX_NAME_BYTES == 255


def test_only_a_name_that_needed_cleaning_is_refused_when_it_meets_an_indexed_one() -> None:
    indexed = ["a_b.txt", "report.pdf"]
    refused = renamed_clashes(['a"b.txt', "a\u2215b.txt", "a_b.txt", "new.txt", "Report.PDF"], indexed)
    assert set(refused) == {'a"b.txt', "a\u2215b.txt"}  # a_b.txt itself replaces its document, as documented
    assert "stored as 'a_b.txt', the name of a document already in the index; rename the file (to 'a_b.txt'" in refused['a"b.txt']
    assert renamed_clashes(['a"b.txt'], []) == {}  # nothing to clash with: stored as a_b.txt


def test_without_paths_cuts_folders_but_not_urls_or_counts() -> None:
    assert without_paths("cannot identify image file '/tmp/s/.idx.build-upload-1/broken.png'") == "cannot identify image file 'broken.png'"
    assert without_paths("another build is writing '/srv/qa/index'; wait") == "another build is writing 'index'; wait"
    for kept in ("file:///a/b/c.html", "page 1/1", "50 MB/s", "~/notes/a.txt", "./index/x"):
        assert without_paths(kept) == kept


@pytest.fixture
def chat_bot(article_bot: qa.QA, tmp_path: Path) -> qa.QA:
    index = tmp_path / "index"
    shutil.copytree(article_bot.info["path"], index)
    return qa.load(index, reader=False)


@pytest.mark.slow
def test_the_chat_refuses_a_clashing_name_and_names_a_bad_file_by_its_name(chat_bot: qa.QA, tmp_path: Path) -> None:
    from PIL import Image

    given = tmp_path / "given"
    given.mkdir()
    (given / "a_b.txt").write_text("Dogs bark at night.", encoding="utf-8")
    assert "Indexed 1 document" in uploads.add_uploads(chat_bot, [str(given / "a_b.txt")])
    other = given / "other"
    other.mkdir()
    (other / 'a"b.txt').write_text("Owls hoot at dawn.", encoding="utf-8")
    status = html.unescape(uploads.add_uploads(chat_bot, [str(other / 'a"b.txt')]))
    assert "No document was added." in status and "stored as 'a_b.txt', the name of a document already in the index" in status
    assert [d.doc_id for d in qa.list_documents(chat_bot.info["path"])][-1] == "a_b.txt"
    assert "Dogs bark" in chat_bot.ask("What do dogs do at night?").text  # the first file is still the one indexed

    png = io.BytesIO()
    Image.new("RGB", (40, 40), "white").save(png, "PNG")
    (given / "broken.png").write_bytes(png.getvalue()[:40])
    status = html.unescape(uploads.add_uploads(chat_bot, [str(given / "broken.png")]))
    assert "cannot identify image file 'broken.png'" in status and "build-upload" not in status and str(tmp_path) not in status
