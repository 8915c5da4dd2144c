from __future__ import annotations

import pytest

import qa
from qa.documents.chunking import chunk_sentences, split_sentences
from qa.documents.ingest import default_documents


def test_sentences_have_exact_offsets_and_stay_within_lines() -> None:
    doc = default_documents()[0]
    sentences = split_sentences(doc)
    assert len(sentences) == 11
    for s in sentences:
        text = doc.text[s.start : s.end]
        assert text == text.strip() and "\n" not in text
    assert doc.text[sentences[0].start : sentences[0].end].endswith("on Nov. 1, 2024.")  # "Nov." is no boundary


def test_segmenter_splits_within_a_paragraph() -> None:
    doc = qa.Document("d", "D", "Mr. Smith went to Washington D.C. on Jan. 5. It rained.  Then it stopped!")
    parts = [doc.text[s.start : s.end] for s in split_sentences(doc)]
    assert parts == ["Mr. Smith went to Washington D.C. on Jan. 5.", "It rained.", "Then it stopped!"]


def test_passages_are_whole_sentences_with_overlap() -> None:
    doc = default_documents()[0]
    sentences = split_sentences(doc)
    chunks = chunk_sentences(doc, sentences, max_words=100, overlap=1)
    assert chunks[0].first_sentence == 0 and chunks[-1].last_sentence == len(sentences)
    for a, b in zip(chunks, chunks[1:]):
        assert b.first_sentence == a.last_sentence - 1  # one sentence shared
    for c in chunks:
        assert c.start == sentences[c.first_sentence].start and c.end == sentences[c.last_sentence - 1].end
        words = len(doc.text[c.start : c.end].split())
        assert words <= 100 or c.last_sentence - c.first_sentence == 1


def test_no_overlap_and_tiny_budget() -> None:
    doc = qa.Document("d", "D", "One two three. Four five six. Seven eight nine.")
    sentences = split_sentences(doc)
    chunks = chunk_sentences(doc, sentences, max_words=1, overlap=0)
    assert [(c.first_sentence, c.last_sentence) for c in chunks] == [(0, 1), (1, 2), (2, 3)]
    chunks = chunk_sentences(doc, sentences, max_words=6, overlap=0)
    assert [(c.first_sentence, c.last_sentence) for c in chunks] == [(0, 2), (2, 3)]


@pytest.mark.parametrize(("kwargs", "message"), [({"max_words": 0}, "max_words must be at least 1. Currently, max_words is 0"), ({"overlap": -1}, "overlap must be 0 or more. Currently, overlap is -1")])
def test_bad_settings_raise(kwargs: dict, message: str) -> None:
    doc = qa.Document("d", "D", "One.")
    with pytest.raises(ValueError, match=message):
        chunk_sentences(doc, split_sentences(doc), **kwargs)


def test_passages_never_cross_a_blank_line() -> None:
    from qa.documents.chunking import chunk_sentences, split_sentences

    text = "First one here. Second one here.\n\nThird one here. Fourth one here.\nFifth one here."
    doc = qa.Document("d", "D", text)
    sentences = split_sentences(doc)
    chunks = chunk_sentences(doc, sentences, max_words=100, overlap=1)
    assert [text[c.start : c.end] for c in chunks] == [
        "First one here. Second one here.",
        "Third one here. Fourth one here.\nFifth one here.",  # a single line break is not a paragraph break
    ]
    small = chunk_sentences(doc, sentences, max_words=6, overlap=1)
    assert all("\n\n" not in text[c.start : c.end] for c in small)
    assert [text[c.start : c.end] for c in small][:2] == ["First one here. Second one here.", "Third one here. Fourth one here."]
