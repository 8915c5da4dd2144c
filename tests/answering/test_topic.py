"""The conversation's document (qa.answering.topic): evidence over the dialogue, the search-share cache, and
documents of bare (question, text) history items found by their sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.answering import topic
from qa.answering.conversation import Turn, resolve, turns_of
from qa.answering.topic import ShareCache, conversation_document, find_sentence, search_shares
from qa.index.store import Hit
from tests.conftest import HashingEmbedder


@pytest.fixture
def fake_bot(fake_index: Path, fake_embedder: HashingEmbedder) -> qa.QA:
    return qa.load(fake_index, model=fake_embedder, reader=False)


def test_search_shares_weigh_documents_by_rank(fake_bot: qa.QA) -> None:
    store = fake_bot.store
    jets = [p for p in range(len(store.passages)) if store.passages[p].doc_id == "jets.txt"]
    cats = [p for p in range(len(store.passages)) if store.passages[p].doc_id == "cats.txt"]
    shares = search_shares(store, [Hit(jets[0], 1.0, 1), Hit(cats[0], 0.5, 2)])
    assert shares == pytest.approx({"jets.txt": 2 / 3, "cats.txt": 1 / 3})
    assert search_shares(store, []) == {}


def test_a_wrong_first_answer_is_outvoted_by_the_later_questions() -> None:
    # turn 0 answered from cats (wrong); turn 1 asked about jets, an unconfirmed candidate there; turn 2 declined
    questions = [{"cats.txt": 1.0}, {"jets.txt": 0.9, "cats.txt": 0.1}, {"jets.txt": 0.8, "ships.txt": 0.2}]
    answers = [("cats.txt", topic.ANSWER_WEIGHT), ("jets.txt", topic.CANDIDATE_WEIGHT), (None, 0.0)]
    evidence = conversation_document(questions, answers, {})
    assert evidence.document == "jets.txt" and 0.5 < evidence.share < 1.0
    alone = conversation_document(questions[:1], answers[:1], {})
    assert alone.document == "cats.txt" and alone.share == 1.0
    candidate = conversation_document([{}], [("ships.txt", topic.CANDIDATE_WEIGHT)], {"jets.txt": 0.4})
    assert candidate.document == "ships.txt"  # an unconfirmed candidate still gives focus, less strongly
    strong = conversation_document([{}], [("ships.txt", topic.CANDIDATE_WEIGHT)], {"jets.txt": 1.0}, 2 * topic.CANDIDATE_WEIGHT)
    assert strong.document == "jets.txt"  # a question whose own search is strong enough outweighs it
    assert conversation_document([], [], {}).document is None


def test_share_cache_is_bounded_and_per_store(fake_bot: qa.QA) -> None:
    cache = ShareCache(size=2)
    store = fake_bot.store
    for i in range(3):
        cache.put(store, f"q{i}", {"jets.txt": float(i)})
    assert cache.get(store, "q0") is None and cache.get(store, "q2") == {"jets.txt": 2.0}
    calls: list[list[str]] = []

    def search(questions: list[str]) -> list[list[Hit]]:
        calls.append(questions)
        return [[Hit(0, 1.0, 1)] for _ in questions]

    topic.SHARES.put(store, "cached?", {"cats.txt": 1.0})
    shares = topic.question_shares(store, ["cached?", "new?", "new?"], search)
    assert calls == [["new?"]] and shares[0] == {"cats.txt": 1.0} and shares[1] == shares[2]


def test_find_sentence_matches_an_answer_text_exactly(fake_bot: qa.QA) -> None:
    store = fake_bot.store
    found = find_sentence(store, "The fighter jet   will fly by 2035.")
    assert found is not None and found.doc_id == "jets.txt" and found.text == "The fighter jet will fly by 2035."
    two = find_sentence(store, "Ships unload cargo at the port. The fighter jet will fly by 2035.")
    assert two is None or two.doc_id in {"ships.txt", "jets.txt"}
    assert find_sentence(store, "The fighter jet will fly by 2036.") is None
    assert find_sentence(store, "  ") is None


def test_a_pair_without_citations_gets_its_document(fake_bot: qa.QA) -> None:
    store = fake_bot.store
    turns = turns_of([("When will it fly?", "The fighter jet will fly by 2035.")])
    resolution = resolve(store, "And then?", turns)
    assert resolution is not None and resolution.focus == ("jets.txt",)
    unknown = resolve(store, "And then?", [Turn("When will it fly?", "A sentence no document holds.")])
    assert unknown is None  # no citation, no sentence found, no searched evidence: nothing to follow


def test_a_question_naming_another_documents_topic_changes_the_subject(fake_bot: qa.QA) -> None:
    store = fake_bot.store
    jets = fake_bot.ask("When will the fighter jet fly?")
    # "what about the kittens?" refers back, but names a topic word only cats.txt holds, whose search prefers it
    own = {"cats.txt": 0.9, "jets.txt": 0.1}
    assert resolve(store, "What about the kittens?", turns_of([jets]), own, [{"jets.txt": 1.0}]) is None
    same = resolve(store, "What about the engines?", turns_of([jets]), {"jets.txt": 1.0}, [{"jets.txt": 1.0}])
    assert same is not None and same.focus == ("jets.txt",)
