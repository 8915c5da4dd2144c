"""Write documents into a Milvus index (Lite or a server): the build's last step, per document, safe to spread over workers.

The build has the local build's shape: ingest, chunk (:func:`qa.index.local.build.plan_documents`),
embed (sentences, pooled passages, new corpus words), then write.  Only the write
knows the backend.  Each document is written under a version (a hash of its text,
metadata, chunking and model):

1. its sentences, passages, text and metadata rows are upserted under the new version;
2. its ``head`` row is upserted naming that version: from then on readers see it;
3. the rows of its older versions are deleted.

So a failed write leaves every document at its previous or its new version, never a
mix; an unchanged document (same version) is not embedded or written again; and
workers writing different documents of the same collection (``qa index --shard I/N``)
never touch each other's rows.  Every write ends by giving the manifest row a new
``generation``, which loaded engines watch to reload.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.versions import QA_VERSION
from qa.index.local.build import corpus_words, embed_plan, plan_documents
from qa.files import file_sha256
from qa.documents.ocr import OcrRun
from qa.documents.ingest import IngestReport, Skipped, iter_files, load_documents, read_file
from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP
from qa.index.embedding import Embedder
from qa.errors import IndexNotFoundError, ModelMismatchError, QAError
from qa.documents.lexical import tokenize
from qa.index.location import Location
from qa.index.local.folder import refuse_losing
from qa.index.local.manifest import chunking_settings, source_info
from qa.index.milvus.client import Connection, quote
from qa.index.milvus.store import (
    BODY_CHARS,
    KEY_CHARS,
    MANIFEST_KEY,
    MAX_VARCHAR,
    MILVUS_FORMAT,
    PLACEHOLDER_DIM,
    read_manifest_row,
)
from qa.types import Document

logger = logging.getLogger(__name__)

DENSE_INDEXES = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "IVF_SQ8": {"nlist": 1024},
    "FLAT": {},
}
"""Dense index types a build may ask for, with their build parameters (all in Milvus Lite and on a server)."""
SEARCH_PARAMS = {"HNSW": {}, "IVF_SQ8": {"nprobe": 32}, "FLAT": {}}
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
"""The local index's BM25 parameters (bm25s' defaults)."""
WRITE_BATCH = 500
"""Rows per upsert call."""
DELETE_BATCH = 100
"""Documents per delete filter."""
DOCUMENT_BATCH = 200
"""Documents embedded and written at a time (each batch is visible once written)."""
CREATE_ATTEMPTS = 25
"""Tries at creating (or finding made by another worker) a collection, 0.2 s apart."""


@dataclass(frozen=True)
class MilvusWrite:
    """What a write into Milvus did.

    Attributes:
        documents: Documents in the index afterwards.
        passages: Passages in the index afterwards.
        written: Ids of the documents written (new or changed).
        unchanged: Ids of the documents already stored at the same version.
        removed: Ids of the documents removed.
        embedded_passages: Passages embedded by this write.
        round_trips: Calls made to Milvus.
    """

    documents: int
    passages: int
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    embedded_passages: int
    round_trips: int


def parse_shard(text: str | tuple[int, int]) -> tuple[int, int]:
    """Parse a shard ``"I/N"`` (1 <= I <= N): this worker takes files I, I+N, I+2N, ... of the list.

    Raises:
        ValueError: Not two whole numbers with 1 <= I <= N.
    """
    parts = text if isinstance(text, tuple) else tuple(str(text).split("/"))
    try:
        index, count = (int(p) for p in parts)
    except (TypeError, ValueError):
        index = count = 0
    if len(parts) != 2 or not 1 <= index <= count:
        raise ValueError(f"shard must be I/N with 1 <= I <= N, e.g. 1/4 (worker 1 of 4). Currently, shard is {text!r}.")
    return index, count


def read_shard(
    inputs: Sequence[str | Path | Document], shard: tuple[int, int], ocr: OcrRun | None = None
) -> tuple[IngestReport, list[int]]:
    """Read this worker's share of the inputs: the files (and documents) at positions I-1, I-1+N, ... of the full list.

    Every worker lists the same inputs in the same order (:func:`qa.documents.ingest.iter_files`), so the
    shares are disjoint and cover the list, and each document's place in the index is its
    position in the full list: the index is ordered as one build would order it.

    Args:
        inputs: Files, folders and documents: the same list for every worker.
        shard: ``(I, N)``: this worker is the I-th of N.
        ocr: The OCR run of the build (cache, time budget) for scanned pages; None: a run per file, without a cache.

    Returns:
        The documents read (and skipped) and each document's position in the full list.

    Raises:
        IngestError: A path does not exist, or two documents of the share have the same ``doc_id``.
    """
    index, count = parse_shard(shard)
    entries: list[Document | tuple[Path, str]] = []
    skipped: list[Skipped] = []
    for item in inputs:
        if isinstance(item, Document):
            entries.append(item)
        else:
            entries.extend(iter_files([item], skipped))
    mine: list[Document] = []
    positions: dict[str, int] = {}
    for position in range(index - 1, len(entries), count):
        entry = entries[position]
        if isinstance(entry, Document):
            doc = entry
        else:
            try:
                doc = read_file(*entry, ocr=ocr)
            except (QAError, OSError) as exc:
                logger.warning("skipping %s: %s", entry[0], exc)
                skipped.append(Skipped(str(entry[0]), str(exc)))
                continue
        mine.append(doc)
        positions[doc.doc_id] = position
    report = load_documents(mine)
    report.skipped[:0] = skipped
    return report, [positions[d.doc_id] for d in report.documents]


def check_dense_index(dense_index: str) -> str:
    """Return ``dense_index`` if a build can use it.

    Raises:
        ValueError: Not one of :data:`DENSE_INDEXES`.
    """
    if dense_index not in DENSE_INDEXES:
        raise ValueError(f"dense_index must be one of {', '.join(DENSE_INDEXES)}. Currently, dense_index is {dense_index!r}.")
    return dense_index


def ensure_index(conn: Connection, embedder: Embedder, chunking: dict, dense_index: str = "HNSW") -> dict:
    """The index's manifest row, creating the collections and the row when there is no index yet.

    Raises:
        ModelMismatchError: The collection holds an index built with another model or dimension.
    """
    try:
        manifest = read_manifest_row(conn)
    except IndexNotFoundError:
        _create(conn, int(embedder.dimension), dense_index)
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        manifest = {
            "format_version": MILVUS_FORMAT,
            "qa_version": QA_VERSION,
            "built_at": now,
            "generation": uuid.uuid4().hex,
            "model": {"name": embedder.name, "dimension": int(embedder.dimension), "normalized": True},
            "chunking": chunking,
            "index": {
                "type": f"milvus-{dense_index.lower()}",
                "dense": dense_index,
                "params": DENSE_INDEXES[dense_index],
                "search_params": SEARCH_PARAMS[dense_index],
                "sparse": "BM25 over qa's stemmed terms (standard analyzer)",
                "fusion": "RRF k=60",
            },
        }
        try:  # another worker may have created it meanwhile: keep the first one's
            return read_manifest_row(conn)
        except QAError:
            _upsert(conn, "documents", [_row(MANIFEST_KEY, "", "manifest", "", 0, json.dumps(manifest))])
            return manifest
    model = manifest["model"]
    if model["name"] != embedder.name or int(model["dimension"]) != int(embedder.dimension):
        raise ModelMismatchError(
            f"index {str(conn.where)!r} was built with model {model['name']!r} ({model['dimension']} dimensions), not "
            f"{embedder.name!r}; build with that model, or into another collection (--index {conn.where.uri}#NEW)"
        )
    return manifest


def _create(conn: Connection, dimension: int, dense_index: str) -> None:
    """Create the four collections (Strong consistency: a write is seen by the next question)."""
    from pymilvus import DataType, Function, FunctionType

    client = conn.client

    def base(vector_dim: int, records: Sequence[str] = ()) -> object:
        schema = client.create_schema(auto_id=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=KEY_CHARS + 80)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=KEY_CHARS)
        schema.add_field("version", DataType.VARCHAR, max_length=64)
        for name in records:
            schema.add_field(name, DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vector_dim)
        return schema

    def flat() -> object:
        params = client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type="IP")
        return params

    names = conn.names
    documents = base(PLACEHOLDER_DIM, ("chunk",))
    documents.add_field("kind", DataType.VARCHAR, max_length=16)
    documents.add_field("body", DataType.VARCHAR, max_length=MAX_VARCHAR)
    passages = base(dimension, ("seq", "start", "end", "first_sentence", "last_sentence"))
    passages.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params={"type": "standard"})
    passages.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    passages.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]))
    passage_index = client.prepare_index_params()
    passage_index.add_index("vector", index_type=dense_index, metric_type="IP", params=DENSE_INDEXES[dense_index])
    passage_index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
    sentences = base(dimension, ("seq", "start", "end"))
    words = client.create_schema(auto_id=False)
    words.add_field("word", DataType.VARCHAR, is_primary=True, max_length=256)
    words.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    plan = [
        (names["documents"], documents, flat()),
        (names["passages"], passages, passage_index),
        (names["sentences"], sentences, flat()),
        (names["words"], words, flat()),
    ]
    for name, schema, index in plan:
        _make(conn, name, schema, index)
    logger.info("created the collections of index %s (%d dimensions, %s)", conn.where, dimension, dense_index)


def _make(conn: Connection, name: str, schema: object, index: object) -> None:
    """Create one collection with its index and load it; safe when other workers do the same at once.

    The index is made without pymilvus' wait (it polls every 0.5 s, and the collection is
    empty).  A worker that finds the collection half made by another (no index yet, not
    loadable yet) tries again a moment later.
    """
    for attempt in range(CREATE_ATTEMPTS):
        try:
            if not conn.call("has_collection", name):
                conn.call("create_collection", name, schema=schema, consistency_level="Strong")
            if not conn.call("list_indexes", name):
                conn.call("create_index", name, index, sync=False)
            conn.call("load_collection", name)
            return
        except QAError:
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.2)


def _row(pk: str, doc_id: str, kind: str, version: str, chunk: int, body: str) -> dict:
    return {"pk": pk, "doc_id": doc_id, "kind": kind, "version": version, "chunk": chunk, "body": body, "vector": [0.0] * PLACEHOLDER_DIM}


def _upsert(conn: Connection, part: str, rows: list[dict]) -> None:
    for i in range(0, len(rows), WRITE_BATCH):
        conn.call("upsert", conn.names[part], rows[i : i + WRITE_BATCH])


def _chunks(text: str) -> list[str]:
    return [text[i : i + BODY_CHARS] for i in range(0, len(text), BODY_CHARS)] or [""]


def _cut_bytes(text: str, limit: int = MAX_VARCHAR) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore").rsplit(" ", 1)[0]


def _entry(file: dict | None) -> dict | None:
    return None if file is None else {k: file[k] for k in ("name", "bytes", "sha256")}


def read_kept_file(conn: Connection, doc_id: str, version: str, chunks: int) -> bytes:
    """The bytes of a document's kept file."""
    rows = conn.call("query", conn.names["documents"], filter=f'doc_id == {quote(doc_id)} and version == {quote(version)} and kind == "file"', output_fields=["chunk", "body"])
    pieces = {int(r["chunk"]): r["body"] for r in rows}  # type: ignore[union-attr]
    return base64.b64decode("".join(pieces[k] for k in range(chunks)))


