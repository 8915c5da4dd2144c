"""Where an index lives: a location string picks the backend (shared by :mod:`qa.engine` and :mod:`qa.index.updates`).

The convention is pymilvus' own, as Haystack's and LlamaIndex's Milvus stores use it:

* ``http://host:port`` or ``https://host:port`` is a Milvus server or cluster; its token,
  if it needs one, comes from the environment variable ``QA_MILVUS_TOKEN`` (never the
  command line);
* a path ending in ``.db`` is Milvus Lite, embedded in this process (a directory);
* anything else is a local index folder (FAISS + BM25 files, :mod:`qa.index.local.store`).

A Milvus location may end in ``#NAME`` to name its collection (default ``qa``):
``http://milvus:19530#news``, ``archive.db#news``.  This module imports nothing heavy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

INDEX_ENV = "QA_INDEX_DIR"
"""Environment variable naming the default index location (default ``./index``)."""
TOKEN_ENV = "QA_MILVUS_TOKEN"
"""Environment variable holding the token of a Milvus server (``user:password`` or an API key)."""
DEFAULT_COLLECTION = "qa"
"""Collection name of a Milvus location without ``#NAME``."""
MAX_COLLECTION_CHARS = 200
"""Longest collection name (Milvus allows 255; qa appends ``_passages`` and the like)."""

Kind = Literal["local", "lite", "server"]
_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Location:
    """A parsed index location.

    Attributes:
        kind: ``"local"`` (an index folder), ``"lite"`` (Milvus Lite, a ``.db`` path) or
            ``"server"`` (a Milvus server or cluster, by URI).
        uri: The folder, the ``.db`` path or the server's URI, without ``#NAME``.
        collection: The Milvus collection name (``"qa"`` unless given; empty for a local folder).
    """

    kind: Kind
    uri: str
    collection: str = ""

    @property
    def is_milvus(self) -> bool:
        """Whether the index lives in Milvus (Lite or a server)."""
        return self.kind != "local"

    @property
    def path(self) -> Path:
        """The folder of a local index, or the ``.db`` directory of Milvus Lite.

        Raises:
            ValueError: The location is a server.
        """
        if self.kind == "server":
            raise ValueError(f"index {self.uri!r} is a Milvus server, not a path on this machine")
        return Path(self.uri)

    @property
    def ocr_cache(self) -> Path:
        """Where the OCR text of this index's scanned files is kept, by each file's SHA-256: a hidden folder
        beside the index folder or ``.db`` (``.NAME.ocr``), which survives the atomic swap of a rebuild; for a
        server, ``$QA_CACHE_DIR/ocr`` (else ``~/.cache/qa/ocr``) on this machine."""
        if self.kind == "server":
            from qa.onnx.cache import cache_root

            return cache_root() / "ocr"
        path = Path(self.uri)
        return path.parent / f".{path.name}.ocr"

    def __str__(self) -> str:
        if self.kind == "local" or self.collection == DEFAULT_COLLECTION:
            return self.uri
        return f"{self.uri}#{self.collection}"


def default_location() -> str:
    """The default index location: ``$QA_INDEX_DIR``, else ``./index``."""
    return os.environ.get(INDEX_ENV) or "index"


def default_index_dir() -> Path:
    """The default index folder: ``$QA_INDEX_DIR``, else ``./index``."""
    return Path(default_location())


def parse_location(location: str | os.PathLike[str] | Location | None) -> Location:
    """Parse an index location (None: :func:`default_location`).

    Args:
        location: A folder, a ``.db`` path, an ``http(s)://host:port`` URI (each Milvus
            location optionally ending in ``#COLLECTION``), or a parsed :class:`Location`.

    Returns:
        The location.

    Raises:
        ValueError: An empty location, a URI without host and port, another URI scheme,
            or a collection name Milvus would refuse.
    """
    if isinstance(location, Location):
        return location
    text = default_location() if location is None else os.fspath(location)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"index location is empty: give a folder, a .db path or http://host:port. Currently, index is {location!r}.")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme and scheme not in ("http", "https"):
        raise ValueError(
            f"index location {text!r} has scheme {scheme!r}: use http://host:port or https://host:port for a Milvus "
            "server, a path ending in .db for Milvus Lite, or a folder"
        )
    base, _, name = text.partition("#") if (scheme or _is_lite(text.partition("#")[0])) else (text, "", "")
    if scheme:
        parts = urlsplit(base)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError(f"Milvus URI {text!r} needs a host and a port, e.g. http://127.0.0.1:19530")
        kind: Kind = "server"
    elif _is_lite(base):
        kind = "lite"
    else:
        return Location("local", text)
    return Location(kind, base, check_collection(name or DEFAULT_COLLECTION))


def check_collection(name: str) -> str:
    """Return ``name`` if Milvus accepts it as (the start of) a collection name.

    Raises:
        ValueError: Not letters, digits and underscores starting with a letter or underscore, or too long.
    """
    if not _COLLECTION.fullmatch(name) or len(name) > MAX_COLLECTION_CHARS:
        raise ValueError(
            f"collection name {name!r} is not valid: use letters, digits and underscores, starting with a letter "
            f"or underscore, at most {MAX_COLLECTION_CHARS} characters (e.g. #news)"
        )
    return name


def _is_lite(path: str) -> bool:
    return path.rstrip("/\\").lower().endswith(".db")
