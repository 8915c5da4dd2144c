"""The word lists of ``eval/training/make_negatives.py``'s rule edits: curated by hand (no WordNet data ships here).

:data:`ANTONYMS` pairs opposites, :data:`SIBLINGS` groups mutually exclusive items, :data:`IRREGULAR` maps
irregular past tenses to their base forms, and the rest are the function words the edits look for.
"""

from __future__ import annotations

import re

_PAIRS = """largest smallest|biggest smallest|highest lowest|longest shortest|most least|first last|
before after|earliest latest|oldest newest|older younger|increase decrease|increased decreased|increases decreases|
rise fall|rose fell|north south|east west|northern southern|eastern western|northeast southwest|northwest southeast|
maximum minimum|major minor|best worst|better worse|fastest slowest|faster slower|strongest weakest|stronger weaker|
above below|inside outside|upper lower|internal external|import export|imports exports|imported exported|
private public|male female|men women|won lost|
open closed|opened closed|accepted rejected|allowed banned|legal illegal|success failure|successful unsuccessful|
positive negative|rich poor|richest poorest|wealthiest poorest|early late|earlier later|ancient modern|
victory defeat|strengthen weaken|gained lost|higher lower|larger smaller|bigger smaller|longer shorter|
common rare|most-populous least-populous|heaviest lightest|heavier lighter|hottest coldest|warmest coldest|
warmer colder|wettest driest|deepest shallowest|widest narrowest|wider narrower|cheapest costliest|
cheaper costlier|top bottom|inner outer|entered left|joined left|arrived departed|
supported opposed|support oppose|supports opposes|agreed disagreed|approved rejected|promoted demoted|
maximum minimum|ascending descending|majority minority|frequent rare|dry wet|light heavy|hard soft|west east"""
ANTONYMS: dict[str, str] = {}
for _pair in _PAIRS.replace("\n", "").split("|"):
    _a, _b = _pair.split()
    ANTONYMS.setdefault(_a, _b)
    ANTONYMS.setdefault(_b, _a)
SIBLINGS = [s.split() for s in """january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
spring summer autumn winter
second third fourth fifth sixth seventh eighth ninth tenth
gold silver bronze
father mother brother sister son daughter uncle aunt grandfather grandmother
husband wife
king queen prince princess emperor empress
boys girls
morning afternoon evening
catholic protestant orthodox
army navy
infantry cavalry artillery
english french german spanish italian latin greek russian chinese japanese arabic portuguese dutch
red blue green yellow black white
europe asia africa australia antarctica
christian muslim jewish hindu buddhist
christians muslims jews hindus buddhists
piano violin guitar drums
football baseball basketball hockey cricket tennis rugby
senate house
democrats republicans
undergraduate graduate
freshman sophomore junior senior""".splitlines()]
"""Sets of mutually exclusive items (each word a sibling of the others in its set)."""
SIBLING_OF = {w: s for s in SIBLINGS for w in s}
PROPER = {w for s in SIBLINGS if s[0] in ("january", "monday", "english", "europe", "christian", "christians", "catholic",
                                         "senate", "democrats") for w in s}
"""Siblings that are proper nouns: swapped only where capitalised ("March", not the verb "march")."""
IRREGULAR = dict(p.split(":") for p in """wrote:write began:begin became:become made:make took:take gave:give led:lead
won:win built:build found:find held:hold sold:sell brought:bring bought:buy ran:run saw:see said:say told:tell
went:go came:come got:get knew:know thought:think left:leave lost:lose met:meet paid:pay sent:send spent:spend
stood:stand taught:teach wore:wear fought:fight drew:draw grew:grow threw:throw flew:fly fell:fall rose:rise
chose:choose spoke:speak broke:break drove:drive ate:eat forgot:forget froze:freeze hid:hide kept:keep
meant:mean shot:shoot sang:sing struck:strike swore:swear understood:understand woke:wake sought:seek
overthrew:overthrow withdrew:withdraw undertook:undertake overcame:overcome wrote:write bore:bear beat:beat
dealt:deal fed:feed felt:feel heard:hear laid:lay lent:lend rode:ride sat:sit shook:shake slept:sleep
stole:steal stuck:stick swam:swim tore:tear won:win ruled:rule""".split())
WH = {"who", "what", "which", "when", "where", "why", "how", "whom", "whose"}
AUX_DO = {"did", "does", "do", "can", "could", "will", "would", "should", "may", "might", "must"}
COPULA = {"is", "was", "are", "were"}
DETERMINERS = {"the", "a", "an", "his", "her", "its", "their", "this", "that", "these", "those", "our", "my", "your",
               "some", "any", "each", "every", "no", "another", "such"}
PREPOSITIONS = {"in", "at", "from", "to", "near", "during", "by", "since", "until", "of", "before", "after", "into"}
PLACE_PREPOSITIONS = {"in", "at", "from", "near", "into"}
PRONOUNS = re.compile(r"\b(he|she|it|they|him|her|his|hers|its|their|theirs|them|this|that|these|those|there|here|"
                      r"else|also|another|other|then|too|again|same|former|latter|one)\b", re.IGNORECASE)
NEGATIONS = {"not": "", "never": "", "didn't": "did", "doesn't": "does", "don't": "do", "wasn't": "was",
             "weren't": "were", "isn't": "is", "aren't": "are", "can't": "can", "couldn't": "could", "won't": "will",
             "wouldn't": "would", "hasn't": "has", "haven't": "have", "hadn't": "had"}