def document_version(doc: Document, chunking: dict, model: str, file: dict | None = None) -> str:
    """The version of a document as stored: changes with its text, title, source, pages, kept file, the chunking or the model."""
    parts = [doc.sha256, doc.title, doc.source, list(doc.page_starts), chunking, model, file]
    if doc.layout:  # a document indexed before qa kept its page layout is written again, with it
        parts.append(hashlib.sha256(doc.layout.encode("ascii", "replace")).hexdigest())
    key = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def added_ids(conn: Connection, heads: dict[str, dict]) -> set[str]:
    """The committed documents that were added with a kept file (``qa add``, uploads)."""
    rows = conn.rows(conn.names["documents"], ["doc_id", "version"], 'kind == "file" and chunk == 0')
    return {row["doc_id"] for row in rows if heads.get(row["doc_id"], {}).get("version") == row["version"]}


def lost_documents(conn: Connection, heads: dict[str, dict], documents: Sequence[Document], kept: set[str], prune: bool) -> list[str]:
    """The added documents a write would remove (``prune``) or overwrite with a document without its kept file."""
    added = added_ids(conn, heads) - kept
    return sorted(added if prune else added & {d.doc_id for d in documents})


def read_heads(conn: Connection) -> dict[str, dict]:
    """The head row of every committed document: version, order and counts."""
    return {row["doc_id"]: json.loads(row["body"]) for row in conn.rows(conn.names["documents"], ["doc_id", "body"], 'kind == "head"')}


