"""Follow-up questions (qa.answering.conversation and QA.ask(history=...)): checks, resolution, focus, and the
bundled article's fighter-jet conversation with the real shipped model."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.answering import conversation, topic
from qa.answering.conversation import Turn, depends, focus, refers_back, resolve, turns_of
from qa.index.store import Hit
from qa.serialize import answer_to_json
from qa.types import Answer, Citation, FollowUp, Span
from tests.conftest import HashingEmbedder

JET = "When will the new fighter jet be airborne?"
WHO = "And who is building it?"
ITALY = "Italy and Britain"


# ---------------------------------------------------------------- history checks


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ("When?", r"history must be a list .* Currently, history is a str"),
        ({"question": "q"}, r"history must be a list .* history is a dict"),
        ([("When?", "In May.", "extra")], r"history\[0\] must be a qa.Answer or a \(question, answer_text\) pair .* tuple of 3 items"),
        ([("When?", "In May."), 42], r"history\[1\] must be a qa.Answer .* Currently, history\[1\] is an int \(42\)"),
        ([("When?", None)], r"history\[0\] must be a qa.Answer .* \(str, NoneType\)"),
        ([("When?", "In May."), ("  ", "x")], r"history\[1\] has an empty question"),
        ([Turn("Who?", 3)], r"history\[0\] has an answer text of type int"),  # type: ignore[arg-type]
    ],
)
def test_bad_history_items_are_named(history: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        turns_of(history)  # type: ignore[arg-type]


def test_history_kinds_become_turns() -> None:
    cited = Citation(1, "jets.txt", "Jets", "The fighter jet will fly by 2035.", 0, 33, 0.9, 2)
    answer = Answer("When will the jet fly?", cited.quote, False, 0.8, [cited])
    turns = turns_of([answer, ("And who?", ""), ["Where?", "Here."], Turn("Why?", "")])
    assert turns == [
        Turn("When will the jet fly?", cited.quote, (Span("jets.txt", 0, 33, cited.quote),)),
        Turn("And who?", ""), Turn("Where?", "Here."), Turn("Why?", ""),
    ]
    assert turns_of(None) == [] and turns_of([]) == []


def test_answer_keeps_its_positional_fields_and_serialises_the_follow_up() -> None:
    plain = Answer("q", "", True, 0.1, [], [], None, None)
    assert plain.follow_up is None and answer_to_json(plain)["follow_up"] is None
    followed = Answer("q", "", True, 0.0, follow_up=FollowUp(2, "When?", ("jet",), ("jets.txt",)))
    assert answer_to_json(followed)["follow_up"] == {"turn": 2, "question": "When?", "terms": ["jet"], "doc_ids": ["jets.txt"]}


# ---------------------------------------------------------------- what depends on the conversation


@pytest.mark.parametrize(
    ("question", "expected"),
    [("And who is building it?", True), ("and when?", True), ("What about Korea?", True), ("What did he do next?", True),
     ("Anything else?", True), ("When will the fighter jet fly?", False), ("Where do cats sleep?", False)],
)
def test_refers_back(question: str, expected: bool) -> None:
    assert refers_back(question) is expected


@pytest.fixture
def fake_bot(fake_index: Path, fake_embedder: HashingEmbedder) -> qa.QA:
    return qa.load(fake_index, model=fake_embedder, reader=False)


def test_depends_on_the_corpus_topic_words(fake_bot: qa.QA) -> None:
    store = fake_bot.store
    assert depends(store, "Where?")  # nothing of its own
    assert depends(store, "Why does it fly?")  # a pronoun
    assert not depends(store, "What do kittens drink?")  # a topic word of the corpus
    assert depends(store, "What does Gondwana export?")  # no word the documents know


def test_resolve_adds_earlier_question_words_and_focuses_the_cited_document(fake_bot: qa.QA) -> None:
    store = fake_bot.store
    first = fake_bot.ask("When will the fighter jet fly?")
    assert not first.abstained and first.citations[0].doc_id == "jets.txt"
    resolution = resolve(store, "Who tests its engines?", turns_of([first]))
    assert resolution is not None and not resolution.soft
    assert resolution.focus == ("jets.txt",) and resolution.follow_up.doc_ids == ("jets.txt",)
    assert resolution.follow_up.turn == 0 and resolution.follow_up.question == first.question
    assert len(resolution.follow_up.terms) == conversation.MAX_TERMS
    assert resolution.query == " ".join(["Who tests its engines?", *resolution.follow_up.terms])
    assert set(resolution.follow_up.terms) <= {"fighter", "jet", "fly"}
    assert resolve(store, "Who tests its engines?", []) is None


def test_only_the_last_turns_count(fake_bot: qa.QA) -> None:
    jets = fake_bot.ask("When will the fighter jet fly?")
    cats = [("Do cats sleep?", "")] * topic.MAX_EVIDENCE_TURNS  # declined turns: no document of their own
    resolution = resolve(fake_bot.store, "And then?", turns_of([jets, *cats]))
    assert resolution is None  # the cited turn is out of the evidence window: nothing to follow
    resolution = resolve(fake_bot.store, "And then?", turns_of([jets, *cats[:-1]]))
    assert resolution is not None and resolution.focus == ("jets.txt",) and resolution.follow_up.turn == 0


def test_focus_puts_the_cited_document_first_and_alone(fake_bot: qa.QA, monkeypatch: pytest.MonkeyPatch) -> None:
    store = fake_bot.store
    jets = next(i for i in range(len(store.passages)) if store.passages[i].doc_id == "jets.txt")
    others = [i for i in range(len(store.passages)) if i != jets]
    resolution = resolve(store, "And then?", [Turn("When will the jet fly?", "x", (Span("jets.txt", 0, 5, "The f"),))])
    assert resolution is not None and resolution.anchors == (jets,)
    hits = [Hit(p, 1.0 / (r + 1), r + 1) for r, p in enumerate(others)]  # the search missed it
    assert [h.passage for h in focus(store, hits, resolution, 3)] == [jets]
    monkeypatch.setattr(conversation, "FOCUS_ONLY", False)
    got = focus(store, hits, resolution, 3)
    assert got is not None and [h.passage for h in got] == [jets, *others[:2]] and [h.rank for h in got] == [1, 2, 3]


def test_a_standalone_question_can_change_the_subject(fake_bot: qa.QA) -> None:
    jets = fake_bot.ask("When will the fighter jet fly?")
    cats = fake_bot.ask("Where do kittens drink milk?", history=[jets])
    alone = fake_bot.ask("Where do kittens drink milk?")
    assert cats == alone and cats.text == "Kittens drink milk."  # it changed the subject: answered as on its own


# ---------------------------------------------------------------- the real model on the bundled article


ARTICLE_QUESTIONS = ["What does the pact cover?", JET, "Who is Josep Borrell?", "What is the population of Japan?", WHO]


def test_no_history_gives_exactly_todays_answer(article_bot: qa.QA) -> None:
    for question in ARTICLE_QUESTIONS:
        today = article_bot.ask(question)
        assert article_bot.ask(question, history=None) == today
        assert article_bot.ask(question, history=[]) == today
        assert today.follow_up is None


def test_a_question_of_its_own_in_a_one_document_corpus_is_answered_as_today(article_bot: qa.QA) -> None:
    history = [article_bot.ask("What does the pact cover?"), article_bot.ask("What is the population of Brazil?")]
    for question in ("What does the pact cover?", "Who is Josep Borrell?"):
        assert article_bot.ask(question, history=history) == article_bot.ask(question)  # the focus changed nothing


def test_bad_history_raises_through_ask(article_bot: qa.QA) -> None:
    with pytest.raises(ValueError, match=r"history\[1\] must be a qa.Answer"):
        article_bot.ask(WHO, history=[(JET, "by 2035"), "by 2035"])


def test_who_is_building_it_follows_up_the_fighter_jet(article_bot: qa.QA) -> None:
    first = article_bot.ask(JET)
    assert not first.abstained and "2035" in first.text
    follow = article_bot.ask(WHO, history=[first])
    assert follow.status in ("answered", "unconfirmed")  # a follow-up uses the same tiers
    c = follow.citations[0] if follow.status == "answered" else follow.candidate.citation  # type: ignore[union-attr]
    assert ITALY in c.quote and article_bot.document(c.doc_id).text[c.start : c.end] == c.quote
    phrase = follow.phrase if follow.status == "answered" else follow.candidate.phrase  # type: ignore[union-attr]
    assert phrase is not None and ITALY in phrase.text  # read with the turn before: not "Japan, which ..."
    assert follow.follow_up is not None and follow.follow_up.turn == 0 and follow.follow_up.question == JET
    assert follow.follow_up.doc_ids == ("eu-japan-security-pact.txt",) and follow.follow_up.terms
    paired = article_bot.ask(WHO, history=[(JET, first.text)])  # a caller without Answer objects: found by its text
    shown = paired.text or (paired.candidate.text if paired.candidate is not None else "")
    assert ITALY in shown and paired.follow_up is not None and paired.follow_up.doc_ids == ("eu-japan-security-pact.txt",)


def test_the_foreign_minister_follow_up_gets_iwayas_sentence(article_bot: qa.QA) -> None:
    first = article_bot.ask("Who is Japan's defense minister?")
    for history in ([first], [("Who is Japan's defense minister?", first.text)], [("Who is Japan's defense minister?", "")]):
        follow = article_bot.ask("And the foreign minister?", history=history)
        shown = follow.text or (follow.candidate.text if follow.candidate is not None else "")
        assert follow.status != "declined" and "Foreign Minister Takeshi Iwaya" in shown


def test_a_follow_up_to_an_off_topic_decline_declines(article_bot: qa.QA) -> None:
    brazil = article_bot.ask("What is the population of Brazil?")
    assert brazil.abstained
    for question in ("And its capital?", "What about its army?", WHO):
        follow = article_bot.ask(question, history=[brazil])
        assert follow.abstained and follow.citations == [] and follow.text == ""
        assert follow.status == "declined" and follow.candidate is None  # nothing relevant: no closest sentence either
        assert follow.follow_up is not None and follow.follow_up.question == brazil.question
    assert not article_bot.ask(JET, history=[brazil]).abstained  # a question of its own is still answered


def test_a_follow_up_declined_in_the_conversations_document_shows_its_closest_sentence(
        article_bot: qa.QA, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.answering import answers, decision

    jet = article_bot.ask(JET)
    pact = article_bot.ask("What does the pact cover?")
    follow = "When did they unveil it?"
    assert answers.keeps_candidate(article_bot.store, follow)
    assert not answers.keeps_candidate(article_bot.store, "How much did it cost?")  # "cost": the article never says
    assert not answers.keeps_candidate(article_bot.store, "What is the capital of France?")  # no reference back
    monkeypatch.setattr(decision, "nothing_relevant", lambda *args: True)  # both keys say no, alone and in the thread
    monkeypatch.setattr(conversation, "KEEP_CANDIDATE", False)
    before = article_bot.ask(follow, history=[jet])
    assert before.status == "declined" and before.candidate is None
    monkeypatch.setattr(conversation, "KEEP_CANDIDATE", True)
    kept = article_bot.ask(follow, history=[jet])
    assert kept.status == "unconfirmed" and kept.abstained and kept.citations == [] and kept.text == ""  # never answered
    assert kept.candidate is not None and kept.candidate.citation.doc_id == jet.citations[0].doc_id
    doc = article_bot.document(kept.candidate.citation.doc_id).text
    assert doc[kept.candidate.citation.start : kept.candidate.citation.end] == kept.candidate.text
    assert kept.follow_up is not None and kept.follow_up.question == JET
    france = article_bot.ask("What is the capital of France?", history=[pact])
    assert france.status == "declined" and france.candidate is None
