"""Benchmarks: answer latency, build throughput, cold starts, index scale and memory, the HTTP API, ingest, Milvus.

Imports no other room of ``eval/`` (:mod:`eval.choices` borrows its SQuAD helpers from :mod:`eval.bench.common`).
The speed goals live in :mod:`eval.bench.run`, never in timed tests.  Run from the repository root::

    make bench ARGS="--quick"                      # = python -m eval.bench.run --quick (what CI runs)
    python -m eval.bench.http_api --requests 400   # the HTTP section alone
    python -m eval.bench.milvus                    # Milvus against the local index (needs ../shared/data)

docs/performance.md has the figures and the commands that measured them.
"""
