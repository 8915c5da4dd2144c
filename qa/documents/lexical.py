"""Tokenisation for the BM25 index and for lexical sentence scoring."""

from __future__ import annotations

import functools
import re
from collections.abc import Container

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves s t don't didn't
    doesn't won't isn't""".split()
)


@functools.lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball (English) stem of a lower-case word."""
    return _stemmer().stemWord(word.replace("’", "'"))  # type: ignore[attr-defined]


def tokenize(text: str) -> list[str]:
    """Lower-case, split into words, drop English stop words, and stem (Snowball).

    Args:
        text: Any text.

    Returns:
        The stemmed content words, in order (duplicates kept).
    """
    return [stem(w) for w in content_words(text)]


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that are not stop words (unstemmed, duplicates kept).

    A possessive ``'s`` is dropped ("Borrell's" is "borrell"): the word means the
    same, and the bare word is more often a single token of the model.
    """
    words = (_POSSESSIVE.sub("", w.replace("’", "'")) for w in _WORD.findall(text.lower()))
    return [w for w in words if w not in STOPWORDS]


_POSSESSIVE = re.compile(r"'s$")


_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|hundreds|"
    "thousand|thousands|million|millions|billion|billions|dozen|dozens|several|decades|decade|half|percent"
)
_TYPE_PATTERNS = {
    "money": re.compile(
        r"[$€£¥]|\b(?:euros?|dollars?|yen|pounds?|usd|eur|gbp|jpy|francs?|yuan|rupees?|cents?|million|billion|trillion|bn)\b",
        re.IGNORECASE,
    ),
    "quantity": re.compile(rf"\d|[$€£¥]|\b(?:{_NUMBER_WORDS}|years|months|weeks|days)\b", re.IGNORECASE),
    "time": re.compile(
        rf"\b(?:1[0-9]\d\d|20\d\d|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})|(?:{_MONTHS})\.?\s+\d|"
        rf"(?:{_MONTHS})\b|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|"
        rf"century|centuries|decades?|years?\s+ago|since|until|after|before|during|later|earlier)\b",
        re.IGNORECASE,
    ),
}
_QUESTION_TYPES = (
    ("money", re.compile(
        r"\bhow much (?:money|funding|cash)\b|\bhow much (?:did|does|do|will|would) .{0,60}\b(?:cost|pay|spend|spent|invest|fund)|"
        r"\b(?:cost|budget|price|funding|spending)\b.{0,40}\?|\bwhat (?:is|was) the (?:cost|budget|price|value)\b",
        re.I,
    )),
    ("quantity", re.compile(r"\bhow (?:many|much|long|often|far|large|big|old)\b|\bwhat (?:number|percentage|amount)\b", re.I)),
    ("time", re.compile(r"\bwhen\b|\b(?:what|which|by what|in what) (?:year|date|day|month|time|century|decade)\b", re.I)),
    ("name", re.compile(r"\bwho(?:m|se)?\b|\bwhere\b|\b(?:which|what) (?:city|country|countries|place|building|town|organi[sz]ation|company|agency|person)\b", re.I)),
)


def expected_answer_type(question: str) -> str | None:
    """The kind of answer a question asks for: ``"money"``, ``"quantity"``, ``"time"``, ``"name"``, or None."""
    for kind, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def answer_candidates(kind: str, sentence: str) -> tuple[str, ...]:
    """The lower-cased strings of ``sentence`` that could answer a question of this kind.

    A ``"name"`` candidate is a capitalised word that is not a stop word; a
    ``"money"``, ``"quantity"`` or ``"time"`` candidate is a number, amount, date
    or time expression.  They depend on the sentence only, so they can be cached.
    """
    if kind == "name":
        return tuple(w.lower() for w in _WORD.findall(sentence) if w[0].isupper() and w.lower() not in STOPWORDS)
    return tuple(m.group(0).lower() for m in _TYPE_PATTERNS[kind].finditer(sentence))


ANSWER_KINDS: tuple[str, ...] = ("money", "quantity", "time", "name")
"""The kinds :func:`expected_answer_type` returns."""


def asked_of(kind: str, question: str) -> Container[str]:
    """What the question already says, to tell a new answer candidate from an echo of the question.

    For names, the question's lower-cased words; for amounts and times, its
    lower-cased text (a candidate counts as said when it is a substring).
    """
    if kind == "name":
        return {w.lower() for w in _WORD.findall(question)}
    return question.lower()


def has_answer_type(kind: str | None, sentence: str, question: str) -> bool:
    """Whether ``sentence`` holds something of the expected kind that the question itself does not.

    A ``"name"`` is a capitalised word absent from the question; quantities and
    times are numbers, amounts, dates and time expressions.
    """
    if kind is None:
        return True
    asked = asked_of(kind, question)
    return any(c not in asked for c in answer_candidates(kind, sentence))
