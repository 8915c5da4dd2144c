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


@pytest.mark.parametrize(
    ("text", "headings"),
    [
        ("Remote Work Policy\n\nEligibility\nStaff may work remotely.", ["Remote Work Policy", "Eligibility"]),  # title, then a section
        ("Who can apply?\nEveryone can.", ["Who can apply?"]),  # a question heading answers nothing
        ("Intro text here.\n\nPhone: 555 1234\nEmail: desk@example.org", []),  # "label: value" lines are sentences
        ("Intro text here.\n\nOpening hours\n\nNine to five.", []),  # a one-line paragraph is no heading
        ("Intro.\n\nPhone 555 1234\nEmail desk@example.org", []),  # values over values: no heading
        ("Intro.\n\nEquipment\nLaptop\nHeadset", ["Equipment"]),  # a heading over a list
        ("Intro.\nEquipment\nA laptop.", []),  # no blank line before: a line of the paragraph
        ("Done. Then more\nText.", []),  # two sentences on the line
        ("Intro.\n\nThe last line has no full stop", []),  # the last line is never a heading
        ("Intro.\n\n" + " ".join(["word"] * 16) + "\nText.", []),  # too long for a heading
    ],
)
def test_heading_lines(text: str, headings: list[str]) -> None:
    from qa.documents.chunking import heading_lines

    assert [text[a:b] for a, b in heading_lines(text)] == headings


def test_a_text_without_sentence_breaks_is_cut_at_words_with_exact_offsets() -> None:
    from qa.documents.chunking import MAX_PASSAGE_CHARS, MAX_SENTENCE_CHARS

    words = [f"w{k % 9973}" for k in range(190_000)]
    text = " ".join(words)  # 1 MB, not one sentence break
    assert len(text) > 2**20 - 50_000
    doc = qa.Document("d", "D", text)
    sentences = split_sentences(doc)
    assert 200 < len(sentences) < 400
    assert max(s.end - s.start for s in sentences) <= MAX_SENTENCE_CHARS
    for s in sentences:  # cut between words: each piece starts and ends a word
        assert (s.start == 0 or text[s.start - 1] == " ") and (s.end == len(text) or text[s.end] == " ")
    assert " ".join(text[s.start : s.end] for s in sentences) == text  # nothing lost, nothing doubled
    chunks = chunk_sentences(doc, sentences)
    assert max(c.end - c.start for c in chunks) <= MAX_PASSAGE_CHARS


def test_a_run_without_spaces_is_cut_at_the_cap() -> None:
    from qa.documents.chunking import MAX_SENTENCE_CHARS

    text = "x" * (3 * MAX_SENTENCE_CHARS + 7)
    sentences = split_sentences(qa.Document("d", "D", text))
    assert [s.end - s.start for s in sentences] == [MAX_SENTENCE_CHARS] * 3 + [7]
    assert sentences[-1].end == len(text)
