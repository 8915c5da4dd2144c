"""qa: extractive, cited question answering over your own documents.

>>> import qa
>>> bot = qa.load()                                   # doctest: +SKIP
>>> ans = bot.ask("What does the pact cover?")        # doctest: +SKIP
"""

__version__ = "0.1.0"

from qa.engine import QA, BuildReport, build_index, default_index_dir, load
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
from qa.types import Answer, Citation, Document, Passage

__all__ = [
    "QA", "Answer", "BuildReport", "Citation", "CorruptIndexError", "Document", "IndexLockedError",
    "IndexNotFoundError", "IndexVersionError", "IngestError", "ModelLoadError", "ModelMismatchError",
    "Passage", "QAError", "StaleIndexError", "build_index", "default_index_dir", "load",
]
