from __future__ import annotations

import pytest

from qa.documents.lexical import content_words, expected_answer_type, has_answer_type, tokenize


def test_tokenize_stems_and_drops_stop_words() -> None:
    assert tokenize("The ships were unloading cargoes at the ports") == ["ship", "unload", "cargo", "port"]
    assert content_words("What does the pact cover?") == ["pact", "cover"]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How much money will the EU spend on the pact?", "money"),
        ("What is the budget of the programme?", "money"),
        ("How many countries signed?", "quantity"),
        ("How much does the jet weigh?", "quantity"),
        ("When was the agreement signed?", "time"),
        ("In what year will the jet fly?", "time"),
        ("Who is the EU foreign policy chief?", "name"),
        ("Which countries build the jet?", "name"),
        ("What does the pact cover?", None),
    ],
)
def test_expected_answer_type(question: str, kind: str | None) -> None:
    assert expected_answer_type(question) == kind


def test_has_answer_type_needs_something_new_of_the_kind() -> None:
    assert has_answer_type("money", "The fund holds 5 billion euros.", "How much money?")
    assert not has_answer_type("money", "They may include mutually designated third countries.", "How much money?")
    assert not has_answer_type("quantity", "They may include third countries.", "How many ships?")
    assert has_answer_type("time", "It was signed on Nov. 1, 2024.", "When was it signed?")
    assert not has_answer_type("time", "It was signed in Tokyo.", "When was it signed?")
    assert has_answer_type("name", "Josep Borrell signed it.", "Who signed it?")
    assert not has_answer_type("name", "Borrell signed it.", "Did Borrell sign it?")
    assert has_answer_type(None, "anything", "What?")


def test_possessives_are_the_bare_word() -> None:
    assert content_words("Borrell's remarks and Japan’s navy") == ["borrell", "remarks", "japan", "navy"]
    assert tokenize("Borrell's") == tokenize("Borrell")
