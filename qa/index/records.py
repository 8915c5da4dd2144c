"""Passage and sentence records of an index: one JSON line per document on disk, NumPy columns in memory.

A million passages hold about four million sentences.  Read as one JSON object
and one Python object per record, they took 43 s and 2.8 GB to load; written as
one line per document (``{"doc_id": ..., "start": [...], "end": [...]}``) and
held as integer columns, they load in a few seconds and take about 100 bytes a
passage.  A record object is made only when one is asked for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, overload

import numpy as np

from qa.types import Sentence


@dataclass(frozen=True)
class PassageRecord:
    """A stored passage: a span of one document made of whole sentences.

    Attributes:
        doc_id: Its document.
        start: Offset of the first character.
        end: Offset one past the last character.
        first_sentence: Global index of its first sentence.
        last_sentence: Global index one past its last sentence.
    """

    doc_id: str
    start: int
    end: int
    first_sentence: int
    last_sentence: int


PASSAGE_FIELDS = ("start", "end", "first_sentence", "last_sentence")
SENTENCE_FIELDS = ("start", "end")

R = TypeVar("R", PassageRecord, Sentence)


class RecordTable(Sequence[R], Generic[R]):
    """Records held as columns: a document index per row plus one integer column per field.

    Args:
        kind: :class:`PassageRecord` or :class:`Sentence`.
        doc_ids: The documents, in order of first appearance.
        doc_index: ``(n,)`` position in ``doc_ids`` of each record's document.
        columns: ``(n,)`` int64 column of each field of ``kind`` but ``doc_id``.
    """

    def __init__(self, kind: type[R], doc_ids: list[str], doc_index: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        self.kind = kind
        self.fields = PASSAGE_FIELDS if kind is PassageRecord else SENTENCE_FIELDS
        if sorted(columns) != sorted(self.fields):
            raise ValueError(f"{kind.__name__} records need columns {self.fields}, got {sorted(columns)}")
        if any(len(c) != len(doc_index) for c in columns.values()):
            raise ValueError("record columns differ in length")
        self.doc_ids = doc_ids
        self.doc_index = doc_index
        self._columns = [columns[f] for f in self.fields]

    def __len__(self) -> int:
        return len(self.doc_index)

    @overload
    def __getitem__(self, i: int) -> R: ...

    @overload
    def __getitem__(self, i: slice) -> list[R]: ...

    def __getitem__(self, i: int | slice) -> R | list[R]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.kind(self.doc_ids[self.doc_index[i]], *(int(c[i]) for c in self._columns))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[R]:
        return (self[i] for i in range(len(self)))

    def doc_ranges(self) -> dict[str, tuple[int, int]]:
        """``(first, end)`` rows of each document (a document's records are consecutive)."""
        if not len(self):
            return {}
        starts = np.flatnonzero(np.r_[True, self.doc_index[1:] != self.doc_index[:-1]])
        ends = np.r_[starts[1:], len(self)]
        return {self.doc_ids[self.doc_index[s]]: (int(s), int(e)) for s, e in zip(starts, ends)}


def table_of(kind: type[R], records: Sequence[R]) -> RecordTable[R]:
    """A table holding ``records`` (for tests and small corpora)."""
    fields = PASSAGE_FIELDS if kind is PassageRecord else SENTENCE_FIELDS
    positions: dict[str, int] = {}
    doc_index = np.array([positions.setdefault(r.doc_id, len(positions)) for r in records], dtype=np.int32)
    columns = {f: np.array([getattr(r, f) for r in records], dtype=np.int64) for f in fields}
    return RecordTable(kind, list(positions), doc_index, columns)


def record_lines(records: Sequence[PassageRecord] | Sequence[Sentence], fields: Sequence[str]) -> Iterator[dict]:
    """One JSON-ready dict per run of consecutive records of the same document: ``{"doc_id", field: [...]}``."""
    for doc_id, group in itertools.groupby(records, key=lambda r: r.doc_id):
        rows = list(group)
        yield {"doc_id": doc_id, **{f: [getattr(r, f) for r in rows] for f in fields}}


def parse_records(kind: type[R], data: bytes) -> RecordTable[R]:
    """Read records written by :func:`record_lines`, or one record per line (index format 2).

    Raises:
        ValueError: A line is not a record of ``kind``.
    """
    fields = PASSAGE_FIELDS if kind is PassageRecord else SENTENCE_FIELDS
    doc_ids: list[str] = []
    counts: list[int] = []
    values: dict[str, list[list[int]]] = {f: [] for f in fields}
    for line in data.decode("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("doc_id"), str):
            raise ValueError(f"not a {kind.__name__} record: {line[:80]!r}")
        lists = {f: row[f] if isinstance(row[f], list) else [row[f]] for f in fields}
        n = len(lists[fields[0]])
        if any(len(v) != n for v in lists.values()):
            raise ValueError(f"{kind.__name__} record of {row['doc_id']!r} has columns of different lengths")
        if doc_ids and doc_ids[-1] == row["doc_id"]:
            counts[-1] += n
        else:
            doc_ids.append(row["doc_id"])
            counts.append(n)
        for f in fields:
            values[f].append(lists[f])
    total = sum(counts)
    columns = {f: np.fromiter(itertools.chain.from_iterable(values[f]), dtype=np.int64, count=total) for f in fields}
    unique: dict[str, int] = {}
    positions = np.array([unique.setdefault(d, len(unique)) for d in doc_ids], dtype=np.int32)
    return RecordTable(kind, list(unique), np.repeat(positions, counts), columns)
