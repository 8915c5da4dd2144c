"""Write an index: chunk and embed documents, reuse what an earlier build stored, swap the result in atomically.

Builds write a new folder beside the target and swap it in, under a lock, so a
failed or killed build leaves the previous index loadable.  A build into a
folder that already holds an index made with the same model, chunking and qa
version embeds only new or changed documents (by content hash) and reuses the
stored vectors of the others, with the same result as a full build.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.versions import QA_VERSION
from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP, ChunkSpec, chunk_sentences, split_sentences
from qa.index.embedding import Embedder, encoder_of
from qa.onnx.session import normalize
from qa.errors import CorruptIndexError, IndexLockedError, IndexNotFoundError, QAError
from qa.documents.lexical import content_words, tokenize
from qa.index.local.folder import check_replace, leftovers, remove_leftovers
from qa.index.local.manifest import (
    BM25_DIR,
    DOCUMENTS,
    FAISS_INDEX,
    FORMAT_VERSION,
    MANIFEST,
    PASSAGE_VECTORS,
    PASSAGES,
    SENTENCE_VECTORS,
    SENTENCES,
    STORED_FILES,
    WORD_VECTORS,
    WORDS,
    chunking_settings,
    file_entry,
    outdated,
    read_manifest,
    read_verified,
    recover,
    source_info,
)
from qa.index.records import PASSAGE_FIELDS, SENTENCE_FIELDS, PassageRecord, RecordTable, parse_records, record_lines
from qa.types import Document, Sentence
from qa.index.local.vectors import DEFAULT_EXACT_MAX, VectorRows, make_vector_index

logger = logging.getLogger(__name__)

MAX_WORDS_EMBEDDED = 200_000
"""At most this many distinct corpus words (the most frequent) get a vector for soft term matching."""


def _bm25_index(passage_texts: Sequence[str]) -> object:
    import bm25s

    tokens = [tokenize(text) or ["\u2205"] for text in passage_texts]
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    return retriever


class HeldLock:
    """Proof that this thread holds :func:`build_lock` of a folder: pass it as ``held=`` to build into it.

    An update of the documents (:mod:`qa.index.updates`) holds the lock from reading the
    old index to swapping in the new one, so no other build can slip in between.

    Attributes:
        target: The index folder locked.
    """

    def __init__(self, target: Path) -> None:
        self.target = target.resolve()
        self.active = True

    def covers(self, target: Path) -> bool:
        """Whether this lock is still held and is the lock of ``target``."""
        return self.active and self.target == target.resolve()


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[HeldLock]:
    """Hold an exclusive lock for building ``target`` (a lock file beside it).

    Taking it removes what killed builds left beside ``target`` (see :func:`qa.index.local.folder.remove_leftovers`):
    no live build can own them then.

    Yields:
        The held lock (see :class:`HeldLock`).

    Raises:
        IndexLockedError: Another build (in this process or another) holds the folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"another build is writing {str(target)!r}; wait for it to finish, then try again"
            ) from None
        held = HeldLock(target)
        try:
            remove_leftovers(target)
            yield held
        finally:
            held.active = False
            fcntl.flock(handle, fcntl.LOCK_UN)


def clean_leftovers(target: Path) -> list[Path]:
    """Remove what killed builds left beside ``target`` when there is any and no build holds its lock (at start).

    Returns:
        The folders removed (none while a build runs, or when the folder cannot be written).
    """
    found = leftovers(target)
    if not found:
        return []
    try:
        with build_lock(target):
            return found
    except (IndexLockedError, OSError) as exc:
        logger.info("leftovers beside %s left for now (%s)", target, exc)
        return []


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by the finished folder ``tmp`` (two renames; see :func:`recover`)."""
    old = None
    if target.exists():
        for name in (".gitignore", ".gitkeep"):  # keep a repository's placeholder files
            if (target / name).is_file() and not (tmp / name).exists():
                shutil.copy2(target / name, tmp / name)
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class _Previous:
    """What a build can reuse from the index already in its target folder (all checked against its manifest).

    Attributes:
        by_hash: Old ``doc_id`` of each document text's SHA-256.
        passage_rows: Rows ``(first, end)`` of each old document's passages.
        sentence_rows: Rows ``(first, end)`` of each old document's sentences.
        passages: The old passage records (``passages.jsonl``).
        sentences: The old sentence records (``sentences.jsonl``).
        passage_vectors: The old float32 passage vectors, read by row (never memory-mapped: a file cut short
            meanwhile is an error, not a bus error).
        sentence_vectors: The old float16 sentence vectors, read by row.
        words: Row of each old corpus word.
        word_vectors: The old float16 word vectors, read by row.
    """

    by_hash: dict[str, str]
    passage_rows: dict[str, tuple[int, int]]
    sentence_rows: dict[str, tuple[int, int]]
    passages: RecordTable[PassageRecord]
    sentences: RecordTable[Sentence]
    passage_vectors: VectorRows
    sentence_vectors: VectorRows
    words: dict[str, int]
    word_vectors: VectorRows


@dataclass
class _Plan:
    """Where each document's passages and sentences come from in a build."""

    passages: list[PassageRecord] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    copies: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    """``(new passage row, old first, old end, new sentence row, old first, old end)`` of each reused document."""
    new_passages: list[int] = field(default_factory=list)
    new_sentences: list[int] = field(default_factory=list)
    reused_documents: int = 0


