"""The rule edits of eval/training/make_negatives.py on tiny inline data (no model, no shared data)."""

import json
import random
from pathlib import Path

import pytest

from eval.training import make_negatives as mn
from eval.training import real_negatives as rn
from eval.scoring.dialogue_split import is_tune

PARAGRAPH = (
    "The Normans conquered England in 1066 under William Rufus. The largest Norman castle was built "
    "at Dover in 1070 by Henry of Blois. In August the army marched north to York."
)
OTHER = "Robert Guiscard led the Normans in Sicily. Then Henry of Blois and Robert Guiscard met at Rome in 1080 and again at Rome."
POOLS = mn.article_pools([PARAGRAPH, OTHER])
VOCAB, VERBS = mn.verb_lexicon([PARAGRAPH, OTHER, "They conquer, build, lead and march; he wrote and will write."])


def test_entity_swap_takes_a_name_of_the_article_the_paragraph_lacks() -> None:
    out = mn.edit("entity", "Who built the castle for William Rufus?", PARAGRAPH, POOLS, VOCAB, VERBS, random.Random(1))
    assert out == "Who built the castle for Robert Guiscard?"


def test_entity_swap_needs_the_name_in_the_paragraph() -> None:
    assert mn.edit("entity", "Who was Robert Guiscard?", PARAGRAPH, POOLS, VOCAB, VERBS, random.Random(1)) is None


def test_entity_swap_ranks_by_likeness_when_given() -> None:
    pools = {"name": ["Henry Blois", "Robert Guiscard"]}
    question = "What did William Rufus build?"
    paragraph = "William Rufus built a hall."
    alike = {"Robert Guiscard": 0.9, "Henry Blois": 0.1}
    out = mn.entity_swap(question, paragraph, pools, random.Random(0), similar=lambda name, pool: [alike.get(p, 0.0) for p in pool])
    assert out in ("What did Robert Guiscard build?", "What did Henry Blois build?")


def test_entity_swap_skips_an_alias_of_a_name_in_the_paragraph() -> None:
    pools = {"name": ["Great Britain", "Robert Guiscard"]}
    paragraph = "William Rufus ruled the United Kingdom."

    def alike(name: str, pool: list[str]) -> list[float]:
        return [0.9 if {name, p} == {"Great Britain", "United Kingdom"} else 0.3 for p in pool]

    for seed in range(5):
        assert mn.entity_swap("What did William Rufus build?", paragraph, pools, random.Random(seed), alike) == (
            "What did Robert Guiscard build?")


def test_antonym_flips_a_listed_word_the_paragraph_lacks() -> None:
    assert mn.edit("antonym", "What was the largest Norman castle?", PARAGRAPH, POOLS, VOCAB, VERBS,
                   random.Random(0)) == "What was the smallest Norman castle?"


def test_antonym_skipped_when_the_paragraph_holds_the_opposite() -> None:
    paragraph = PARAGRAPH + " The smallest one stood at Hastings."
    assert mn.edit("antonym", "What was the largest Norman castle?", paragraph, POOLS, VOCAB, VERBS, random.Random(0)) is None


def test_negation_uses_do_support_for_a_subject_question() -> None:
    assert mn.edit("negation", "Who conquered England in 1066?", PARAGRAPH, POOLS, VOCAB, VERBS,
                   random.Random(0)) == "Who did not conquer England in 1066?"
    assert mn.edit("negation", "Who wrote the chronicle?", PARAGRAPH, POOLS, VOCAB, VERBS,
                   random.Random(0)) == "Who did not write the chronicle?"


def test_negation_goes_before_the_main_verb_after_an_auxiliary() -> None:
    assert mn.edit("negation", "When did the Normans conquer England?", PARAGRAPH, POOLS, VOCAB, VERBS,
                   random.Random(0)) == "When did the Normans not conquer England?"


def test_negation_is_removed_when_the_question_has_one() -> None:
    assert mn.edit("negation", "Which castle was not built at Dover?", PARAGRAPH, POOLS, VOCAB, VERBS,
                   random.Random(0)) == "Which castle was built at Dover?"


def test_exclusion_takes_a_sibling_the_paragraph_lacks() -> None:
    out = mn.edit("exclusion", "Where did the army march in September?", PARAGRAPH, POOLS, VOCAB, VERBS, random.Random(3))
    assert out is not None and out.startswith("Where did the army march in ")  # the verb "march" is no month
    month = out.split()[-1].rstrip("?").lower()
    assert month in mn.SIBLING_OF["august"] and month != "september" and not mn.has_word(PARAGRAPH, month)


