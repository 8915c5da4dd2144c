"""Upload folders left by a killed server are removed at the next start (qa/web/leftovers.py), and only
those: a folder a live process holds, or the staging folder of a running build, stays.

The "killed server" is a real process: it makes its upload folder as the API does, writes the
uploaded file into it, makes the staging folder beside the index, and is killed with SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import qa
from qa.cli import say
from qa.web import server
from qa.web.leftovers import OWNER_FILE, UNOWNED_STALE_S, remove_upload_leftovers, stale_upload_folders, upload_folder
from qa.web.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent(
    """
    import sys, tempfile, time
    from pathlib import Path
    from qa.index.local.build import build_lock
    from qa.web.leftovers import upload_folder
    index = Path(sys.argv[2])
    with upload_folder(sys.argv[1]) as folder, build_lock(index):  # as the API, then qa.add_documents, do
        (folder / "0").mkdir()
        (folder / "0" / "secret.txt").write_text("an uploaded file")
        staging = Path(tempfile.mkdtemp(prefix=f".{index.name}.build-upload-", dir=index.parent))
        (staging / "secret.txt").write_text("its staging copy")
        print(folder, staging, flush=True)
        time.sleep(600)
    """
)


def start_holder(temporary: Path, index: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """A process in the middle of an upload; returns it with its upload and staging folders."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(temporary), str(index)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    folder, staging = proc.stdout.readline().split()
    return proc, Path(folder), Path(staging)


def test_an_upload_folder_is_removed_when_its_block_ends_and_held_while_it_runs(tmp_path: Path) -> None:
    with upload_folder(tmp_path) as folder:
        assert folder.name.startswith("qa-upload-") and (folder / OWNER_FILE).is_file()
        assert stale_upload_folders(tmp_path) == []  # this process holds it
    assert not folder.exists()
    with pytest.raises(RuntimeError, match="boom"), upload_folder(tmp_path) as folder:
        raise RuntimeError("boom")
    assert not folder.exists()


def test_folders_of_a_killed_server_go_and_those_of_a_live_one_stay(tmp_path: Path, fake_index: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    killed, dead_folder, dead_staging = start_holder(temporary, fake_index)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert dead_folder.is_dir() and dead_staging.is_dir()  # what a killed server leaves, with the uploaded file

    live, live_folder, live_staging = start_holder(temporary, fake_index)
    try:
        # a live process uses its folder: it stays, and so does its staging folder while its build holds the
        # index's lock (the dead one's staging went when that build took the lock: qa.index's own cleaner)
        assert remove_upload_leftovers(fake_index, temporary) == [dead_folder]
        assert live_folder.is_dir() and live_staging.is_dir() and not dead_staging.exists()
    finally:
        live.kill()
        live.wait(timeout=30)
    assert sorted(remove_upload_leftovers(fake_index, temporary)) == sorted([live_folder, live_staging])
    assert list(temporary.iterdir()) == [] and not list(fake_index.parent.glob(".*build-upload-*"))
    assert qa.list_documents(fake_index)  # the index itself is untouched


def test_a_folder_without_owner_file_goes_only_when_old(tmp_path: Path) -> None:
    old = tmp_path / "qa-upload-old"
    (old / "0").mkdir(parents=True)
    (old / "0" / "a.txt").write_text("x")
    recent = tmp_path / "qa-upload-recent"
    recent.mkdir()
    other = tmp_path / "not-ours"
    other.mkdir()
    long_ago = time.time() - UNOWNED_STALE_S - 60
    for path in (old / "0" / "a.txt", old / "0", old):
        os.utime(path, (long_ago, long_ago))
    assert stale_upload_folders(tmp_path) == [old]


def test_the_server_removes_them_when_it_starts(
    tmp_path: Path, fake_index: Path, api_bot: qa.QA, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    killed, folder, staging = start_holder(temporary, fake_index)
    killed.kill()
    killed.wait(timeout=30)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    monkeypatch.setattr(qa, "load", lambda *a, **k: api_bot)

    def serve(settings: ServerSettings, bot: Any, sock: socket.socket) -> int:
        sock.close()
        return 0

    monkeypatch.setattr(server, "serve", serve)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert server.main(["--index", str(fake_index), "--port", str(port)], say) == 0
    assert not folder.exists() and not staging.exists()
    shutil.rmtree(temporary)