def write_index(
    documents: Sequence[Document],
    target: str | os.PathLike[str],
    embedder: Embedder,
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
    exact_max: int = DEFAULT_EXACT_MAX,
    batch_size: int = 64,
    reuse: bool = True,
    stored: Mapping[str, Path] | None = None,
    held: HeldLock | None = None,
    replace: bool = False,
) -> Path:
    """Chunk, embed and index documents, and save the index atomically to ``target``.

    With ``reuse``, when ``target`` holds an intact index made with the same
    model, chunking settings and qa version, the documents whose text is
    unchanged (same SHA-256) keep their stored sentences, passages and vectors;
    only new or changed documents are segmented and embedded (and only corpus
    words without a stored vector).  The result is the same as a full build with
    a deterministic model (with sentence-transformers, equal up to the float noise
    of batching).  Anything unusable in the old index means a full build.

    Args:
        documents: Documents with unique ``doc_id``.
        target: Index folder; replaced only when the new index is complete.
        embedder: Model used for passages and sentences.
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.
        exact_max: Largest passage count that gets an exact FAISS index.
        batch_size: Texts per encoder batch.
        reuse: Reuse the vectors of unchanged documents from the index in ``target``.
        stored: Files to keep in the index's ``files/`` folder, by name (each the
            ``doc_id`` of the document read from it; see :mod:`qa.index.updates`).
        held: The caller's :func:`build_lock` of ``target``; None takes the lock for the write.
        replace: Remove the documents added to the index in ``target`` that are not ``stored`` (with their kept
            files); without it such a build is refused (see :func:`qa.index.local.folder.check_replace`).

    Returns:
        The index folder.

    Raises:
        QAError: No documents, or no text to index.
        IndexLockedError: Another build holds the folder.
        ReplaceRefusedError: The build would remove added documents (without ``replace``), or ``target`` is a folder
            that is not an index.
    """
    if not documents:
        raise QAError("no documents to index: pass files, folders or Document objects with text")
    target = Path(target)
    chunking = chunking_settings(max_words, overlap)
    previous = _previous_index(target, embedder, chunking) if reuse else None
    plan = _plan(documents, previous, max_words, overlap)
    if not plan.passages:
        raise QAError("the documents contain no sentences to index")
    by_id = {doc.doc_id: doc for doc in documents}
    sentence_texts = [by_id[s.doc_id].text[s.start : s.end] for s in plan.sentences]
    dim = int(embedder.dimension)
    passage_vectors = np.empty((len(plan.passages), dim), dtype=np.float32)
    sentence_vectors = np.empty((len(plan.sentences), dim), dtype=np.float16)
    if previous is not None:
        for new_p, p0, p1, new_s, s0, s1 in plan.copies:
            passage_vectors[new_p : new_p + p1 - p0] = previous.passage_vectors[p0:p1]
            sentence_vectors[new_s : new_s + s1 - s0] = previous.sentence_vectors[s0:s1]
    new_sentence_texts = [sentence_texts[i] for i in plan.new_sentences]
    logger.info(
        "embedding %d of %d sentences (for %d of %d passages) with %s (%d unchanged documents reused)",
        len(new_sentence_texts), len(plan.sentences), len(plan.new_passages), len(plan.passages), embedder.name, plan.reused_documents,
    )
    if new_sentence_texts:
        fresh = np.asarray(
            embedder.encode(new_sentence_texts, batch_size=batch_size, show_progress=len(new_sentence_texts) >= 256), dtype=np.float32
        )
        sentence_vectors[plan.new_sentences] = fresh
        passage_vectors[plan.new_passages] = pool_passages(plan, fresh)
    words = corpus_words(sentence_texts)
    word_vectors = np.empty((len(words), dim), dtype=np.float16)
    old_rows = [previous.words.get(w, -1) if previous is not None else -1 for w in words]
    kept = [i for i, row in enumerate(old_rows) if row >= 0]
    if kept and previous is not None:  # (kept is empty without a previous index)
        word_vectors[kept] = previous.word_vectors[[old_rows[i] for i in kept]]
    missing = [i for i, row in enumerate(old_rows) if row < 0]
    if missing:
        word_vectors[missing] = embedder.encode([words[i] for i in missing], batch_size=256, show_progress=len(missing) >= 2048)
    stats = {
        "reused_documents": plan.reused_documents,
        "embedded": {"passages": len(plan.new_passages), "sentences": len(new_sentence_texts), "words": len(missing)},
        "reused": {"passages": len(plan.passages) - len(plan.new_passages), "sentences": len(plan.sentences) - len(new_sentence_texts), "words": len(kept)},
        "encoder": {"sentences": encoder_of(embedder, len(new_sentence_texts)), "words": encoder_of(embedder, len(missing))},
    }
    return save_index(
        target, documents, plan.passages, plan.sentences, passage_vectors, sentence_vectors, embedder,
        chunking, exact_max, words, word_vectors, stats, stored, held, replace,
    )


