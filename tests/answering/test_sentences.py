from __future__ import annotations

from pathlib import Path


import qa
from qa.answering.sentences import AnswerParams, ScoredSentence, confidence_of, select


def s(sentence: int, score: float, cosine: float = 0.5, coverage: float = 0.5) -> ScoredSentence:
    return ScoredSentence(sentence, 0, 1, cosine, coverage, score)


def test_select_keeps_close_runners_up_in_document_order() -> None:
    params = AnswerParams(relative_margin=0.9, max_sentences=3)
    chosen = select([s(7, 1.0), s(2, 0.95), s(5, 0.91), s(1, 0.90)], params)
    assert [c.sentence for c in chosen] == [2, 5, 7]  # at most three, sorted by position
    assert [c.sentence for c in select([s(4, 1.0), s(2, 0.5)], params)] == [4]
    assert select([], params) == []


def test_confidence_is_a_monotone_probability() -> None:
    params = AnswerParams()
    values = [confidence_of(s(0, x, x, x), params) for x in (0.0, 0.3, 0.6, 0.9, 1.2)]
    assert values == sorted(values) and all(0.0 <= v <= 1.0 for v in values)
    assert confidence_of(None, params) == 0.0


def test_citations_point_at_exact_characters(fake_index: Path, fake_embedder: object) -> None:
    bot = qa.load(fake_index, model=fake_embedder, reader=False)  # type: ignore[arg-type]
    bot.params = AnswerParams(threshold=0.0)
    ans = bot.ask("Do kittens drink milk?")
    assert not ans.abstained
    assert ans.citations[0].quote == "Kittens drink milk."
    for c in ans.citations:
        assert bot.document(c.doc_id).text[c.start : c.end] == c.quote
        passage = next(p for p in ans.passages if p.passage_id == c.passage_id)
        assert passage.start <= c.start and c.end <= passage.end


def test_threshold_one_always_abstains(fake_index: Path, fake_embedder: object) -> None:
    bot = qa.load(fake_index, model=fake_embedder, reader=False)  # type: ignore[arg-type]
    bot.params = AnswerParams(threshold=1.01)
    ans = bot.ask("Do kittens drink milk?")
    assert ans.abstained and ans.text == "" and ans.passages


def test_markdown_headings_are_never_cited(tmp_path: Path, fake_embedder: object) -> None:
    doc = qa.Document("notes.md", "Kittens", "# Kittens drink milk\nKittens drink milk every morning.\n## Milk\nCats like it.", "<memory>")
    qa.build_index([doc], tmp_path / "idx", model=fake_embedder)  # type: ignore[arg-type]
    bot = qa.load(tmp_path / "idx", model=fake_embedder, reader=False)  # type: ignore[arg-type]
    bot.params = AnswerParams(threshold=0.0, relative_margin=0.0)
    ans = bot.ask("Do kittens drink milk?")
    assert ans.citations
    assert all(not c.quote.startswith("#") for c in ans.citations)
    assert ans.citations[0].quote == "Kittens drink milk every morning."
