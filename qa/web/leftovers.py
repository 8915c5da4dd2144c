"""Upload folders the server makes, and the removal of those a killed server left behind.

An API upload is written to a temporary folder ``$TMPDIR/qa-upload-*`` first (:func:`upload_folder`),
and :func:`qa.add_documents` copies it into a staging folder ``.NAME.build-upload-*`` beside the
index folder.  Both go when the upload ends; a server killed meanwhile (``kill -9``, power loss) leaves
them, with a copy of the uploaded file.  :func:`remove_upload_leftovers` runs when the server starts
and removes only those no live process uses:

* a ``qa-upload-*`` folder made by :func:`upload_folder` holds an owner file locked (``flock``) for the
  folder's life; the kernel drops the lock when its process dies, so a folder whose owner file can be
  locked is stale.  A ``qa-upload-*`` folder without an owner file (another qa version, or a Milvus
  upload's staging) is removed only when nothing in it changed for :data:`UNOWNED_STALE_S`.
* a ``.NAME.build-upload-*`` folder is made and used only under the index's build lock; the index's own
  cleaner (:func:`qa.index.local.build.clean_leftovers`, which also takes killed builds' ``.NAME.build-*``)
  removes them when that lock is free, and leaves them while a build holds it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "qa-upload-"
"""Prefix of the API's temporary upload folders (in the system's temporary folder)."""
OWNER_FILE = ".qa-owner"
"""The file an upload folder's process keeps locked while it uses the folder."""
UNOWNED_STALE_S = 24 * 3600
"""A ``qa-upload-*`` folder without an owner file is removed once untouched for this long."""


@contextmanager
def upload_folder(parent: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A new temporary folder for one upload, locked as this process's own until it is removed.

    Args:
        parent: Where to make it (None: the system's temporary folder).

    Yields:
        The folder (removed with what it holds when the block ends, whatever happens).
    """
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=parent))
    try:
        with (folder / OWNER_FILE).open("w") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            owner.write(f"{os.getpid()}\n")
            owner.flush()
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _owned_by_a_live_process(folder: Path) -> bool | None:
    """True while the folder's owner holds its lock, False when nobody does, None without an owner file."""
    try:
        handle = (folder / OWNER_FILE).open("r")
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _newest_change(folder: Path) -> float:
    stamps = [folder.stat().st_mtime]
    for path in folder.rglob("*"):
        try:
            stamps.append(path.lstat().st_mtime)
        except OSError:
            continue
    return max(stamps)


def stale_upload_folders(parent: str | os.PathLike[str] | None = None, now: float | None = None) -> list[Path]:
    """The ``qa-upload-*`` folders that no live process uses (see the module's rules).

    Args:
        parent: Where to look (None: the system's temporary folder).
        now: The time to judge unowned folders' age by (None: now).

    Returns:
        The stale folders.
    """
    where = Path(parent if parent is not None else tempfile.gettempdir())
    now = time.time() if now is None else now
    stale = []
    for folder in sorted(where.glob(f"{UPLOAD_PREFIX}*")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            owned = _owned_by_a_live_process(folder)
            if owned is False or (owned is None and now - _newest_change(folder) > UNOWNED_STALE_S):
                stale.append(folder)
        except OSError as exc:  # another user's folder, or one going away: not ours to judge
            logger.debug("leaving %s: %s", folder, exc)
    return stale


def remove_upload_leftovers(index: str | os.PathLike[str] | None, temporary: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove the upload folders a killed server left: stale ``qa-upload-*`` and ``.NAME.build-upload-*`` ones.

    Args:
        index: The served index folder (None or a Milvus location: only the temporary folders are looked at).
        temporary: The temporary folder (None: the system's).

    Returns:
        The folders removed.
    """
    from qa.index.local.build import clean_leftovers

    removed = []
    for folder in stale_upload_folders(temporary):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    if index is not None:  # .NAME.build-upload-* (and killed builds' .NAME.build-*): the index's own cleaner
        removed += clean_leftovers(Path(index))
    if removed:
        logger.info("removed %d upload folder(s) left by a stopped server: %s", len(removed), ", ".join(p.name for p in removed))
    return removed
