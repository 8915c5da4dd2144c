"""Make near-miss unanswerable questions from SQuAD 1.1 train, and collect real ones from conversations.

SQuAD 2.0's unanswerable questions were written by editing answerable ones (Rajpurkar et al. 2018,
Table 3).  This script makes the same kinds of edit by rule, seeded and reproducible:

* ``entity``: a name or a number of the question that its paragraph holds is swapped for one of the same
  kind (same word count; a number for a number) from another paragraph of the article, absent from this one;
* ``antonym``: a word of a curated list of pairs ("largest" / "smallest", "before" / "after") becomes its
  opposite, which the paragraph does not hold (no WordNet data ships here: :data:`ANTONYMS` is hand-made);
* ``negation``: "not" is inserted with do-support ("Who wrote X?" -> "Who did not write X?", "When did the
  Normans conquer England?" -> "When did the Normans not conquer England?", "Who was the first X?" ->
  "Who was not the first X?"), or a "not"/"never" the question has is removed;
* ``exclusion``: an item of a curated set of siblings (months, ordinals, medals, relatives, languages ...)
  becomes another item of its set that the paragraph does not hold;
* ``condition``: the year or place of a condition ("in 1998", "at Oxford") becomes another one the paragraph
  does not hold (a year of the article, or the year moved by 2 to 40 years; a place named after a
  preposition elsewhere in the article).

An edit is kept when it passes :func:`grammatical`, when its paragraph still ranks first for it with the
shipped hybrid retrieval (a near miss, not noise), when :func:`sound` (checked against the original), and,
for ``--hard-share`` of the set, when the shipped reader still scores it answerable on its passage (answerable
logit >= ``--hard-logit``; adversarial filtering, as SWAG did).

Real negatives (``cannotanswer``, :mod:`eval.training.real_negatives`): the unanswerable (``CANNOTANSWER``) turns of the
conversation files whose question stands alone; of the dev files only the tune-half dialogues.

    python -m eval.training.make_negatives --data ../shared/data --work /work/reader-work/train --out /work/reader-work/neg
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import logging
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from eval.training.negative_words import (  # noqa: E402
    ANTONYMS, AUX_DO, COPULA, DETERMINERS, IRREGULAR, NEGATIONS, PLACE_PREPOSITIONS, PREPOSITIONS, PROPER,
    SIBLING_OF, WH,
)
from eval.training.reader_data import STOP, Example, passages_of, read_examples, read_squad, write_examples  # noqa: E402
from eval.training.real_negatives import conversation_negatives  # noqa: E402

logger = logging.getLogger("make_negatives")

KINDS = ("entity", "antonym", "negation", "exclusion", "condition")
TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d[\d,.]*\d|\d|[^\sA-Za-z\d]")


def tokens(text: str) -> list[str]:
    """Words, numbers and punctuation marks of a question."""
    return TOKEN.findall(text)


def join(toks: list[str]) -> str:
    """Tokens back to text: no space before punctuation, after an opening bracket, inside quotes."""
    out, quotes = "", 0
    for t in toks:
        closing = t == '"' and quotes % 2 == 1
        opened = out.endswith('"') and quotes % 2 == 1
        if out and not (re.fullmatch(r"[?.,;:!)\]'%]", t) or closing or opened or out[-1] in "([$" or t.startswith("'s")):
            out += " "
        quotes += t == '"'
        out += t
    return out


def has_word(text: str, word: str) -> bool:
    """Whether ``word`` (any case) occurs in ``text`` as a whole word."""
    return re.search(r"(?<![A-Za-z\d])" + re.escape(word) + r"(?![A-Za-z\d])", text, re.IGNORECASE) is not None


def _case_like(new: str, old: str) -> str:
    return new[0].upper() + new[1:] if old[0].isupper() else new


def _fix_articles(toks: list[str]) -> list[str]:
    """``a`` / ``an`` to agree with the next word (after a swap)."""
    out = list(toks)
    for i in range(len(out) - 1):
        if out[i].lower() in ("a", "an") and out[i + 1][:1].isalpha():
            vowel = out[i + 1][0].lower() in "aeiou"
            want = "an" if vowel else "a"
            out[i] = _case_like(want, out[i])
    return out


def grammatical(question: str, original: str) -> bool:
    """Rule checks on an edit: a question mark at the end, no doubled word, no determiner before "not", no
    "not" right after a wh-word that is followed by an auxiliary's subject ("What does not the ..."), and a
    real change of the original."""
    toks = tokens(question)
    low = [t.lower() for t in toks]
    if question == original or not question.endswith("?") or len(toks) < 4:
        return False
    if any(a == b and a.isalpha() for a, b in itertools.pairwise(low)):
        return False
    for i, t in enumerate(low):
        if t in ("not", "never") and i > 0 and (low[i - 1] in DETERMINERS or low[i - 1] in PREPOSITIONS):
            return False
        if t == "not" and i >= 2 and low[i - 1] in AUX_DO and low[i - 2] in WH and i + 1 < len(low) and low[i + 1] in DETERMINERS:
            return False
    return question.count("(") == question.count(")") and question.count('"') % 2 == 0


# ---------------------------------------------------------------- the edits


DEMONYM_ENDINGS = ("an", "ese", "ish", "ic", "i", "ch")
"""Endings of a capitalised adjective ("American city", "Chinese army", "French king")."""


def is_name(span: str, lower_words: set[str]) -> bool:
    """A proper name: each word capitalised and at least 2 letters, a single word not also used in lower case
    (a heading's "Project"), no month, weekday or other :data:`SIBLINGS` word."""
    parts = span.split()
    if any(len(w) < 2 or not (w[1:].islower() or w.isupper()) for w in parts if w not in ("of", "the")):
        return False
    if len(parts) == 1 and (span.lower() in lower_words or span.lower() in SIBLING_OF):
        return False
    return not any(w.lower() in SIBLING_OF for w in parts)


def capitalised_spans(text: str, with_next: bool = False) -> list:
    """Runs of capitalised words (allowing "of" and "the" inside) that do not open a sentence, with whether a
    place preposition comes right before (and, ``with_next``, whether a lower-case word follows: an adjective
    such as "American city")."""
    toks = tokens(text)
    out = []
    i = 0
    while i < len(toks):
        t = toks[i]
        opener = i == 0 or toks[i - 1] in ".!?\"" or toks[i - 1].lower() in WH
        if t[0].isupper() and t.isalpha() and not opener and t.lower() not in DETERMINERS:
            j = i + 1
            while j < len(toks) and (toks[j][0].isupper() and toks[j].isalpha() or toks[j] in ("of", "the") and j + 1 < len(toks) and toks[j + 1][0].isupper()):
                j += 1
            place = i > 0 and toks[i - 1].lower() in PLACE_PREPOSITIONS
            before_noun = j < len(toks) and toks[j][0].islower() and toks[j] not in STOP and j == i + 1 and (
                t.endswith(DEMONYM_ENDINGS))
            out.append((" ".join(toks[i:j]), place, before_noun) if with_next else (" ".join(toks[i:j]), place))
            i = j
        else:
            i += 1
    return out


ORG_WORDS = set("""university church institute company corporation party council association society museum college school
agency department army navy bank club league committee union group foundation ministry court commission organization
board academy hospital airport station library network records festival award awards prize cup championship
championships games series war treaty act empire kingdom republic state states river mountains mountain island islands
lake sea ocean park street road bridge city county province district""".split())


def name_kind(span: str, text: str) -> str:
    """A crude kind of a proper name, for swaps of the same kind: ``acronym``, ``org:WORD`` (its last word a
    kind of institution or place, "University"), ``the`` (a name used with "the"), or ``name``."""
    last = span.split()[-1]
    if span.isupper():
        return "acronym"
    if last.lower() in ORG_WORDS:
        return "org:" + last.lower()
    return "the" if re.search(r"\bthe " + re.escape(span) + r"\b", text) else "name"


def article_pools(contexts: list[str]) -> dict[str, list[str]]:
    """What an article offers to swap in: ``name`` spans, ``place`` spans (after a place preposition),
    ``year`` and ``number`` tokens."""
    pools: dict[str, set[str]] = {"name": set(), "place": set(), "year": set(), "number": set()}
    lower = {w for c in contexts for w in re.findall(r"\b[a-z][a-z\-]+\b", c)}
    spans = [s for c in contexts for s in capitalised_spans(c, with_next=True)]
    adjectives = {span for span, _, before_noun in spans if before_noun and " " not in span}  # "European" in "European city"
    for c in contexts:
        for span, place, before_noun in capitalised_spans(c, with_next=True):
            if not is_name(span, lower) or span in adjectives or sum(c.count(span) for c in contexts) < 2:
                continue
            pools.setdefault(name_kind(span, " ".join(contexts)), set()).add(span)
            if place and not before_noun:
                pools["place"].add(span)
        for t in tokens(c):
            if re.fullmatch(r"1\d{3}|20\d{2}", t):
                pools["year"].add(t)
            elif t[0].isdigit():
                pools["number"].add(t)
    pools["adjective"] = adjectives
    return {k: sorted(v) for k, v in pools.items()}


def _replace(question: str, old: str, new: str) -> str:
    return re.sub(r"(?<![A-Za-z\d])" + re.escape(old) + r"(?![A-Za-z\d])", lambda _: new, question, count=1)


def _articled(question: str) -> str:
    """``a`` / ``an`` made to agree with the word after them."""
    def agree(m: re.Match) -> str:
        want = "an" if m.group(2)[0].lower() in "aeiou" else "a"
        return _case_like(want, m.group(1)) + " " + m.group(2)

    return re.sub(r"\b([Aa]n?) ([A-Za-z])", agree, question)


Similar = Callable[[str, list[str]], list[float]]
"""How alike one name is to each name of a pool (the embedder's cosine)."""
ALIAS_SIMILARITY = 0.75
"""A swapped-in name this alike to a name of the paragraph may be another name of it ("Britain", "UK"): skipped."""


def entity_swap(question: str, paragraph: str, pools: dict[str, list[str]], rng: random.Random,
                similar: Similar | None = None) -> str | None:
    """A name (not a place after a preposition) or a number (not a year) of the question that the paragraph
    holds, swapped for one of the same kind and word count from the article that the paragraph lacks (with
    ``similar``: one of the three most like it)."""
    options = []
    for span, place, before_noun in capitalised_spans(question, with_next=True):
        if not place and not before_noun and span not in pools.get("adjective", ()) and not re.search(re.escape(span) + r"\.", question) and has_word(paragraph, span) and question.count(span) == 1 and is_name(span, set()):
            options.append((span, name_kind(span, question + " " + paragraph)))
    for t in tokens(question):
        if t[0].isdigit() and not re.fullmatch(r"1\d{3}|20\d{2}", t) and has_word(paragraph, t):
            options.append((t, "number"))
    rng.shuffle(options)
    for old, kind in options:
        size = len(old.split())
        pool = [p for p in pools.get(kind, []) if len(p.split()) == size and not has_word(paragraph, p)
                and p.lower() not in old.lower() and old.lower() not in p.lower() and not has_word(question, p)]
        if pool and similar is not None and kind != "number":
            scores = similar(old, pool)
            pool = [pool[i] for i in np.argsort(-np.array(scores), kind="stable")[:6]]
            names = [n for n, _ in capitalised_spans(paragraph)]
            pool = [p for p in pool if not names or max(similar(p, names)) < ALIAS_SIMILARITY][:3]
        if pool:
            return _articled(_replace(question, old, rng.choice(pool)))
    return None


def condition_change(question: str, paragraph: str, pools: dict[str, list[str]], rng: random.Random) -> str | None:
    """The year or the place of a condition ("in 1998", "at Oxford") changed to one the paragraph lacks."""
    toks = tokens(question)
    options = []
    for i, t in enumerate(toks[1:], start=1):
        if re.fullmatch(r"1\d{3}|20\d{2}", t) and toks[i - 1].lower() in PREPOSITIONS and has_word(paragraph, t):
            options.append((t, "year"))
    for span, place, before_noun in capitalised_spans(question, with_next=True):
        if place and not before_noun and span not in pools.get("adjective", ()) and has_word(paragraph, span) and question.count(span) == 1:
            options.append((span, "place"))
    rng.shuffle(options)
    for old, kind in options:
        if kind == "year":
            pool = [y for y in pools["year"] if not has_word(paragraph, y)]
            if not pool or rng.random() < 0.5:
                moved = [str(int(old) + d) for d in (*range(-40, -1), *range(2, 41)) if 1000 <= int(old) + d <= 2025]
                pool = [y for y in moved if not has_word(paragraph, y)]
        else:
            pool = [p for p in pools["place"] if len(p.split()) == len(old.split()) and not has_word(paragraph, p)
                    and p.lower() not in old.lower() and old.lower() not in p.lower()]
        if pool:
            return _replace(question, old, rng.choice(pool))
    return None


def _swap_word(question: str, paragraph: str, choices: dict[str, list[str]], rng: random.Random) -> str | None:
    found = list(TOKEN.finditer(question))
    slots = [m for i, m in enumerate(found) if m.group().lower() in choices
             and (m.group()[0].isupper() or m.group().lower() not in PROPER) and (i > 0 or m.group().lower() in PROPER)]
    rng.shuffle(slots)
    for m in slots:
        word = m.group()
        pool = [w for w in choices[word.lower()] if w != word.lower() and not has_word(paragraph, w)
                and not has_word(question, w)]
        if pool:
            return _articled(question[: m.start()] + _case_like(rng.choice(pool), word) + question[m.end() :])
    return None


def antonym(question: str, paragraph: str, rng: random.Random) -> str | None:
    """A word of :data:`ANTONYMS` changed to its opposite, which the paragraph does not hold."""
    return _swap_word(question, paragraph, {w: [a] for w, a in ANTONYMS.items()}, rng)


def exclusion(question: str, paragraph: str, rng: random.Random) -> str | None:
    """An item of a :data:`SIBLINGS` set changed to a sibling that the paragraph does not hold."""
    return _swap_word(question, paragraph, SIBLING_OF, rng)


def lemma(word: str, vocabulary: set[str]) -> str | None:
    """The base form of a past-tense or third-person verb, when it is irregular or found in ``vocabulary``."""
    low = word.lower()
    if low in IRREGULAR:
        return IRREGULAR[low]
    if low.endswith("ed") and len(low) > 4:
        cands = [low[:-1], low[:-2]] + ([low[:-3]] if low[-3] == low[-4] else []) + ([low[:-3] + "y"] if low.endswith("ied") else [])
    elif low.endswith("es") and len(low) > 4:
        cands = [low[:-2], low[:-1]]
    elif low.endswith("s") and not low.endswith("ss") and len(low) > 3:
        cands = [low[:-1]]
    else:
        return None
    for c in cands:
        if c in vocabulary and len(c) > 2:
            return c
    return None


def negation(question: str, vocabulary: set[str], verbs: set[str]) -> str | None:
    """Insert "not" with do-support, or remove a negation the question has.

    Args:
        question: The question.
        vocabulary: Words known as base forms (checks a lemma).
        verbs: Base-form verbs (finds the main verb after an auxiliary and its subject).
    """
    toks = tokens(question)
    low = [t.lower() for t in toks]
    for i, t in enumerate(low):
        if t in NEGATIONS:
            out = toks[:i] + ([NEGATIONS[t]] if NEGATIONS[t] else []) + toks[i + 1 :]
            return join(out)
    if len(toks) < 4 or low[0] not in WH:
        return None
    # "Who wrote X?" / "Which king founded X?" -> "Who did not write X?"
    for v in (1, 2):
        if v == 2 and low[0] not in ("which", "what"):
            break
        word = low[v]
        if word in AUX_DO or word in COPULA or word in ("has", "have", "had") or not toks[v].isalpha() or toks[v][0].isupper():
            continue
        base = lemma(word, vocabulary)
        if base and (word in IRREGULAR or word.endswith("ed")):
            return join(toks[:v] + ["did", "not", base] + toks[v + 1 :])
        if base and word.endswith("s") and base in verbs:
            return join(toks[:v] + ["does", "not", base] + toks[v + 1 :])
    # "When did the Normans conquer England?" -> "When did the Normans not conquer England?"
    aux = next((i for i, t in enumerate(low[:5]) if t in AUX_DO), None)
    if aux is not None:
        for j in range(aux + 2, len(toks) - 1):
            if low[j] in verbs and low[j - 1] not in DETERMINERS and not toks[j][0].isupper() and low[j - 1] not in PREPOSITIONS:
                return join(toks[:j] + ["not"] + toks[j:])
        return None
    # "Who was the first X?" -> "Who was not the first X?"
    if low[0] == "who" and low[1] in COPULA and low[2] in DETERMINERS:
        return join(toks[:2] + ["not"] + toks[2:])
    return None


def edit(kind: str, question: str, paragraph: str, pools: dict[str, list[str]], vocabulary: set[str],
         verbs: set[str], rng: random.Random, similar: Similar | None = None) -> str | None:
    """One edit of ``kind`` (one of :data:`KINDS`), or None when the question offers none; checked by
    :func:`grammatical`."""
    question = question.strip()
    if kind == "entity":
        out = entity_swap(question, paragraph, pools, rng, similar)
    elif kind == "antonym":
        out = antonym(question, paragraph, rng)
    elif kind == "negation":
        out = negation(question, vocabulary, verbs)
    elif kind == "exclusion":
        out = exclusion(question, paragraph, rng)
    elif kind == "condition":
        out = condition_change(question, paragraph, pools, rng)
    else:
        raise ValueError(f"unknown edit kind {kind!r}; expected one of {KINDS}")
    return out if out is not None and grammatical(out, question) else None


def changed(original: str, edited: str) -> tuple[str, str, int]:
    """The tokens an edit replaced: (old text, new text, index of the first changed token)."""
    a, b = tokens(original.strip()), tokens(edited)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i and a[len(a) - 1 - j] == b[len(b) - 1 - j]:
        j += 1
    return " ".join(a[i : len(a) - j]), " ".join(b[i : len(b) - j]), i


def sound(kind: str, original: str, edited: str, common: set[str]) -> bool:
    """Checks on an edit against its original, after the fact: an antonym only of a lower-case word ("Kanye West"
    keeps its "West"), a condition's old and new place both names (no month: "in June 2012"), a swapped-in
    name that is no common word ("Though")."""
    old, new, at = changed(original, edited)
    if kind == "antonym":
        return at == 0 or not old[:1].isupper()
    if kind == "condition" and not old[:1].isdigit():
        return is_name(old, common) and is_name(new, common)
    if kind == "entity" and not new[:1].isdigit():
        return is_name(new, common)
    return True


def verb_lexicon(texts: list[str]) -> tuple[set[str], set[str]]:
    """(vocabulary, base-form verbs) of a corpus: a verb is a word also seen with "-ed"/"-d" or irregular."""
    vocab = {w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t)}
    verbs = {w for w in vocab if len(w) > 2 and (w + "ed" in vocab or w + "d" in vocab and w.endswith("e"))}
    verbs |= set(IRREGULAR.values())
    verbs -= DETERMINERS | PREPOSITIONS | WH | {"not"}
    return vocab, verbs


