"""An index in Milvus (Lite, embedded; or a server or cluster): the layout, loading, and hybrid search.

Everything a question needs lives in four collections named after the location's
collection ``C`` (default ``qa``), so an app server needs nothing on disk but the models:

``C_documents``   one row per chunk of text: each document's ``head`` (the commit point: its
                  version, order and chunk counts), its ``text`` (split in chunks of
                  ``BODY_CHARS`` characters to fit a VARCHAR), its ``meta`` (title, source, pages,
                  manifest entry, the document frequency of its terms), and the index's
                  ``manifest`` row (model, dimension, chunking, qa version, generation).
``C_passages``    passage records (document offsets, first/last sentence), the passage's
                  stemmed terms (``terms``, Milvus' BM25 function makes ``sparse`` of them),
                  and its dense ``vector``.
``C_sentences``   sentence records and vectors (answers score the sentences of the hits).
``C_words``       corpus words and their vectors (soft term matching).

Rows carry their document's ``version``; a document is written under a new version
and becomes visible when its head row names it (rows of other versions are ignored
and deleted afterwards), so a failed write never leaves a document half-changed.

Loading reads the manifest, documents and records into memory (as a local index does)
and checks them as :func:`qa.index.local.store.load_store` does, with the same errors.  A question
costs two round trips: one ``hybrid_search`` (dense + BM25, reciprocal rank fusion
inside Milvus) and one ``get`` of the vectors of the hits' sentences.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.errors import CorruptIndexError, IndexNotFoundError, IndexVersionError, ModelMismatchError, QAError
from qa.index.location import Location, parse_location
from qa.index.milvus.client import Connection, shared_connection
from qa.index.records import PassageRecord, RecordTable
from qa.index.store import DENSE_WEIGHT, Hit
from qa.types import Document, Sentence

logger = logging.getLogger(__name__)

MILVUS_FORMAT = 1
"""Version of the collections' layout written by this qa."""
BODY_CHARS = 16_000
"""Characters per chunk of a document's text or metadata (at most 64,000 UTF-8 bytes, under the VARCHAR limit of 65,535)."""
MAX_VARCHAR = 65_535
KEY_CHARS = 2_048
"""Longest primary key or doc_id stored."""
PLACEHOLDER_DIM = 2
"""Milvus needs a vector field in every collection; the documents collection has this small unused one."""
RRF_K = 60
"""Rank offset of Milvus' RRFRanker (the same as the local engine's fusion)."""
BM25_REQUESTS = 2
"""BM25 requests in a hybrid search.  Milvus' RRFRanker has no weights; the local fusion
weighs the dense ranking 0.5 and BM25's 1 (:data:`qa.index.local.search.DENSE_WEIGHT`).  Sending the
BM25 request twice gives every passage ``1/(k + dense rank) + 2/(k + BM25 rank)``, exactly
twice the local score: the same ranking, in the same single call."""
LOAD_RETRIES = 3
"""Times a load is retried when a concurrent write made what it read inconsistent."""
MANIFEST_KEY = "|manifest"


def read_body(chunks: dict[int, str], count: int, what: str) -> str:
    """The text of ``count`` chunks numbered 0..count-1.

    Raises:
        CorruptIndexError: A chunk is missing.
    """
    if sorted(chunks) != list(range(count)):
        raise CorruptIndexError(f"{what} is incomplete ({len(chunks)} of {count} chunks)")
    return "".join(chunks[i] for i in range(count))


