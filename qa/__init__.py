"""qa: extractive, cited question answering over your own documents.

>>> import qa
>>> bot = qa.load()                                   # doctest: +SKIP
>>> ans = bot.ask("What does the pact cover?")        # doctest: +SKIP

``import qa`` is cheap: the engine (NumPy, FAISS, BM25, the model) is imported on
first use of :func:`load`, :func:`build_index` or :class:`QA`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.2.0"

from qa.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    IndexLockedError,
    IndexNotFoundError,
    IndexUnavailableError,
    IndexVersionError,
    IngestError,
    ModelLoadError,
    ModelMismatchError,
    QAError,
    StaleIndexError,
)
from qa.types import Answer, Candidate, Citation, Document, Passage, Span

if TYPE_CHECKING:
    from qa.engine import QA, BuildReport, build_index, default_index_dir, load
    from qa.library import AddedDocument, AddReport, IndexedDocument, RemoveReport, add_documents, list_documents, remove_documents

_ENGINE_NAMES = ("QA", "BuildReport", "build_index", "default_index_dir", "load")
_LIBRARY_NAMES = (
    "AddReport", "AddedDocument", "IndexedDocument", "RemoveReport", "add_documents", "list_documents", "remove_documents",
)


def __getattr__(name: str) -> object:
    if name in _ENGINE_NAMES or name in _LIBRARY_NAMES:
        import importlib

        module = importlib.import_module("qa.engine" if name in _ENGINE_NAMES else "qa.library")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENGINE_NAMES) | set(_LIBRARY_NAMES))


__all__ = [
    "QA", "AddReport", "AddedDocument", "Answer", "BuildReport", "Citation", "CorruptIndexError", "Document",
    "DocumentNotFoundError", "IndexLockedError", "IndexedDocument", "RemoveReport", "add_documents", "list_documents",
    "remove_documents",
    "IndexNotFoundError", "IndexUnavailableError", "IndexVersionError", "IngestError", "ModelLoadError", "ModelMismatchError",
    "Passage", "QAError", "Span", "StaleIndexError", "build_index", "default_index_dir", "load",
]