def pool_passages(plan: _Plan, sentence_vectors: np.ndarray) -> np.ndarray:
    """Vectors of the plan's new passages: the length-weighted mean of their sentences' unit vectors, normalised.

    A passage is not encoded as a whole.  Its sentences must be encoded anyway
    (answers are sentences), and pooling their vectors, each weighted by its
    length in characters, approximates the model's own mean pooling over the
    passage's tokens.  It halves the encoding work of a build (sentences are
    shorter, so encoding them costs less than encoding the passages); on the
    SQuAD sample the hybrid engine's MRR is the same (0.840) and the dense-only
    MRR 0.003 lower than with encoded passages (``eval/scoring/run.py``).

    Args:
        plan: The build plan; the sentences of each new passage are all new.
        sentence_vectors: Unit vectors of ``plan.new_sentences``, in that order.

    Returns:
        ``(len(plan.new_passages), dimension)`` float32 unit vectors.
    """
    row_of = np.full(len(plan.sentences), -1, dtype=np.int64)
    row_of[plan.new_sentences] = np.arange(len(plan.new_sentences))
    lengths = np.array([s.end - s.start for s in plan.sentences], dtype=np.float32)
    out = np.zeros((len(plan.new_passages), sentence_vectors.shape[1]), dtype=np.float32)
    for i, p in enumerate(plan.new_passages):
        record = plan.passages[p]
        rows = row_of[record.first_sentence : record.last_sentence]
        if len(rows) == 0 or rows.min() < 0:
            raise QAError(f"passage {p} has sentences that were not embedded; this is a bug in the build plan")
        out[i] = lengths[record.first_sentence : record.last_sentence] @ sentence_vectors[rows]
    return normalize(out)


def plan_documents(documents: Sequence[Document], max_words: int = DEFAULT_MAX_WORDS, overlap: int = DEFAULT_OVERLAP) -> _Plan:
    """Segment and chunk documents (every one new): the chunking step of any backend's build."""
    return _plan(documents, None, max_words, overlap)