def read_manifest_row(conn: Connection) -> dict:
    """The index's manifest row.

    Raises:
        IndexNotFoundError: No qa index in the collection.
        CorruptIndexError: The manifest cannot be read.
        IndexVersionError: Written by a newer qa.
    """
    where = conn.where
    if not conn.exists():
        raise IndexNotFoundError(
            f"no qa index in collection {where.collection!r} of {where.uri!r}; build one with "
            f"`qa index DOCS --index {where}` (or qa.build_index(DOCS, {str(where)!r}))"
        )
    rows = conn.fetch("documents", [MANIFEST_KEY], ["body"])
    if not rows:
        raise IndexNotFoundError(
            f"collection {where.collection!r} of {where.uri!r} has no qa manifest (yet): a build may be creating it; "
            f"wait for it, or build one with `qa index DOCS --index {where}`"
        )
    try:
        manifest = json.loads(rows[0]["body"])  # type: ignore[index]
        version = manifest["format_version"]
        manifest["model"]["name"], manifest["model"]["dimension"]  # noqa: B018 - must be present
    except (IndexError, KeyError, TypeError, ValueError):
        raise CorruptIndexError(
            f"the manifest of index {str(where)!r} is missing or unreadable; rebuild it with `qa index DOCS --index {where}`"
        ) from None
    if not isinstance(version, int) or version > MILVUS_FORMAT:
        raise IndexVersionError(
            f"index {str(where)!r} has Milvus layout version {version!r}, newer than this qa reads ({MILVUS_FORMAT}); upgrade qa"
        )
    return manifest


def check_model(manifest: dict, model: str | None, where: Location) -> None:
    """Refuse to query an index with another model than its own.

    Raises:
        ModelMismatchError: ``model`` is not the index's model.
    """
    from qa.index.embedding import canonical_model_name

    built_with = manifest["model"]["name"]
    if model is not None and canonical_model_name(model) != built_with:
        raise ModelMismatchError(
            f"index {str(where)!r} was built with model {built_with!r}, not {canonical_model_name(model)!r}; "
            f"query it with that model, or rebuild it into another collection: `qa index DOCS --index {where.uri}#NEW --model {model}`"
        )


@dataclass(frozen=True)
class DocumentEntry:
    """One document as stored: its head, text and metadata.

    Attributes:
        document: The document.
        version: The version its head names.
        order: Its place in the index (documents are sorted by order, then id).
        meta: Its metadata: ``info`` (the manifest entry), ``passages``, ``sentences``, ``stems``, ``file``.
    """

    document: Document
    version: str
    order: int
    meta: dict


