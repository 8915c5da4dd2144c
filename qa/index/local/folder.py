"""What a build may do to the folder it writes: never replace added documents or foreign files unasked, and
remove what killed builds left beside it.

A build swaps a new folder in for the old one (:func:`qa.index.local.build.save_index`), so whatever
the old folder held and the new one does not is gone.  Two things are never lost that way:

* documents added with :func:`qa.add_documents` (their only copies may be in ``files/``): a build
  that would drop them raises :class:`qa.ReplaceRefusedError` naming them, unless ``replace=True``
  (``qa index --replace``);
* a folder that is not a qa index (no ``manifest.json``) and holds other files than an index's: a
  build never deletes it, with or without ``replace``.

Builds and updates write into hidden folders beside the index (``.NAME.build-*``, uploads'
``.NAME.build-upload-*``) and set the old index aside as ``.NAME.old-PID`` while swapping; a killed
process leaves them behind.  :func:`remove_leftovers` deletes them, only while holding the index's
build lock (so no live build owns one).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from qa.errors import IndexNotFoundError, QAError, ReplaceRefusedError
from qa.index.local.manifest import (
    BM25_DIR,
    MANIFEST,
    REQUIRED_FILES,
    STORED_FILES,
    read_manifest,
    stored_files,
)

logger = logging.getLogger(__name__)

INDEX_ENTRIES = frozenset({MANIFEST, *REQUIRED_FILES, BM25_DIR, STORED_FILES, ".gitignore", ".gitkeep"})
"""Names an index folder may hold (a folder of only these, without a manifest, is a damaged index a build may replace)."""
SHOWN = 10
"""Names listed in a message at most."""


def _names(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(repr(n) for n in names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def check_replace(target: Path, keep: Iterable[str] = (), replace: bool = False) -> list[str]:
    """Refuse a build into ``target`` that would lose added documents, or delete a folder that is not an index.

    Args:
        target: The index folder about to be replaced.
        keep: ``doc_id`` of the added documents the new index keeps (with their files).
        replace: Replace the added documents not kept (their kept copies in ``files/`` are deleted).

    Returns:
        The added documents the build removes (empty unless ``replace``).

    Raises:
        ReplaceRefusedError: Added documents would be lost without ``replace``, or ``target`` is a folder that
            is not a qa index and holds other files.
    """
    if not target.is_dir():
        return []
    try:
        manifest: dict | None = read_manifest(target)
    except IndexNotFoundError:
        manifest = None
        foreign = [p.name for p in target.iterdir() if p.name not in INDEX_ENTRIES]
        if foreign:
            raise ReplaceRefusedError(
                f"folder {str(target)!r} is not a qa index (no {MANIFEST}) and holds {_names(foreign)}; a build replaces the "
                "whole folder, so qa never writes an index there: choose a new or empty folder for --index"
            )
    except QAError:
        manifest = None  # an unreadable manifest: the kept files are all that can be named
    if manifest is not None:
        added = {info.get("doc_id", name) for name, info in stored_files(manifest).items()}
    else:
        folder = target / STORED_FILES
        added = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return refuse_losing(str(target), sorted(added - set(keep)), replace)


def refuse_losing(location: str, lost: list[str], replace: bool) -> list[str]:
    """Raise unless ``replace`` when a build of ``location`` would remove the added documents ``lost``; else return them.

    Raises:
        ReplaceRefusedError: ``lost`` is not empty and ``replace`` is False (the message names them and the flag).
    """
    if lost and not replace:
        raise ReplaceRefusedError(
            f"index {location!r} holds {len(lost)} document(s) added with `qa add` or an upload ({_names(lost)}), whose "
            f"copies are kept with the index; a build would remove them. Add new files with `qa add FILE --index {location}` "
            f"instead, or rebuild and remove them with `qa index PATH --index {location} --replace` (replace=True in qa.build_index)"
        )
    return lost


def leftovers(target: Path) -> list[Path]:
    """What killed builds and updates of ``target`` left beside it (see :func:`remove_leftovers`)."""
    parent = target.parent
    if not parent.is_dir():
        return []
    stale = sorted(parent.glob(f".{target.name}.build-*"))
    if (target / MANIFEST).is_file():
        stale += sorted(parent.glob(f".{target.name}.old-*"))
    return stale


def remove_leftovers(target: Path) -> list[Path]:
    """Delete what killed builds and updates of ``target`` left beside it; the caller holds its build lock.

    ``.NAME.build-*`` (builds, and uploads' ``.NAME.build-upload-*``) are deleted; ``.NAME.old-*`` (the
    previous index set aside during a swap) only when ``target`` holds an index (else it is put back:
    :func:`qa.index.local.manifest.recover`).

    Returns:
        The folders deleted.
    """
    removed = []
    for path in leftovers(target):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() or path.is_symlink():
            path.unlink(missing_ok=True)
        else:
            continue
        removed.append(path)
    if removed:
        logger.warning("removed %d folder(s) left by interrupted builds of %s: %s", len(removed), target, ", ".join(p.name for p in removed))
    return removed
