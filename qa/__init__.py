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
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    IngestError,
    ModelLoadError,
    ModelMismatchError,
    QAError,
    StaleIndexError,
)
from qa.types import Answer, Citation, Document, Passage, Span

if TYPE_CHECKING:
    from qa.engine import QA, BuildReport, build_index, default_index_dir, load

_ENGINE_NAMES = ("QA", "BuildReport", "build_index", "default_index_dir", "load")


def __getattr__(name: str) -> object:
    if name in _ENGINE_NAMES:
        from qa import engine

        value = getattr(engine, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qa' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENGINE_NAMES))


__all__ = [
    "QA", "Answer", "BuildReport", "Citation", "CorruptIndexError", "Document", "IndexLockedError",
    "IndexNotFoundError", "IndexVersionError", "IngestError", "ModelLoadError", "ModelMismatchError",
    "Passage", "QAError", "Span", "StaleIndexError", "build_index", "default_index_dir", "load",
]