# ---------------------------------------------------------------- the pipeline


def seen_questions(work: Path) -> set[tuple[str, str]]:
    """``(article, question)`` of the answerable questions the earlier rounds sampled (their ``train.jsonl``)."""
    seen: set[tuple[str, str]] = set()
    for path in sorted(work.glob("round*/train.jsonl")):
        seen |= {(e.article, e.question) for e in read_examples(path) if e.source == "answer"}
    return seen


def embedding_similar() -> Similar:
    """:data:`Similar` by the bundled embedder's cosine (names embedded once, cached)."""
    from qa.index.embedding import load_embedder

    embedder, cache = load_embedder(), {}

    def vectors(names: list[str]) -> np.ndarray:
        new = [n for n in dict.fromkeys(names) if n not in cache]
        if new:
            cache.update(zip(new, embedder.encode(new, batch_size=128)))
        return np.stack([cache[n] for n in names])

    def similar(name: str, pool: list[str]) -> list[float]:
        return [float(x) for x in vectors(pool) @ vectors([name])[0]]

    return similar


def candidates(data: list[dict], seen: set[tuple[str, str]], rng: random.Random,
               similar: Similar | None = None) -> tuple[list[dict], dict]:
    """Every edit of every kind of the unseen, unambiguous SQuAD 1.1 questions of ``data``, each with its passage."""
    vocab, verbs = verb_lexicon([p["context"] for a in data for p in a["paragraphs"]])
    out, tried = [], collections.Counter()
    for article in data:
        contexts = [p["context"] for p in article["paragraphs"]]
        pools = article_pools(contexts)
        for pi, p in enumerate(article["paragraphs"]):
            spans = passages_of(p["context"])
            for q in p["qas"]:
                a = q["answers"][0]
                if (article["title"], q["question"]) in seen or any(x.get("ambiguous") for x in q["answers"]):
                    continue
                s0, e0 = a["answer_start"], a["answer_start"] + len(a["text"])
                span = next(((s, e) for s, e in spans if s <= s0 and e0 <= e), None)
                if span is None or p["context"][s0:e0] != a["text"]:
                    continue
                passage = p["context"][span[0] : span[1]]
                tried["questions"] += 1
                for kind in KINDS:
                    new = edit(kind, q["question"], p["context"], pools, vocab, verbs, rng, similar)
                    if new is not None:
                        out.append({"kind": kind, "original": q["question"], "question": new, "article": article["title"],
                                    "paragraph": pi, "passage": passage, "answer": a["text"],
                                    "answer_start": s0 - span[0]})
                        tried[kind] += 1
    return out, dict(tried)