def test_condition_changes_the_year_or_place_to_one_the_paragraph_lacks() -> None:
    out = mn.edit("condition", "What was built at Dover in 1070?", PARAGRAPH, POOLS, VOCAB, VERBS, random.Random(2))
    assert out is not None
    changed = [w for w in out.rstrip("?").split() if w not in "What was built at Dover in 1070".split()]
    assert len(changed) == 1 and not mn.has_word(PARAGRAPH, changed[0])


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown edit kind 'synonym'"):
        mn.edit("synonym", "Who?", PARAGRAPH, POOLS, VOCAB, VERBS, random.Random(0))


@pytest.mark.parametrize("question", [
    "What does not the castle hold?",  # "not" between an auxiliary and its subject
    "What the not castle?",  # determiner before "not"
    "Who built built the castle?",  # doubled word
    "Who built the castle",  # no question mark
    'Who said "castle?',  # unbalanced quote
])
def test_grammatical_refuses_broken_edits(question: str) -> None:
    assert not mn.grammatical(question, "Who built the castle?")


def test_grammatical_accepts_a_clean_edit_and_refuses_no_change() -> None:
    assert mn.grammatical("Who did not build the castle?", "Who built the castle?")
    assert not mn.grammatical("Who built the castle?", "Who built the castle?")


def test_pools_keep_names_seen_twice_and_drop_adjectives() -> None:
    pools = mn.article_pools(["Paris is big. The French city of Paris grew.", "The French army left Paris and Lyon."])
    assert "Paris" in pools["name"] and "French" in pools["adjective"]
    assert all("French" not in v for k, v in pools.items() if k != "adjective")
    assert "Lyon" not in pools.get("name", [])  # seen once


def test_join_keeps_quotes_and_punctuation_tight() -> None:
    toks = mn.tokens('Who called them "girlie men", and why?')
    assert mn.join(toks) == 'Who called them "girlie men", and why?'


@pytest.mark.parametrize("question,alone", [
    ("What instruments did Bob Dylan play on Blonde on Blonde?", True),
    ("What did he do next?", False),  # pronoun
    ("Anything else?", False),  # too short
    ("Canning chili with beans", False),  # a title, not a question
    ("Did the band tour Europe again?", False),  # "again" leans on the dialogue
])
def test_stands_alone(question: str, alone: bool) -> None:
    assert rn.stands_alone(question) is alone


def test_conversation_negatives_keep_the_tune_half_of_dev_files(tmp_path: Path) -> None:
    context = "The band toured Japan in 1999. They sold many records. CANNOTANSWER"
    turns = [{"question": "What instruments did the band play in Japan?", "answers": [{"text": "CANNOTANSWER", "answer_start": 56}]},
             {"question": "Where did the band tour in 1999?", "answers": [{"text": "Japan", "answer_start": 20}]}]
    ids = [f"C_{i}" for i in range(40)]
    dialogues = [{"id": i, "context": context, "qas": turns} for i in ids]
    for name in ("quac_train_0.01.json", "doqa_dev_cooking.json"):
        (tmp_path / name).write_text(json.dumps({"data": [{"title": "Band", "paragraphs": dialogues}]}))
    out, counts = rn.conversation_negatives(tmp_path)
    tune = sum(is_tune(i) for i in ids)
    assert 0 < tune < 40
    assert counts["quac_train_0.01.json"]["standalone"] == 40 and counts["doqa_dev_cooking.json"]["standalone"] == tune
    assert all(e.answer_start == -1 and e.source == "cannotanswer" and "CANNOTANSWER" not in e.context for e in out)
    assert len(out) == 40 + tune


def test_parse_args_refuses_a_bad_share(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        mn.parse_args(["--work", str(tmp_path), "--out", str(tmp_path), "--hard-share", "1.5"])


def test_changed_finds_the_replaced_tokens() -> None:
    assert mn.changed("Where were there riots in June 2012?", "Where were there riots in Multan 2012?") == ("June", "Multan", 5)


@pytest.mark.parametrize("kind,original,edited,ok", [
    ("antonym", "When did Kanye West start dating?", "When did Kanye East start dating?", False),  # part of a name
    ("antonym", "What was the largest castle?", "What was the smallest castle?", True),
    ("condition", "Where were there riots in June 2012?", "Where were there riots in Multan 2012?", False),  # a month
    ("condition", "Who ruled in Dover in 1070?", "Who ruled in Rome in 1070?", True),
    ("entity", "Who built the castle for William Rufus?", "Who built the castle for Though?", False),  # a common word
    ("entity", "Who built the castle for William Rufus?", "Who built the castle for Robert Guiscard?", True),
])
def test_sound_checks_an_edit_against_its_original(kind: str, original: str, edited: str, ok: bool) -> None:
    assert mn.sound(kind, original, edited, {"though"}) is ok
