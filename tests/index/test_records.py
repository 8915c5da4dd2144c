"""Passage and sentence records: one line per document on disk, columns in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.index.records import PASSAGE_FIELDS, SENTENCE_FIELDS, PassageRecord, parse_records, record_lines, table_of
from qa.index.local.manifest import MANIFEST, PASSAGES, SENTENCES
from qa.files import file_sha256
from qa.index.local.store import load_store
from qa.types import Sentence
from tests.conftest import HashingEmbedder

SENTENCES_IN = [Sentence("a.txt", 0, 10), Sentence("a.txt", 11, 30), Sentence("b.txt", 0, 5), Sentence("c.txt", 2, 9), Sentence("c.txt", 10, 12)]
PASSAGES_IN = [PassageRecord("a.txt", 0, 30, 0, 2), PassageRecord("b.txt", 0, 5, 2, 3), PassageRecord("c.txt", 2, 12, 3, 5)]


def _lines(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_round_trip_one_line_per_document() -> None:
    lines = list(record_lines(SENTENCES_IN, SENTENCE_FIELDS))
    assert lines[0] == {"doc_id": "a.txt", "start": [0, 11], "end": [10, 30]} and len(lines) == 3
    table = parse_records(Sentence, _lines(lines))
    assert list(table) == SENTENCES_IN and len(table) == 5
    assert table[1] == Sentence("a.txt", 11, 30) and table[-1] == SENTENCES_IN[-1]
    assert table[1:4] == SENTENCES_IN[1:4]
    assert table.doc_ranges() == {"a.txt": (0, 2), "b.txt": (2, 3), "c.txt": (3, 5)}
    passages = parse_records(PassageRecord, _lines(list(record_lines(PASSAGES_IN, PASSAGE_FIELDS))))
    assert list(passages) == PASSAGES_IN and isinstance(passages[0].start, int)
    assert list(table_of(PassageRecord, PASSAGES_IN)) == PASSAGES_IN


def test_format_2_one_record_per_line_is_read() -> None:
    rows = [{"doc_id": s.doc_id, "start": s.start, "end": s.end} for s in SENTENCES_IN]
    assert list(parse_records(Sentence, _lines(rows))) == SENTENCES_IN


def test_bad_lines_are_refused() -> None:
    with pytest.raises(ValueError, match="not a Sentence record"):
        parse_records(Sentence, b'["a.txt", 0, 1]\n')
    with pytest.raises(ValueError, match="columns of different lengths"):
        parse_records(Sentence, _lines([{"doc_id": "a.txt", "start": [0, 5], "end": [4]}]))
    with pytest.raises(KeyError):
        parse_records(PassageRecord, _lines([{"doc_id": "a.txt", "start": [0], "end": [4]}]))


def test_format_2_index_still_loads(fake_index: Path, fake_embedder: HashingEmbedder) -> None:
    bot_before = qa.load(fake_index, model=fake_embedder)
    question = "Which ships sail from Tokyo?"
    expected = bot_before.ask(question)
    store = load_store(fake_index)
    manifest = json.loads((fake_index / MANIFEST).read_text())
    for name, records in ((PASSAGES, store.passages), (SENTENCES, store.sentences)):
        path = fake_index / name
        path.write_bytes(_lines([r.__dict__ for r in records]))  # the old layout: one record per line
        manifest["files"][name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    manifest["format_version"] = 2
    (fake_index / MANIFEST).write_text(json.dumps(manifest))
    again = load_store(fake_index)
    assert list(again.passages) == list(store.passages) and list(again.sentences) == list(store.sentences)
    assert qa.load(fake_index, model=fake_embedder).ask(question) == expected
