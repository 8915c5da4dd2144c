"""Tokenisation for the BM25 index and for lexical sentence scoring."""

from __future__ import annotations

import functools
import re

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
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)  # type: ignore[attr-defined]


def tokenize(text: str) -> list[str]:
    """Lower-case, split into words, drop English stop words, and stem (Snowball).

    Args:
        text: Any text.

    Returns:
        The stemmed content words, in order (duplicates kept).
    """
    words = (w.replace("’", "'") for w in _WORD.findall(text.lower()))
    return [_stem(w) for w in words if w not in STOPWORDS]