def retrieval_filter(data: list[dict], cands: list[dict], index_dir: Path) -> list[bool]:
    """Whether each candidate's own paragraph holds the first passage hybrid retrieval returns for it (one
    local index over the articles, one document per article, paragraphs joined by a blank line)."""
    import qa
    from qa.types import Document

    docs, starts = [], {}
    for article in data:
        contexts = [p["context"] for p in article["paragraphs"]]
        offsets = np.cumsum([0] + [len(c) + 2 for c in contexts[:-1]])
        starts[article["title"]] = offsets
        docs.append(Document(article["title"], article["title"].replace("_", " "), "\n\n".join(contexts)))
    if not (index_dir / "manifest.json").exists():
        qa.build_index(docs, str(index_dir))
    engine = qa.load(str(index_dir), reader=False)
    keep = []
    for i, c in enumerate(cands):
        top = engine.retrieve(c["question"], top_k=1)
        ok = bool(top) and top[0].doc_id == c["article"] and int(np.searchsorted(starts[c["article"]], top[0].start, "right")) - 1 == c["paragraph"]
        keep.append(ok)
        if i % 2000 == 0:
            logger.info("retrieval %d/%d, kept %d", i, len(cands), sum(keep))
    return keep


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--work", type=Path, required=True, help="train_reader's work folder (its rounds' train.jsonl: seen questions)")
    p.add_argument("--out", type=Path, required=True, help="folder to write negatives.jsonl, stats.json, handcheck.md")
    p.add_argument("--reader", type=Path, default=ROOT / "qa" / "models" / "reader", help="reader to filter against")
    p.add_argument("--seed", type=int, default=25)
    p.add_argument("--articles", type=int, default=70, help="SQuAD 1.1 articles to edit questions of")
    p.add_argument("--per-kind", type=int, default=1500, help="most edits kept per kind")
    p.add_argument("--scored-per-kind", type=int, default=1800,
                   help="most edits per kind checked by retrieval and the reader (a random sample)")
    p.add_argument("--originals", type=int, default=1200, help="answerable originals the reader scores (the AUC's positives)")
    p.add_argument("--hard-share", type=float, default=0.6, help="share of kept edits the reader scores answerable")
    p.add_argument("--hard-logit", type=float, default=0.0,
                   help="an edit is hard when the reader's answerable logit is at least this (0: it scores it answerable)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if not 0.0 <= args.hard_share <= 1.0:
        p.error(f"--hard-share {args.hard_share}: give a share between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from eval.training.train_reader import auc, run_graph

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    data = read_squad(args.data / "squad11_train.json.gz")
    seen = seen_questions(args.work)
    order = sorted(data, key=lambda a: a["title"])
    rng.shuffle(order)
    chosen = order[: args.articles]
    cand_path = args.out / "candidates.json"
    if cand_path.exists():
        cands, tried = json.loads(cand_path.read_text())
    else:
        cands, tried = candidates(chosen, seen, rng, embedding_similar())
        rng.shuffle(cands)
        per_kind = collections.Counter()
        cands = [c for c in cands if (per_kind.update([c["kind"]]) or per_kind[c["kind"]]) <= args.scored_per_kind]
        keep = retrieval_filter(chosen, cands, args.out / "index")
        tried["retrieval_kept"] = dict(collections.Counter(c["kind"] for c, k in zip(cands, keep) if k))
        cands = [c for c, k in zip(cands, keep) if k]
        cand_path.write_text(json.dumps([cands, tried]))
    common = {w for a in chosen for p in a["paragraphs"] for w in re.findall(r"\b[a-z][a-z\-]+\b", p["context"])}
    cands = [c for c in cands if sound(c["kind"], c["original"], c["question"], common)]
    tried["sound"] = dict(collections.Counter(c["kind"] for c in cands))
    logger.info("candidates %s", tried)
    negs = [Example(c["question"], c["passage"], -1, "", f"gen-{c['kind']}", c["article"]) for c in cands]
    originals = {(c["article"], c["original"]): c for c in cands}
    originals = dict(rng.sample(sorted(originals.items(), key=lambda kv: kv[0]), min(args.originals, len(originals))))
    pos = [Example(q, c["passage"], c["answer_start"], c["answer"], "answer", a) for (a, q), c in originals.items()]
    score_path = args.out / "scores.json"  # the reader's outputs, kept: a rerun with other selection settings reads nothing again
    scored = json.loads(score_path.read_text()) if score_path.exists() else {}
    if scored.get("questions") != [e.question for e in negs + pos]:
        model = args.reader / "model.onnx"
        scored = {"questions": [e.question for e in negs + pos], "neg": run_graph(model, negs, 192, args.threads),
                  "pos": run_graph(model, pos, 192, args.threads)}
        score_path.write_text(json.dumps(scored))
    neg_out, pos_out = scored["neg"], scored["pos"]
    pos_head = np.array([o["answerable"] for o in pos_out])
    threshold = args.hard_logit
    stats: dict = {"seed": args.seed, "articles": [a["title"] for a in chosen], "tried": tried,
                   "answerable_originals": len(pos), "hard_threshold_head_logit": threshold,
                   "originals_above_threshold": round(float(np.mean(pos_head >= threshold)), 4), "kinds": {}}
    kept: list[Example] = []
    records = []
    for kind in KINDS:
        idx = [i for i, c in enumerate(cands) if c["kind"] == kind]
        head = np.array([neg_out[i]["answerable"] for i in idx])
        if not idx:
            continue
        both = np.concatenate([pos_head, head])
        label = np.concatenate([np.ones(len(pos_head)), np.zeros(len(head))])
        hard = [i for i in idx if neg_out[i]["answerable"] >= threshold]
        easy = [i for i in idx if neg_out[i]["answerable"] < threshold]
        rng.shuffle(hard)
        rng.shuffle(easy)
        n_hard = min(len(hard), round(args.per_kind * args.hard_share))
        n_easy = min(len(easy), round(n_hard * (1 - args.hard_share) / max(args.hard_share, 1e-9)))
        take = hard[:n_hard] + easy[:n_easy]
        kept += [negs[i] for i in take]
        records += [{**cands[i], "head": round(neg_out[i]["answerable"], 3)} for i in take]
        stats["kinds"][kind] = {"after_retrieval": len(idx), "reader_auc_head_vs_originals": round(auc(both, label), 4),
                                "hard": len(hard), "kept": len(take), "kept_hard": n_hard}
        logger.info("%s: %s", kind, stats["kinds"][kind])
    real, real_counts = conversation_negatives(args.data / "conversations")
    stats["cannotanswer"] = {"files": real_counts, "kept": len(real),
                             "rule": "dev files: the tune half of eval.scoring.dialogue_split.is_tune(dialogue id); quac_train whole"}
    write_examples(args.out / "negatives.jsonl", kept + real)
    (args.out / "stats.json").write_text(json.dumps(stats, indent=1))
    sample = random.Random(args.seed + 1).sample(records, min(100, len(records)))
    with open(args.out / "handcheck.md", "w", encoding="utf-8") as f:
        for n, r in enumerate(sample, 1):
            f.write(f"## {n} [{r['kind']}] head {r['head']}\nORIG: {r['original']}\nEDIT: {r['question']}\n"
                    f"ANSWER: {r['answer']}\nPASSAGE: {r['passage']}\n\n")
    logger.info("wrote %d generated + %d real negatives to %s", len(kept), len(real), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