def embed_plan(plan: _Plan, sentence_texts: Sequence[str], embedder: Embedder, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Embed the sentences of a plan made by :func:`plan_documents` and pool its passages (see :func:`pool_passages`).

    Returns:
        ``(passage_vectors, sentence_vectors)``, float32 unit vectors.
    """
    texts = [sentence_texts[i] for i in plan.new_sentences]
    if not texts:
        dim = int(embedder.dimension)
        return np.zeros((0, dim), dtype=np.float32), np.zeros((0, dim), dtype=np.float32)
    fresh = np.asarray(embedder.encode(texts, batch_size=batch_size, show_progress=len(texts) >= 256), dtype=np.float32)
    return pool_passages(plan, fresh), fresh


def _plan(documents: Sequence[Document], previous: _Previous | None, max_words: int, overlap: int) -> _Plan:
    """Segment and chunk the new or changed documents; take the others' records from the old index."""
    plan = _Plan()
    for doc in documents:
        old_id = previous.by_hash.get(doc.sha256) if previous is not None else None
        p_base, s_base = len(plan.passages), len(plan.sentences)
        if previous is not None and old_id is not None:
            p0, p1 = previous.passage_rows.get(old_id, (0, 0))
            s0, s1 = previous.sentence_rows.get(old_id, (0, 0))
            plan.sentences.extend(Sentence(doc.doc_id, r.start, r.end) for r in previous.sentences[s0:s1])
            plan.passages.extend(
                PassageRecord(doc.doc_id, r.start, r.end, r.first_sentence - s0 + s_base, r.last_sentence - s0 + s_base)
                for r in previous.passages[p0:p1]
            )
            plan.copies.append((p_base, p0, p1, s_base, s0, s1))
            plan.reused_documents += 1
            continue
        doc_sentences = split_sentences(doc)
        chunks: list[ChunkSpec] = chunk_sentences(doc, doc_sentences, max_words, overlap)
        plan.passages.extend(
            PassageRecord(doc.doc_id, c.start, c.end, s_base + c.first_sentence, s_base + c.last_sentence) for c in chunks
        )
        plan.sentences.extend(doc_sentences)
        plan.new_passages.extend(range(p_base, len(plan.passages)))
        plan.new_sentences.extend(range(s_base, len(plan.sentences)))
    return plan


def _previous_index(target: Path, embedder: Embedder, chunking: dict) -> _Previous | None:
    """The reusable parts of the index in ``target``, or None (no index, another model or settings, damage)."""
    try:
        manifest = read_manifest(target)
    except QAError as exc:
        if not isinstance(exc, IndexNotFoundError):
            logger.info("not reusing %s: %s", target, exc)
        return None
    model = manifest.get("model", {})
    reasons = outdated(manifest, chunking)
    if model.get("name") != embedder.name or model.get("dimension") != embedder.dimension:
        reasons.append(f"model {model.get('name')!r}")
    if reasons:
        logger.info("embedding every document: the index in %s was built with %s", target, ", ".join(reasons))
        return None
    try:
        files = manifest["files"]
        passages = parse_records(PassageRecord, read_verified(target / PASSAGES, files[PASSAGES]))
        sentences = parse_records(Sentence, read_verified(target / SENTENCES, files[SENTENCES]))
        words = json.loads(read_verified(target / WORDS, files[WORDS]).decode("utf-8"))
        previous = _Previous(
            by_hash={},
            passage_rows=passages.doc_ranges(),
            sentence_rows=sentences.doc_ranges(),
            passages=passages,
            sentences=sentences,
            passage_vectors=_verified_rows(target / PASSAGE_VECTORS, files[PASSAGE_VECTORS], np.float32),
            sentence_vectors=_verified_rows(target / SENTENCE_VECTORS, files[SENTENCE_VECTORS], np.float16),
            words={w: i for i, w in enumerate(words)},
            word_vectors=_verified_rows(target / WORD_VECTORS, files[WORD_VECTORS], np.float16),
        )
        for info in manifest["documents"]:
            previous.by_hash.setdefault(info["text_sha256"], info["doc_id"])
        dim = embedder.dimension
        if (
            previous.passage_vectors.shape != (len(passages), dim)
            or previous.sentence_vectors.shape != (len(sentences), dim)
            or previous.word_vectors.shape != (len(words), dim)
        ):
            raise CorruptIndexError("counts or dimensions differ")
    except (QAError, OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("embedding every document: cannot reuse the index in %s (%s: %s)", target, type(exc).__name__, exc)
        return None
    return previous


def _verified_rows(path: Path, info: dict, dtype: type) -> VectorRows:
    """The rows of a ``.npy`` matrix, after checking the file's SHA-256 through the descriptor they are read from."""
    rows = VectorRows(path, dtype)
    if rows.sha256() != (info["bytes"], info["sha256"]):
        raise CorruptIndexError(f"{path.name} does not match its checksum")
    return rows


def corpus_words(texts: Sequence[str], limit: int = MAX_WORDS_EMBEDDED) -> list[str]:
    """Distinct content words of the texts (no pure numbers), the ``limit`` most frequent, sorted."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in content_words(text):
            if not word.isdigit():
                counts[word] = counts.get(word, 0) + 1
    if len(counts) > limit:
        counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
    return sorted(counts)


def save_index(
    target: Path,
    documents: Sequence[Document],
    passages: Sequence[PassageRecord],
    sentences: Sequence[Sentence],
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    embedder: Embedder,
    chunking: dict,
    exact_max: int = DEFAULT_EXACT_MAX,
    words: Sequence[str] = (),
    word_vectors: np.ndarray | None = None,
    build_stats: dict | None = None,
    stored: Mapping[str, Path] | None = None,
    held: HeldLock | None = None,
    replace: bool = False,
) -> Path:
    """Write an index from embedded passages and sentences (see :func:`write_index`).

    ``build_stats`` (what was embedded and reused) is recorded as the manifest's
    ``"build"``; the ``stored`` files are copied (hard-linked when possible) into
    the new folder's ``files/`` and listed in the manifest's ``"library"``.
    With ``held`` (the caller's :func:`build_lock` of ``target``) the lock is not taken again.  Under the
    lock, the index in ``target`` is checked first: its added documents not ``stored`` are removed only with
    ``replace`` (:func:`qa.index.local.folder.check_replace`).

    Raises:
        ReplaceRefusedError: See :func:`write_index`.
        IndexLockedError: Another build holds the folder.
        QAError: ``held`` is not a held lock of ``target``.
    """
    import faiss

    texts_by_id = {doc.doc_id: doc.text for doc in documents}
    stored = dict(stored or {})
    unknown = sorted(set(stored) - set(texts_by_id))
    if unknown:
        raise QAError(f"kept files {unknown} have no document of the same doc_id; this is a bug in the caller")
    if held is not None and not held.covers(target):
        raise QAError(f"the lock passed as held is not a held lock of {str(target)!r}; this is a bug in the caller")
    with contextlib.nullcontext(held) if held is not None else build_lock(target):
        recover(target)
        check_replace(target, stored, replace)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
        try:
            index, index_info = make_vector_index(passage_vectors, exact_max)
            faiss.write_index(index, str(tmp / FAISS_INDEX))
            del index
            np.save(tmp / PASSAGE_VECTORS, np.asarray(passage_vectors, dtype=np.float32), allow_pickle=False)
            np.save(tmp / SENTENCE_VECTORS, sentence_vectors.astype(np.float16), allow_pickle=False)
            if word_vectors is None:
                word_vectors = np.zeros((0, passage_vectors.shape[1]), dtype=np.float32)
            np.save(tmp / WORD_VECTORS, word_vectors.astype(np.float16), allow_pickle=False)
            (tmp / WORDS).write_text(json.dumps(list(words), ensure_ascii=False), encoding="utf-8")
            _bm25_index([texts_by_id[p.doc_id][p.start : p.end] for p in passages]).save(
                str(tmp / BM25_DIR), show_progress=False
            )
            _write_jsonl(tmp / DOCUMENTS, (document_row(d) for d in documents))
            _write_jsonl(tmp / PASSAGES, record_lines(passages, PASSAGE_FIELDS))
            _write_jsonl(tmp / SENTENCES, record_lines(sentences, SENTENCE_FIELDS))
            files = {path.relative_to(tmp).as_posix(): file_entry(path) for path in sorted(p for p in tmp.rglob("*") if p.is_file())}
            library = _keep_files(stored, tmp / STORED_FILES)
            manifest = {
                "format_version": FORMAT_VERSION,
                "qa_version": QA_VERSION,
                "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "model": {"name": embedder.name, "dimension": int(passage_vectors.shape[1]), "normalized": True},
                "index": {**index_info, "exact_max": exact_max},
                "chunking": chunking,
                "counts": {"documents": len(documents), "passages": len(passages), "sentences": len(sentences)},
                "documents": [source_info(doc, doc.doc_id in stored) for doc in documents],
                "build": build_stats or {},
                "files": files,
            }
            if library:
                manifest["library"] = {"user_documents": True, "files": library}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            _fsync_tree(tmp)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("wrote index %s (%d passages, %s)", target, len(passages), index_info["type"])
    return target


def document_row(doc: Document) -> dict:
    """The line of ``documents.jsonl`` of a document (``page_starts`` only for documents with pages)."""
    row: dict = {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "text": doc.text}
    if doc.page_starts:
        row["page_starts"] = list(doc.page_starts)
    if doc.layout:
        row["layout"] = doc.layout
    return row


def _keep_files(stored: Mapping[str, Path], folder: Path) -> dict[str, dict]:
    """Copy the kept files into ``folder`` (a hard link when on the same file system); their manifest entries."""
    entries = {}
    for name in sorted(stored):
        if Path(name).name != name or name.startswith("."):
            raise QAError(f"kept file name {name!r} is not a plain file name; this is a bug in the caller")
        folder.mkdir(exist_ok=True)
        source, copy = Path(stored[name]), folder / name
        try:
            os.link(source, copy)
        except OSError:
            shutil.copyfile(source, copy)
        entry = file_entry(copy)
        entries[name] = {"doc_id": name, "bytes": entry["bytes"], "sha256": entry["sha256"]}
    return entries


def _write_jsonl(path: Path, rows: object) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:  # type: ignore[attr-defined]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
