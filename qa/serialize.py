"""One JSON form of the engine's results, shared by ``qa ask --json`` and the HTTP API (``POST /v1/ask``).

The conversion is generic over dataclass fields (like :func:`dataclasses.asdict`), so a field
added to :class:`qa.Answer` or to what it holds appears in both outputs without a change here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from qa.errors import a_or_an
from qa.types import Answer, Passage


def to_json(value: Any) -> Any:
    """Turn a result into plain JSON values: dataclasses become objects (every field, in order).

    Args:
        value: A dataclass instance, mapping, list/tuple, path or JSON scalar, nested in any way.

    Returns:
        The same data as dicts, lists, strings, numbers, booleans and None.

    Raises:
        TypeError: A value of another type (a set, bytes, an arbitrary object) that JSON cannot hold as is.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [to_json(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot turn {a_or_an(type(value).__name__)} into JSON: {value!r:.80}")


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """An answer as JSON: ``question``, ``text``, ``abstained``, ``confidence``, ``citations``, ``passages``,
    ``phrase``, ``candidate``, ``follow_up`` (``{"turn", "question", "terms", "doc_ids"}`` for a follow-up read
    with its conversation, else null) and any field :class:`qa.Answer` gains later.

    Args:
        answer: What :meth:`qa.QA.ask` returned.

    Returns:
        A JSON object (what ``qa ask --json`` prints and ``POST /v1/ask`` returns).

    Raises:
        TypeError: ``answer`` is not a dataclass instance.
    """
    if not dataclasses.is_dataclass(answer) or isinstance(answer, type):
        raise TypeError(f"answer must be a qa.Answer, not {type(answer).__name__}")
    return to_json(answer)


def passages_to_json(passages: Sequence[Passage]) -> list[dict[str, Any]]:
    """Passages as a JSON list (what ``POST /v1/retrieve`` returns under ``passages``).

    Args:
        passages: What :meth:`qa.QA.retrieve` returned.

    Returns:
        One JSON object per passage, in the order given.
    """
    return [to_json(p) for p in passages]
