"""Evaluation, benchmarks and training for ``qa`` (not part of the installed package), in rooms by job.

- :mod:`eval.scoring`: how good the answers are (``make eval``); the sets, the metrics, the report, conversations.
- :mod:`eval.bench`: how fast (``make bench``); latency, throughput, scale, memory, the HTTP API, ingest, Milvus.
- :mod:`eval.training`: training the shipped reader and the answer verifier, and the negatives they learn from.
- :mod:`eval.calibration`: fitting the sentence model, the answer decision and their thresholds on the tune splits.
- :mod:`eval.choices`: the measurements that chose a dependency (the OCR engine, the PDF text extractor).
- ``eval/data/`` and ``eval/qa_article.jsonl``: the evaluation data (no code).

Imports point one way (``tests/test_structure.py`` checks it): ``scoring`` and ``bench`` import no other room;
``training`` may import ``scoring``; ``calibration`` may import ``scoring`` and ``training``; ``choices`` may
import ``bench``.  A helper two rooms need lives in the lower one.

Every script is run as a module from the repository root, ``python -m eval.<room>.<module> --help``
(``make eval`` = ``python -m eval.scoring.run``, ``make bench`` = ``python -m eval.bench.run``).  Why modules
and not thin entry scripts: ``-m`` puts the repository root on ``sys.path``, so ``eval.*``, ``qa`` and
``tests.sample_documents`` import the same way in a script, in the tests and in ``make``; the module named on
the command line is the one whose docstring says what it does, with nothing in between to keep in step.
"""
