"""What the server says about files: the name of an uploaded file, names that clean to another
document's, and messages stripped of the server's own paths.

* An uploaded file's name is its last component; an empty one, one holding a NUL, or one over
  :data:`MAX_NAME_BYTES` bytes is refused (:func:`upload_name`), before anything is written.
* The index keeps a file under a cleaned name (:func:`qa.index.intake.safe_name`: ``a"b.txt`` and
  ``a∕b.txt`` both become ``a_b.txt``).  A file is replaced only by a file uploaded under its own
  name: a name that needed cleaning and then meets a document already indexed is refused with the
  reason, never stored over it (:func:`renamed_clashes`).
* Messages for clients name files and folders by their last component: no temporary folder, no
  index path (:func:`without_paths`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

MAX_NAME_BYTES = 255
"""Longest uploaded file name, in UTF-8 bytes (what most file systems store)."""

_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"/]+/)+")
"""An absolute path's folders (``/tmp/x/.idx.build-upload-1/``), up to its last component; not a URL's ``://``."""


def upload_name(raw: object) -> str:
    """The plain file name of an uploaded file: its last component, trimmed.

    Args:
        raw: The name the client sent (a path's folders, with ``/`` or ``\\``, are dropped).

    Returns:
        The name.

    Raises:
        ValueError: No name, a NUL character, or a name longer than :data:`MAX_NAME_BYTES` bytes
            (each message says how to fix it).
    """
    text = raw if isinstance(raw, str) else ""
    if "\x00" in text:
        raise ValueError(f"the file name {text.replace(chr(0), '<NUL>')[:80]!r} holds a NUL character: rename the file")
    name = PurePosixPath(text.replace("\\", "/")).name.strip()
    if name in ("", ".", ".."):
        raise ValueError(f"every uploaded file needs a file name, not {raw!r}")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ValueError(
            f"the file name {name[:40]!r}... is {size} bytes long; at most {MAX_NAME_BYTES}: rename the file to a shorter name"
        )
    return name


def renamed_clashes(names: Sequence[str], indexed: Iterable[str]) -> dict[str, str]:
    """The uploaded names refused because they clean to another document's name.

    A name that the index keeps as it is (``a_b.txt``) replaces the document of that name, as
    documented; a name that needs cleaning (``a"b.txt``) and cleans to a document already in the
    index is refused, since it may be another file.

    Args:
        names: The uploaded files' names (see :func:`upload_name`).
        indexed: The doc_ids of the index now.

    Returns:
        ``{name: reason}`` for each refused name (empty when none is).
    """
    from qa.index.intake import safe_name

    present = set(indexed)
    refused = {}
    for name in names:
        kept = safe_name(name)
        if kept != name and kept in present:
            refused[name] = (
                f"its name is stored as {kept!r}, the name of a document already in the index; rename the file "
                f"(to {kept!r} to replace that document)"
            )
    return refused


def without_paths(message: str) -> str:
    """A message with every absolute path cut to its last component (``/tmp/x/.i.build-upload-1/a.png`` -> ``a.png``).

    Args:
        message: A message written for the server's log.

    Returns:
        The message for a client: the same words, no server folders.
    """
    return _ABSOLUTE_PATH.sub("", message)