def write_documents(
    documents: Sequence[Document],
    where: Location,
    embedder: Embedder,
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
    *,
    orders: Sequence[int] | None = None,
    prune: bool = True,
    kept: dict[str, Path] | None = None,
    dense_index: str = "HNSW",
    batch_size: int = 64,
    replace: bool = False,
) -> MilvusWrite:
    """Chunk, embed and write documents into a Milvus index (see the module's docstring).

    Args:
        documents: Documents with unique ``doc_id``.
        where: A Milvus location.
        embedder: The model (the index's own when it exists; another raises).
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.
        orders: Place of each document in the index (default: the order given; after the documents
            already there when ``prune`` is False).
        prune: Remove the documents of the index that are not in ``documents`` (a full build);
            False only adds or replaces (a shard of a build, or :func:`qa.add_documents`).
        kept: Files to keep with added documents (in the documents collection, ``kind == "file"``),
            by doc_id; the file's name is the doc_id.
        dense_index: Dense index type of a new index (``HNSW``, ``IVF_SQ8`` or ``FLAT``).
        batch_size: Texts per encoder batch.
        replace: Remove (or overwrite) documents added with a kept file that are not ``kept`` here; without it such
            a write is refused.

    Returns:
        What was written, left unchanged and removed.

    Raises:
        ReplaceRefusedError: The write would remove added documents, without ``replace``.
        QAError: No documents, or no text to index.
        ModelMismatchError: The index was built with another model.
        IndexUnavailableError: Milvus cannot be reached.
    """
    if not documents:
        raise QAError("no documents to index: pass files, folders or Document objects with text")
    check_dense_index(dense_index)
    files = {d: {"name": d, "bytes": Path(p).stat().st_size, "sha256": file_sha256(Path(p)), "path": str(p)} for d, p in (kept or {}).items()}
    chunking = chunking_settings(max_words, overlap)
    conn = Connection(where, create=True)
    try:
        ensure_index(conn, embedder, chunking, dense_index)
        heads = read_heads(conn)
        refuse_losing(str(where), lost_documents(conn, heads, documents, set(files), prune), replace)
        next_order = 0 if prune else max((int(h.get("order", 0)) for h in heads.values()), default=-1) + 1
        if orders is None:
            orders = [next_order + i for i in range(len(documents))]
        versions = [document_version(d, chunking, embedder.name, _entry(files.get(d.doc_id))) for d in documents]
        changed = [i for i, d in enumerate(documents) if heads.get(d.doc_id, {}).get("version") != versions[i]]
        unchanged = tuple(documents[i].doc_id for i in range(len(documents)) if i not in set(changed))
        embedded = 0
        known = {row["word"] for row in conn.rows(conn.names["words"], ["word"])} if changed else set()
        for first in range(0, len(changed), DOCUMENT_BATCH):  # bounded memory; each batch is committed when written
            part = changed[first : first + DOCUMENT_BATCH]
            embedded += _write_changed(
                conn, [documents[i] for i in part], [versions[i] for i in part], [orders[i] for i in part], files,
                embedder, max_words, overlap, batch_size, heads, known,
            )
        removed: tuple[str, ...] = ()
        if prune:
            wanted = {d.doc_id for d in documents}
            removed = tuple(d for d in heads if d not in wanted)
            delete_documents(conn, removed)
        total = read_heads(conn)
        bump_generation(conn)
        return MilvusWrite(
            documents=len(total),
            passages=sum(int(h.get("passages", 0)) for h in total.values()),
            written=tuple(documents[i].doc_id for i in changed),
            unchanged=unchanged,
            removed=removed,
            embedded_passages=embedded,
            round_trips=conn.round_trips,
        )
    finally:
        conn.close()


