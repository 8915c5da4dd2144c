"""Collect what the answer decision is fitted and judged on: per question, every candidate the engine could give.

For each question of an evaluation set, through the engine's own retrieval and
models (as :meth:`qa.QA.ask` runs them):

* ``plain``: what ``reader=False`` answers (its first citation right, abstained);
* per reading depth (:data:`DEPTHS`): the answer options of :func:`qa.answering.decision.options`
  with their features, their evidence features (:mod:`qa.answering.evidence`) and whether each is right,
  and :func:`qa.answering.decision.question_stats`.

Reading a passage does not depend on the others read with it, so every depth
is simulated from one read of the top ``top_k``, with the engine's own feature code.  The rows are plain
JSON, so that ``eval/calibration/calibrate_reader.py`` can refit without reading again.
"""

from __future__ import annotations

from typing import Any

import qa
import qa.engine
from eval.scoring import metrics, qasets
from qa.answering.sentences import confidence_of, make_query, score_sentences, select
from qa.answering.decision import backs_a_span, evidence_for, hits_to_read, options, question_stats, site, verified
from qa.answering.reading import verifier_for
from qa.answering.reading import read_passages


def sentence_right(item: qasets.EvalItem, bot: qa.QA, sentence: int, text_judge: bool) -> bool:
    """Whether the sentence answers the answerable item (covers a gold span; on the article: holds an accepted answer)."""
    if not item.answerable or sentence < 0:
        return False
    s = bot.store.sentences[sentence]
    if text_judge:
        return metrics.contains_answer(bot.document(s.doc_id).text[s.start : s.end], item.answers)
    return any(g[0] == s.doc_id and metrics.span_covers((s.start, s.end), (g[1], g[2])) for g in item.gold_spans)


DEPTHS = (1, 2, 3, 4)
"""Reading depths simulated for each question."""


def collect_item(bot: qa.QA, item: qasets.EvalItem, text_judge: bool, top_k: int = 5) -> dict[str, Any]:
    """One question's row (see the module docstring); ``bot`` must have a reader."""
    assert bot.reader is not None
    text = qa.engine.clean_question(item.question)
    query = make_query(bot.store, text, bot.embedder.encode)
    hits = bot.store.search(query.vector, query.tokens, top_k, "hybrid")
    scored = score_sentences(bot.store, hits, query, bot.params)
    best = scored[0] if scored else None
    plain_conf = confidence_of(best, bot.params)
    chosen = select(scored, bot.params) if best is not None else []
    plain_first = chosen[0].sentence if chosen else -1
    reads = read_passages(bot.store, bot.reader, text, hits, best.sentence if best else -1)
    verify = verifier_for(bot.reader, bot.store, text)
    by_passage = {r.passage: r for r in reads}
    found = evidence_for(bot.store, text, scored)
    per_depth = {}
    for depth in DEPTHS:
        subset = [by_passage[h.passage] for h in hits_to_read(hits, scored, depth)]
        opts = verified(options(scored, subset), verify)
        per_depth[str(depth)] = {
            "options": [o.features() for o in opts],
            "evidence": [found(o.sentence, where[1], where[0]) for o in opts for where in [site(o, scored, subset)]],
            "right": [sentence_right(item, bot, o.sentence, text_judge) for o in opts],
            "reader_best": [o.reader_best for o in opts],
            "stats": question_stats(scored, subset),
            "backed": backs_a_span(subset),
        }
    return {
        "id": item.id,
        "answerable": item.answerable,
        "plain": {
            "right": plain_conf >= bot.params.threshold and sentence_right(item, bot, plain_first, text_judge),
            "abstained": plain_conf < bot.params.threshold,
        },
        "depths": per_depth,
    }


def collect(bot: qa.QA, evalset: qasets.EvalSet, text_judge: bool, top_k: int = 5) -> list[dict[str, Any]]:
    """Rows for every question of ``evalset``."""
    return [collect_item(bot, item, text_judge, top_k) for item in evalset.items]