def read_documents(conn: Connection) -> list[DocumentEntry]:
    """Every committed document of the index, in index order (rows of other versions are ignored).

    Raises:
        CorruptIndexError: A document's text or metadata is incomplete or unreadable.
    """
    heads: dict[str, dict] = {}
    chunks: dict[tuple[str, str, str], dict[int, str]] = {}
    for row in conn.rows(conn.names["documents"], ["doc_id", "kind", "version", "chunk", "body"], 'kind in ["head", "text", "meta"]'):
        if row["kind"] == "head":
            heads[row["doc_id"]] = json.loads(row["body"])
        else:
            chunks.setdefault((row["doc_id"], row["kind"], row["version"]), {})[int(row["chunk"])] = row["body"]
    entries = []
    for doc_id, head in heads.items():
        try:
            version = head["version"]
            text = read_body(chunks.get((doc_id, "text", version), {}), int(head["text_chunks"]), f"the text of {doc_id!r}")
            meta = json.loads(read_body(chunks.get((doc_id, "meta", version), {}), int(head["meta_chunks"]), f"the metadata of {doc_id!r}"))
            starts = tuple(int(x) for x in meta.get("page_starts", ()))
            doc = Document(doc_id, meta["title"], text, meta["source"], starts, str(meta.get("layout", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptIndexError(f"document {doc_id!r} of index {str(conn.where)!r} is unreadable ({exc}); add it again") from None
        if starts and (starts[0] != 0 or any(b < a for a, b in zip(starts, starts[1:])) or starts[-1] > len(text)):
            raise CorruptIndexError(f"document {doc_id!r} has invalid page offsets; add it again")
        entries.append(DocumentEntry(doc, version, int(head.get("order", 0)), meta))
    entries.sort(key=lambda e: (e.order, e.document.doc_id))
    return entries


def read_heads_ids(conn: Connection) -> list[str]:
    """The ids of the committed documents (their head rows)."""
    return [row["doc_id"] for row in conn.rows(conn.names["documents"], ["doc_id"], 'kind == "head"')]


@dataclass(frozen=True)
class TermCounts:
    """Document frequencies of stemmed terms over the passages (the IDF of answer scoring).

    Attributes:
        counts: Passages holding each term.
    """

    counts: dict[str, int]

    def doc_freq(self, term: str) -> int:
        """Number of passages that contain ``term`` (0 when none does)."""
        return self.counts.get(term, 0)


class SentenceRows:
    """Sentence vectors fetched from Milvus by global sentence index: one ``get`` per lookup.

    Args:
        conn: The connection.
        keys: ``keys(i)`` is the primary key of sentence ``i``.
        count: Number of sentences.
        dimension: Vector dimension.
    """

    def __init__(self, conn: Connection, keys: object, count: int, dimension: int) -> None:
        self.conn = conn
        self.keys = keys
        self.shape = (count, dimension)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int | Sequence[int] | np.ndarray) -> np.ndarray:
        single = isinstance(index, (int, np.integer))
        ids = [int(index)] if single else [int(i) for i in index]  # type: ignore[union-attr]
        out = np.zeros((len(ids), self.shape[1]), dtype=np.float32)
        if ids:
            keys = [self.keys(i) for i in ids]  # type: ignore[operator]
            rows = self.conn.fetch("sentences", list(dict.fromkeys(keys)), ["vector"])
            found = {row["pk"]: row["vector"] for row in rows}  # type: ignore[union-attr]
            missing = [k for k in keys if k not in found]
            if missing:
                raise CorruptIndexError(f"sentence vectors {missing[:3]} are missing from index {str(self.conn.where)!r}; reload it")
            out[:] = [found[k] for k in keys]
        return out[0] if single else out


@dataclass
class MilvusStore:
    """A loaded Milvus index (see the module's docstring); the same attributes as :class:`qa.index.local.store.Store`.

    Attributes:
        path: The location string (as ``Store.path`` for a local folder).
        where: The parsed location.
        conn: Its connection (``conn.round_trips`` counts calls).
        manifest: Model, dimension, chunking, counts, documents.
        documents: Documents by id, in index order.
        passages: Passage records by position (the ``passage`` of a hit).
        sentences: Sentence records by global index.
        sentence_vectors: Fetched from Milvus per lookup (:class:`SentenceRows`).
        bm25: Document frequencies of the terms (answer scoring's IDF).
        words: Row of each corpus word in ``word_vectors``.
        word_vectors: Their unit vectors.
        passage_keys: Primary key of each passage position.
        generation: The build generation loaded (see :meth:`stamp`).
    """

    path: str
    where: Location
    conn: Connection
    manifest: dict
    documents: dict[str, Document]
    passages: RecordTable[PassageRecord]
    sentences: RecordTable[Sentence]
    sentence_vectors: SentenceRows
    bm25: TermCounts
    words: dict[str, int]
    word_vectors: np.ndarray
    passage_keys: list[str]
    generation: str
    positions: dict[str, int] = field(default_factory=dict, repr=False)
    sentence_cache: dict[int, object] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.positions = {key: i for i, key in enumerate(self.passage_keys)}

    @property
    def model(self) -> str:
        """Name of the embedding model the index was built with."""
        return str(self.manifest["model"]["name"])

    @property
    def location(self) -> str:
        """The location string it was loaded from."""
        return self.path

    def stamp(self) -> Hashable | None:
        """The generation of the build now in Milvus (one round trip); None when there is no index."""
        try:
            rows = self.conn.fetch("documents", [MANIFEST_KEY], ["body"])
            return json.loads(rows[0]["body"]).get("generation")  # type: ignore[index]
        except (QAError, IndexError, KeyError, TypeError, ValueError):
            return None

    def search(
        self, query_vector: np.ndarray, query_tokens: list[str], top_k: int, method: str = "hybrid", candidates: int = 50
    ) -> list[Hit]:
        """The ``top_k`` best passages, in one call to Milvus.

        ``"hybrid"`` is one ``hybrid_search``: dense (inner product) and BM25 (Milvus'
        function over the passages' stemmed terms, the same tokens as the local index's
        BM25) each ``candidates`` deep, fused by RRF (k=60) with BM25 counted twice (see
        :data:`BM25_REQUESTS`), scores halved to equal the local fusion's; ``"dense"`` and
        ``"bm25"`` one ``search``.
        """
        from pymilvus import AnnSearchRequest, RRFRanker

        depth = max(candidates, top_k)
        limit = min(top_k + 8, len(self.passage_keys))  # a few more, in case a write in progress left rows of other versions
        if limit <= 0:
            return []
        vector = np.asarray(query_vector, dtype=np.float32).ravel().tolist()
        text = " ".join(query_tokens)
        if method == "bm25" and not text:
            return []
        if method == "hybrid" and text:
            requests = [AnnSearchRequest([vector], "vector", self._dense_params(depth), limit=depth)]
            requests += [AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, limit=depth)] * BM25_REQUESTS
            result = self.conn.call("hybrid_search", self.conn.names["passages"], requests, RRFRanker(RRF_K), limit=limit, output_fields=[])
        elif method == "bm25":
            result = self.conn.call(
                "search", self.conn.names["passages"], [text], anns_field="sparse", limit=limit, search_params={"metric_type": "BM25"}
            )
        else:
            params = self._dense_params(limit)
            result = self.conn.call("search", self.conn.names["passages"], [vector], anns_field="vector", limit=limit, search_params=params)
        hits = []
        for row in result[0]:  # type: ignore[index]
            position = self.positions.get(row["pk"] if "pk" in row else row["id"])
            if position is not None:
                score = float(row["distance"])
                if method == "bm25":
                    score = abs(score)  # Lite's BM25 scores are negated
                elif method == "hybrid" and text:
                    score /= BM25_REQUESTS
                elif method == "hybrid":  # no term to match: the local fusion of the dense ranking alone
                    score = DENSE_WEIGHT / (RRF_K + len(hits) + 1)
                hits.append(Hit(position, score, len(hits) + 1))
        return hits[:top_k]

    def _dense_params(self, depth: int) -> dict:
        """Search parameters of the dense index (HNSW's ``ef`` at least the depth searched)."""
        index = self.manifest["index"]
        params = dict(index.get("search_params", {}))
        if index.get("dense") == "HNSW":
            params["ef"] = max(64, depth)
        return {"metric_type": "IP", "params": params}


def load_milvus_store(location: str | Location, model: str | None = None) -> MilvusStore:
    """Load an index from Milvus: manifest, documents, records and word vectors (sentence vectors stay there).

    Args:
        location: A ``.db`` path or ``http(s)://host:port``, optionally ``#COLLECTION``.
        model: Model the caller will query with; None accepts the index's own.

    Raises:
        IndexNotFoundError: No qa index in the collection.
        CorruptIndexError, IndexVersionError: Damaged, or written by a newer qa.
        ModelMismatchError: ``model`` is not the index's model.
        IndexUnavailableError: The server cannot be reached.
    """
    where = parse_location(location)
    conn = shared_connection(where)
    for attempt in range(LOAD_RETRIES):
        manifest = read_manifest_row(conn)
        check_model(manifest, model, where)
        try:
            return _load(conn, manifest)
        except CorruptIndexError as exc:
            if attempt == LOAD_RETRIES - 1 or _generation(conn) == manifest.get("generation"):
                raise CorruptIndexError(f"index {str(where)!r} is inconsistent ({exc}); rebuild it with `qa index DOCS --index {where}`") from None
            logger.info("index %s changed while loading; loading again", where)
    raise AssertionError("unreachable")


def _generation(conn: Connection) -> object:
    try:
        return read_manifest_row(conn).get("generation")
    except QAError:
        return None


def _load(conn: Connection, manifest: dict) -> MilvusStore:
    """Read documents, records and words (see :func:`load_milvus_store`)."""
    entries = read_documents(conn)
    if not entries:
        raise CorruptIndexError("it holds no documents")
    version_of = {e.document.doc_id: e.version for e in entries}
    passages = _records(conn, "passages", ["doc_id", "version", "seq", "start", "end", "first_sentence", "last_sentence"], version_of)
    sentences = _records(conn, "sentences", ["doc_id", "version", "seq", "start", "end"], version_of)
    doc_ids = [e.document.doc_id for e in entries]
    p_counts, s_counts = [], []
    for e in entries:
        p_rows, s_rows = passages.get(e.document.doc_id, []), sentences.get(e.document.doc_id, [])
        if len(p_rows) != e.meta["passages"] or len(s_rows) != e.meta["sentences"]:
            raise CorruptIndexError(f"document {e.document.doc_id!r} has {len(p_rows)} passages and {len(s_rows)} sentences stored, not {e.meta['passages']} and {e.meta['sentences']}")
        p_counts.append(len(p_rows))
        s_counts.append(len(s_rows))
    s_base = np.r_[0, np.cumsum(s_counts)].astype(np.int64)
    p_cols = {f: [] for f in ("start", "end", "first_sentence", "last_sentence")}
    s_cols = {f: [] for f in ("start", "end")}
    passage_keys: list[str] = []
    for i, e in enumerate(entries):
        d = e.document.doc_id
        for row in sorted(passages.get(d, []), key=lambda r: r["seq"]):
            passage_keys.append(row["pk"])
            for f in ("start", "end"):
                p_cols[f].append(int(row[f]))
            p_cols["first_sentence"].append(int(row["first_sentence"]) + int(s_base[i]))
            p_cols["last_sentence"].append(int(row["last_sentence"]) + int(s_base[i]))
        for row in sorted(sentences.get(d, []), key=lambda r: r["seq"]):
            s_cols["start"].append(int(row["start"]))
            s_cols["end"].append(int(row["end"]))
    p_index = np.repeat(np.arange(len(entries), dtype=np.int32), p_counts)
    s_index = np.repeat(np.arange(len(entries), dtype=np.int32), s_counts)
    passage_table = RecordTable(PassageRecord, doc_ids, p_index, {f: np.array(v, dtype=np.int64) for f, v in p_cols.items()})
    sentence_table = RecordTable(Sentence, doc_ids, s_index, {f: np.array(v, dtype=np.int64) for f, v in s_cols.items()})
    versions = [e.version for e in entries]

    def sentence_key(i: int) -> str:
        doc = int(s_index[i])
        return f"{doc_ids[doc]}|{versions[doc]}|s{i - int(s_base[doc])}"

    dimension = int(manifest["model"]["dimension"])
    words, word_vectors = _words(conn, dimension)
    stems: dict[str, int] = {}
    for e in entries:
        for term, count in e.meta.get("stems", {}).items():
            stems[term] = stems.get(term, 0) + int(count)
    library = {e.meta["file"]["name"]: {"doc_id": e.document.doc_id, **{k: e.meta["file"][k] for k in ("bytes", "sha256")}} for e in entries if e.meta.get("file")}
    full = {
        **manifest,
        "counts": {"documents": len(entries), "passages": len(passage_keys), "sentences": len(s_index)},
        "documents": [e.meta["info"] for e in entries],
    }
    if library:
        full["library"] = {"user_documents": True, "files": library}
    return MilvusStore(
        path=str(conn.where),
        where=conn.where,
        conn=conn,
        manifest=full,
        documents={e.document.doc_id: e.document for e in entries},
        passages=passage_table,
        sentences=sentence_table,
        sentence_vectors=SentenceRows(conn, sentence_key, len(s_index), dimension),
        bm25=TermCounts(stems),
        words=words,
        word_vectors=word_vectors,
        passage_keys=passage_keys,
        generation=str(manifest.get("generation", "")),
    )


def _records(conn: Connection, part: str, fields: list[str], version_of: dict[str, str]) -> dict[str, list[dict]]:
    """The committed rows of the passages or sentences collection, by document."""
    out: dict[str, list[dict]] = {}
    for row in conn.rows(conn.names[part], ["pk", *fields]):
        if version_of.get(row["doc_id"]) == row["version"]:
            out.setdefault(row["doc_id"], []).append(row)
    return out


def _words(conn: Connection, dimension: int) -> tuple[dict[str, int], np.ndarray]:
    """The stored corpus words and their vectors."""
    words: list[str] = []
    vectors: list[list[float]] = []
    for row in conn.rows(conn.names["words"], ["word", "vector"]):
        words.append(row["word"])
        vectors.append(row["vector"])
    array = np.asarray(vectors, dtype=np.float32).reshape(len(words), dimension)
    return {w: i for i, w in enumerate(words)}, array