def _write_changed(
    conn: Connection,
    documents: list[Document],
    versions: list[str],
    orders: list[int],
    files: dict[str, dict],
    embedder: Embedder,
    max_words: int,
    overlap: int,
    batch_size: int,
    heads: dict[str, dict],
    known: set[str],
) -> int:
    """Embed and write new or changed documents, commit their heads, delete their old versions; the passages embedded.

    ``known`` (the words the index has vectors for) is updated with the words written.
    """
    plan = plan_documents(documents, max_words, overlap)
    if not plan.passages:
        raise QAError("the documents contain no sentences to index")
    by_id = {d.doc_id: d for d in documents}
    sentence_texts = [by_id[s.doc_id].text[s.start : s.end] for s in plan.sentences]
    passage_vectors, sentence_vectors = embed_plan(plan, sentence_texts, embedder, batch_size)
    sentence_vectors = sentence_vectors.astype(np.float16).astype(np.float32)  # as a local index stores them
    _write_words(conn, corpus_words(sentence_texts), embedder, known)
    sentence_rows, passage_rows, doc_rows, head_rows = [], [], [], []
    s_base = p_base = 0
    for doc, version, order in zip(documents, versions, orders):
        d = doc.doc_id
        s_count = sum(1 for _ in _run(plan.sentences, s_base, d))
        p_count = sum(1 for _ in _run(plan.passages, p_base, d))
        for j in range(s_count):
            s = plan.sentences[s_base + j]
            sentence_rows.append({"pk": f"{d}|{version}|s{j}", "doc_id": d, "version": version, "seq": j, "start": s.start, "end": s.end, "vector": sentence_vectors[s_base + j].tolist()})
        stems: dict[str, int] = {}
        for j in range(p_count):
            p = plan.passages[p_base + j]
            tokens = tokenize(doc.text[p.start : p.end])
            for t in set(tokens):
                stems[t] = stems.get(t, 0) + 1
            passage_rows.append({
                "pk": f"{d}|{version}|p{j}", "doc_id": d, "version": version, "seq": j, "start": p.start, "end": p.end,
                "first_sentence": p.first_sentence - s_base, "last_sentence": p.last_sentence - s_base,
                "terms": _cut_bytes(" ".join(tokens)), "vector": passage_vectors[p_base + j].tolist(),
            })
        file = files.get(d)
        if file is not None:
            encoded = base64.b64encode(Path(file["path"]).read_bytes()).decode("ascii")
            pieces = [encoded[k : k + 4 * BODY_CHARS] for k in range(0, len(encoded), 4 * BODY_CHARS)] or [""]
            doc_rows.extend(_row(f"{d}|{version}|f{k}", d, "file", version, k, body) for k, body in enumerate(pieces))
            file = {**_entry(file), "chunks": len(pieces)}
        meta = {
            "title": doc.title, "source": doc.source, "page_starts": list(doc.page_starts), "info": source_info(doc, file is not None),
            "passages": p_count, "sentences": s_count, "stems": stems, "file": file,
        }
        if doc.layout:
            meta["layout"] = doc.layout
        texts, metas = _chunks(doc.text), _chunks(json.dumps(meta, ensure_ascii=False))
        doc_rows.extend(_row(f"{d}|{version}|t{k}", d, "text", version, k, body) for k, body in enumerate(texts))
        doc_rows.extend(_row(f"{d}|{version}|m{k}", d, "meta", version, k, body) for k, body in enumerate(metas))
        head = {"version": version, "order": order, "text_chunks": len(texts), "meta_chunks": len(metas), "passages": p_count, "sentences": s_count}
        head_rows.append(_row(f"{d}|head", d, "head", version, 0, json.dumps(head)))
        s_base += s_count
        p_base += p_count
    _upsert(conn, "sentences", sentence_rows)
    _upsert(conn, "passages", passage_rows)
    _upsert(conn, "documents", doc_rows)
    _upsert(conn, "documents", head_rows)  # the commit point of each document
    old = [(d.doc_id, v) for d, v in zip(documents, versions) if d.doc_id in heads]
    for i in range(0, len(old), DELETE_BATCH):
        expr = " or ".join(f"(doc_id == {quote(d)} and version != {quote(v)})" for d, v in old[i : i + DELETE_BATCH])
        for part in ("documents", "passages", "sentences"):
            conn.call("delete", conn.names[part], filter=expr)  # a head row carries its new version
    logger.info("wrote %d document(s), %d passages into %s", len(documents), len(plan.passages), conn.where)
    return len(plan.new_passages)


