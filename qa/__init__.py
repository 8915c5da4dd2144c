"""qa: extractive, cited question answering over your own documents.

>>> import qa
>>> bot = qa.load()                                   # doctest: +SKIP
>>> ans = bot.ask("What does the pact cover?")        # doctest: +SKIP

``import qa`` is cheap: the engine (NumPy, FAISS, BM25, the model) is imported on
first use of :func:`load`, :func:`build_index` or :class:`QA`.

The package, by pipeline stage (dependencies point one way, downwards):

* :mod:`qa.web`: the server, the JSON API, the Gradio chat;
* :mod:`qa.engine`: :class:`QA`, :func:`load`, :func:`build_index`; :mod:`qa.cli`: the ``qa`` command;
* :mod:`qa.answering`: sentence scoring, the reader, the answer decision, citations;
* :mod:`qa.index`: the store protocol, the local folder and Milvus backends, adding and removing documents;
* :mod:`qa.documents`: file types, PDF/DOCX/HTML text, cleaning, sentences and passages;
* :mod:`qa.onnx`: ONNX Runtime export, cache and sessions;
* :mod:`qa.types`, :mod:`qa.errors`, :mod:`qa.files`, :mod:`qa.versions`: the base every stage may import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    ReplaceRefusedError,
    StaleIndexError,
)
from qa.types import Answer, Candidate, Citation, Document, PageView, Passage, Span
from qa.versions import QA_VERSION as __version__

if TYPE_CHECKING:
    from qa.engine import QA, BuildReport, build_index, load
    from qa.index.location import default_index_dir
    from qa.index.intake import AddedDocument, AddReport, IndexedDocument, RemoveReport
    from qa.index.updates import add_documents, list_documents, remove_documents

_LAZY = {
    "QA": "qa.engine", "BuildReport": "qa.engine", "build_index": "qa.engine", "load": "qa.engine",
    "default_index_dir": "qa.index.location",
    "AddReport": "qa.index.intake", "AddedDocument": "qa.index.intake", "IndexedDocument": "qa.index.intake",
    "RemoveReport": "qa.index.intake", "add_documents": "qa.index.updates", "list_documents": "qa.index.updates",
    "remove_documents": "qa.index.updates",
}
"""Public names whose modules load NumPy, FAISS or the model: imported on first use."""


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "QA", "AddReport", "AddedDocument", "Answer", "BuildReport", "Candidate", "Citation", "CorruptIndexError", "Document",
    "DocumentNotFoundError", "IndexLockedError", "IndexNotFoundError", "IndexUnavailableError", "IndexVersionError",
    "IndexedDocument", "IngestError", "ModelLoadError", "ModelMismatchError", "PageView", "Passage", "QAError", "RemoveReport", "ReplaceRefusedError",
    "Span", "StaleIndexError", "__version__", "add_documents", "build_index", "default_index_dir", "list_documents", "load",
    "remove_documents",
]
