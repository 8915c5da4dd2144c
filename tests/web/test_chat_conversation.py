"""The web chat's conversation: follow-ups read with the chat's own earlier turns, "Clear chat" starts anew."""

from __future__ import annotations

from typing import Any

import qa
from qa.answering.conversation import Turn
from qa.answering.topic import MAX_EVIDENCE_TURNS
from qa.web import chat

JET = "When will the new fighter jet be airborne?"
WHO = "And who is building it?"


def _respond(demo: Any) -> Any:
    return next(f for f in demo.fns.values() if f.name == "respond")


def test_converse_follows_up_and_shows_it_discreetly(article_bot: qa.QA) -> None:
    first, turns = chat.converse(article_bot, JET, 5, None)
    assert "2035" in first and "following up on" not in first and len(turns) == 1 and turns[0].question == JET
    follow, turns = chat.converse(article_bot, WHO, 5, turns)
    assert "Italy and Britain" in follow and [t.question for t in turns] == [JET, WHO]
    assert follow.startswith('<p class="qa-meta qa-followup">following up on: \u201cWhen will the new fighter jet be airborne?\u201d</p>')
    alone = chat.reply(article_bot, WHO)
    assert "following up on" not in alone


def test_converse_keeps_the_last_turns_and_errors_keep_the_history(article_bot: qa.QA) -> None:
    turns = [Turn(f"Question {i}?", "") for i in range(MAX_EVIDENCE_TURNS)]
    _, kept = chat.converse(article_bot, JET, 5, turns)
    assert len(kept) == MAX_EVIDENCE_TURNS and kept[-1].question == JET and kept[0].question == "Question 1?"
    message, same = chat.converse(article_bot, JET, 99, kept)
    assert "could not be used" in message and same == kept


def test_the_page_passes_its_conversation_and_clear_chat_resets_it(article_bot: qa.QA) -> None:
    demo = chat.build_demo(article_bot)
    respond = _respond(demo)
    state = next(b for b in respond.inputs if b.__class__.__name__ == "State")
    assert state in respond.outputs
    messages, box, turns = respond.fn(JET, [], 5, [])
    assert box == "" and len(messages) == 2 and len(turns) == 1
    messages, _, turns = respond.fn(WHO, messages, 5, turns)
    assert "Italy and Britain" in messages[-1]["content"] and "following up on" in messages[-1]["content"]
    assert len(turns) == 2
    fresh, _, turns = respond.fn(WHO, [], 5, turns)  # the chat was cleared: a new conversation
    assert "following up on" not in fresh[-1]["content"] and len(turns) == 1
    clear = [f for f in demo.fns.values() if state in f.outputs and f.name != "respond"]
    assert clear and all(f.fn() == [] for f in clear)