def _run(records: Sequence[object], start: int, doc_id: str) -> object:
    """The records of ``doc_id`` from ``start`` on (a document's records are consecutive)."""
    for i in range(start, len(records)):
        if records[i].doc_id != doc_id:  # type: ignore[attr-defined]
            return
        yield records[i]


def _write_words(conn: Connection, words: list[str], embedder: Embedder, known: set[str]) -> None:
    """Store vectors of the corpus words the index has none for yet (``known``, updated)."""
    missing = [w for w in words if w not in known]
    if missing:
        vectors = np.asarray(embedder.encode(missing, batch_size=256, show_progress=len(missing) >= 2048), dtype=np.float16).astype(np.float32)
        _upsert(conn, "words", [{"word": w, "vector": v.tolist()} for w, v in zip(missing, vectors)])
        known.update(missing)


def delete_documents(conn: Connection, doc_ids: Sequence[str]) -> None:
    """Remove documents: their heads first (readers stop seeing them), then their rows."""
    for i in range(0, len(doc_ids), DELETE_BATCH):
        batch = ", ".join(quote(d) for d in doc_ids[i : i + DELETE_BATCH])
        conn.call("delete", conn.names["documents"], filter=f'kind == "head" and doc_id in [{batch}]')
        for part in ("documents", "passages", "sentences"):
            conn.call("delete", conn.names[part], filter=f"doc_id in [{batch}]")


def bump_generation(conn: Connection) -> None:
    """Give the manifest row a new generation: loaded engines reload."""
    manifest = read_manifest_row(conn)
    manifest["generation"] = uuid.uuid4().hex
    manifest["updated_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    _upsert(conn, "documents", [_row(MANIFEST_KEY, "", "manifest", "", 0, json.dumps(manifest))])
