"""The exception hierarchy of the package: every error a user can meet is a :class:`QAError`."""

from __future__ import annotations


class QAError(Exception):
    """Base class of all errors raised by qa; the message says how to fix the problem."""


class IngestError(QAError):
    """No usable document could be read from the paths given."""


class IndexNotFoundError(QAError, FileNotFoundError):
    """The index folder does not exist or holds no index."""


class CorruptIndexError(QAError):
    """An index file is missing, truncated or unreadable."""


class IndexVersionError(QAError):
    """The index was written by an incompatible (e.g. newer) format version."""


class ModelMismatchError(QAError):
    """The index was built with another embedding model than the one requested."""


class StaleIndexError(QAError):
    """A document changed on disk since the index was built."""


class IndexLockedError(QAError):
    """Another build is writing the same index folder."""


class ModelLoadError(QAError):
    """The embedding model could not be loaded."""


class DocumentNotFoundError(QAError):
    """A document id is not in the index (given to remove, or to :meth:`qa.QA.document`)."""


class IndexUnavailableError(QAError):
    """A Milvus index cannot be reached: the server is down or refuses the token, or Milvus Lite's directory is open elsewhere."""


class ReplaceRefusedError(QAError):
    """A build would replace documents added to the index (pass ``replace=True``, ``--replace``), or a folder that is not an index."""


# the wording of messages


def a_or_an(word: str) -> str:
    """``word`` after its indefinite article, for messages: ``"an int"``, ``"a list"``, ``"an Answer"``."""
    return f"{'an' if word[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


def counted(number: int, noun: str) -> str:
    """A count with its noun in the right number: ``"1 page"``, ``"3 pages"``, ``"1,200 pages"`` (regular plurals)."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
