"""The on-disk index: FAISS vectors, a BM25 index, passages and a checked manifest.

An index is a folder of plain files with fixed names (no pickle)::

    manifest.json          format version, model, dimension, chunking, hashes
    documents.jsonl        one cleaned document per line
    passages.jsonl         doc_id, start, end, first/last sentence of each passage
    sentences.jsonl        doc_id, start, end of each sentence
    index.faiss            passage vectors (inner product on unit vectors)
    sentence_vectors.npy   float16 sentence vectors, for answer selection
    bm25/                  bm25s index of the passages

Builds write a new folder beside the target and swap it in, under a lock, so a
failed or killed build leaves the previous index loadable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa import __version__
from qa.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP, ChunkSpec, chunk_sentences, split_sentences
from qa.embedding import Embedder, canonical_model_name
from qa.errors import (
    CorruptIndexError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    ModelMismatchError,
    QAError,
    StaleIndexError,
)
from qa.lexical import content_words, tokenize
from qa.types import Document, Sentence

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
PASSAGES = "passages.jsonl"
SENTENCES = "sentences.jsonl"
FAISS_INDEX = "index.faiss"
SENTENCE_VECTORS = "sentence_vectors.npy"
WORDS = "words.json"
WORD_VECTORS = "word_vectors.npy"
MAX_WORDS_EMBEDDED = 200_000
"""At most this many distinct corpus words (the most frequent) get a vector for soft term matching."""
BM25_DIR = "bm25"
DEFAULT_EXACT_MAX = 20_000
"""Up to this many passages the index is exact (``IndexFlatIP``); above it, HNSW."""
HASH_MAX_BYTES = 256 * 2**20
"""Files up to this size are checked against their SHA-256 on load; larger ones by size only."""


@dataclass(frozen=True)
class PassageRecord:
    """A stored passage: a span of one document made of whole sentences.

    Attributes:
        doc_id: Its document.
        start: Offset of the first character.
        end: Offset one past the last character.
        first_sentence: Global index of its first sentence.
        last_sentence: Global index one past its last sentence.
    """

    doc_id: str
    start: int
    end: int
    first_sentence: int
    last_sentence: int


@dataclass
class Store:
    """A loaded index.

    Attributes:
        path: Folder it was loaded from.
        manifest: The parsed manifest.
        documents: Documents by id.
        passages: Passages by position (= FAISS id = BM25 id).
        sentences: Sentences by global index.
        vectors: The FAISS index of passage vectors.
        sentence_vectors: ``(len(sentences), dimension)`` unit vectors.
        bm25: The bm25s index of the passages.
        words: Row of each embedded corpus word in ``word_vectors``.
        word_vectors: ``(len(words), dimension)`` unit vectors.
    """

    path: Path
    manifest: dict
    documents: dict[str, Document]
    passages: list[PassageRecord]
    sentences: list[Sentence]
    vectors: object
    sentence_vectors: np.ndarray
    bm25: object
    words: dict[str, int]
    word_vectors: np.ndarray

    @property
    def model(self) -> str:
        """Name of the embedding model the index was built with."""
        return str(self.manifest["model"]["name"])


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_vector_index(vectors: np.ndarray, exact_max: int = DEFAULT_EXACT_MAX) -> tuple[object, dict]:
    """Build the FAISS index suited to the number of vectors.

    Args:
        vectors: ``(n, d)`` float32 unit vectors.
        exact_max: Largest ``n`` that gets an exact index.

    Returns:
        ``(index, description)``; the description goes into the manifest.
    """
    import faiss

    n, dim = vectors.shape
    if n <= exact_max:
        index = faiss.IndexFlatIP(dim)
        info: dict = {"type": "flat", "metric": "inner_product"}
    else:
        m, ef_construction, ef_search = 32, 80, 96
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
        info = {"type": "hnsw", "metric": "inner_product", "M": m, "efConstruction": ef_construction, "efSearch": ef_search}
    index.add(vectors)
    return index, info


def _bm25_index(passage_texts: Sequence[str]) -> object:
    import bm25s

    tokens = [tokenize(text) or ["\u2205"] for text in passage_texts]
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    return retriever


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock for building ``target`` (a lock file beside it).

    Raises:
        IndexLockedError: Another process is building the same folder.
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
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _recover(target: Path) -> None:
    """Put back an index left aside by a build that died between its two renames."""
    if target.exists():
        return
    leftovers = sorted(target.parent.glob(f".{target.name}.old-*"))
    if leftovers:
        logger.warning("restoring %s from %s (a build was interrupted)", target, leftovers[-1])
        os.rename(leftovers[-1], target)


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by the finished folder ``tmp`` (two renames; see :func:`_recover`)."""
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


def _source_info(doc: Document) -> dict:
    info: dict = {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "text_sha256": doc.sha256}
    path = Path(doc.source)
    if doc.source and not doc.source.startswith("<") and path.is_file():
        stat = path.stat()
        info.update(file_sha256=file_sha256(path), file_size=stat.st_size, file_mtime_ns=stat.st_mtime_ns)
    return info


def write_index(
    documents: Sequence[Document],
    target: str | os.PathLike[str],
    embedder: Embedder,
    max_words: int = DEFAULT_MAX_WORDS,
    overlap: int = DEFAULT_OVERLAP,
    exact_max: int = DEFAULT_EXACT_MAX,
    batch_size: int = 64,
) -> Path:
    """Chunk, embed and index documents, and save the index atomically to ``target``.

    Args:
        documents: Documents with unique ``doc_id``.
        target: Index folder; replaced only when the new index is complete.
        embedder: Model used for passages and sentences.
        max_words: Word budget of a passage.
        overlap: Sentences shared by consecutive passages.
        exact_max: Largest passage count that gets an exact FAISS index.
        batch_size: Texts per encoder batch.

    Returns:
        The index folder.

    Raises:
        QAError: No documents, or no text to index.
        IndexLockedError: Another build holds the folder.
    """
    if not documents:
        raise QAError("no documents to index: pass files, folders or Document objects with text")
    target = Path(target)
    sentences: list[Sentence] = []
    passages: list[PassageRecord] = []
    for doc in documents:
        doc_sentences = split_sentences(doc)
        base = len(sentences)
        chunks: list[ChunkSpec] = chunk_sentences(doc, doc_sentences, max_words, overlap)
        passages.extend(
            PassageRecord(doc.doc_id, c.start, c.end, base + c.first_sentence, base + c.last_sentence) for c in chunks
        )
        sentences.extend(doc_sentences)
    if not passages:
        raise QAError("the documents contain no sentences to index")
    by_id = {doc.doc_id: doc for doc in documents}
    passage_texts = [by_id[p.doc_id].text[p.start : p.end] for p in passages]
    sentence_texts = [by_id[s.doc_id].text[s.start : s.end] for s in sentences]
    total = len(passage_texts) + len(sentence_texts)
    logger.info("embedding %d passages and %d sentences with %s", len(passages), len(sentences), embedder.name)
    show = total >= 256
    passage_vectors = embedder.encode(passage_texts, batch_size=batch_size, show_progress=show)
    sentence_vectors = embedder.encode(sentence_texts, batch_size=batch_size, show_progress=show)
    words = corpus_words(sentence_texts)
    word_vectors = embedder.encode(words, batch_size=256, show_progress=len(words) >= 2048)
    return save_index(
        target, documents, passages, sentences, passage_vectors, sentence_vectors, embedder,
        {"max_words": max_words, "overlap": overlap, "segmenter": "pysbd-en"}, exact_max, words, word_vectors,
    )


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
) -> Path:
    """Write an index from embedded passages and sentences (see :func:`write_index`)."""
    import faiss

    texts_by_id = {doc.doc_id: doc.text for doc in documents}
    with build_lock(target):
        _recover(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
        try:
            index, index_info = make_vector_index(passage_vectors, exact_max)
            faiss.write_index(index, str(tmp / FAISS_INDEX))
            np.save(tmp / SENTENCE_VECTORS, sentence_vectors.astype(np.float16), allow_pickle=False)
            if word_vectors is None:
                word_vectors = np.zeros((0, passage_vectors.shape[1]), dtype=np.float32)
            np.save(tmp / WORD_VECTORS, word_vectors.astype(np.float16), allow_pickle=False)
            (tmp / WORDS).write_text(json.dumps(list(words), ensure_ascii=False), encoding="utf-8")
            _bm25_index([texts_by_id[p.doc_id][p.start : p.end] for p in passages]).save(
                str(tmp / BM25_DIR), show_progress=False
            )
            _write_jsonl(tmp / DOCUMENTS, ({"doc_id": d.doc_id, "title": d.title, "source": d.source, "text": d.text} for d in documents))
            _write_jsonl(tmp / PASSAGES, (p.__dict__ for p in passages))
            _write_jsonl(tmp / SENTENCES, ({"doc_id": s.doc_id, "start": s.start, "end": s.end} for s in sentences))
            files = {}
            for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
                files[path.relative_to(tmp).as_posix()] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
            manifest = {
                "format_version": FORMAT_VERSION,
                "qa_version": __version__,
                "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "model": {"name": embedder.name, "dimension": int(passage_vectors.shape[1]), "normalized": True},
                "index": {**index_info, "exact_max": exact_max},
                "chunking": chunking,
                "counts": {"documents": len(documents), "passages": len(passages), "sentences": len(sentences)},
                "documents": [_source_info(doc) for doc in documents],
                "files": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            _fsync_tree(tmp)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("wrote index %s (%d passages, %s)", target, len(passages), index_info["type"])
    return target


def _write_jsonl(path: Path, rows: object) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:  # type: ignore[attr-defined]
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def read_manifest(path: str | os.PathLike[str]) -> dict:
    """Read and check the manifest of an index folder, without loading the index.

    Raises:
        IndexNotFoundError: No index in the folder.
        CorruptIndexError: The manifest is unreadable.
        IndexVersionError: The format version is not this package's.
    """
    folder = Path(path)
    _recover(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise IndexNotFoundError(
            f"no index in {str(folder)!r} (missing {MANIFEST}); build one with `qa index PATH --index {folder}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = manifest["format_version"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptIndexError(f"unreadable {MANIFEST} in {str(folder)!r} ({exc}); rebuild the index with `qa index`") from None
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise IndexVersionError(
            f"index {str(folder)!r} has format version {version!r}, this qa reads version {FORMAT_VERSION}; "
            + ("upgrade qa, or " if newer else "")
            + "rebuild the index with `qa index`"
        )
    return manifest


def check_files(folder: Path, manifest: dict) -> None:
    """Check every file listed in the manifest exists with its size (and hash, when small).

    Raises:
        CorruptIndexError: A file is missing, truncated or altered.
    """
    for name, info in manifest.get("files", {}).items():
        path = folder / name
        fix = "rebuild the index with `qa index`"
        if not path.is_file():
            raise CorruptIndexError(f"index file {name!r} is missing from {str(folder)!r}; {fix}")
        size = path.stat().st_size
        if size != info["bytes"]:
            raise CorruptIndexError(
                f"index file {name!r} in {str(folder)!r} has {size} bytes, expected {info['bytes']} (truncated or altered); {fix}"
            )
        if size <= HASH_MAX_BYTES and file_sha256(path) != info["sha256"]:
            raise CorruptIndexError(f"index file {name!r} in {str(folder)!r} does not match its checksum; {fix}")


def stale_documents(manifest: dict) -> list[str]:
    """List the documents whose source file changed since the build.

    A source file that no longer exists is not stale: the index keeps its text.

    Returns:
        ``doc_id`` of each changed document.
    """
    changed = []
    for info in manifest["documents"]:
        if "file_sha256" not in info:
            continue
        path = Path(info["source"])
        try:
            stat = path.stat()
        except OSError:
            continue
        if stat.st_size == info["file_size"] and stat.st_mtime_ns == info["file_mtime_ns"]:
            continue
        if stat.st_size != info["file_size"] or file_sha256(path) != info["file_sha256"]:
            changed.append(info["doc_id"])
    return changed


def load_store(path: str | os.PathLike[str], model: str | None = None, check_sources: bool = True) -> Store:
    """Load and verify an index folder.

    Args:
        path: The index folder.
        model: Model the caller will query with; None accepts the index's own.
        check_sources: Refuse an index whose source files changed since the build.

    Returns:
        The loaded index.

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: See :func:`read_manifest` and :func:`check_files`.
        ModelMismatchError: ``model`` is not the index's model.
        StaleIndexError: A source document changed.
    """
    import bm25s
    import faiss

    folder = Path(path)
    manifest = read_manifest(folder)
    built_with = manifest["model"]["name"]
    if model is not None and canonical_model_name(model) != built_with:
        raise ModelMismatchError(
            f"index {str(folder)!r} was built with model {built_with!r}, not {canonical_model_name(model)!r}; "
            f"query it with that model, or rebuild it with `qa index PATH --index {folder} --model {model}`"
        )
    if check_sources:
        changed = stale_documents(manifest)
        if changed:
            shown = ", ".join(repr(c) for c in changed[:5]) + (" ..." if len(changed) > 5 else "")
            raise StaleIndexError(
                f"{len(changed)} document(s) changed since index {str(folder)!r} was built ({shown}); "
                "rebuild it with `qa index` so that answers and citations match the files"
            )
    check_files(folder, manifest)
    try:
        documents = {}
        for row in _read_jsonl(folder / DOCUMENTS):
            documents[row["doc_id"]] = Document(row["doc_id"], row["title"], row["text"], row["source"])
        passages = [PassageRecord(**row) for row in _read_jsonl(folder / PASSAGES)]
        sentences = [Sentence(**row) for row in _read_jsonl(folder / SENTENCES)]
        vectors = faiss.read_index(str(folder / FAISS_INDEX))
        sentence_vectors = np.load(folder / SENTENCE_VECTORS, allow_pickle=False)
        bm25 = bm25s.BM25.load(str(folder / BM25_DIR), allow_pickle=False)
        words = {w: i for i, w in enumerate(json.loads((folder / WORDS).read_text(encoding="utf-8")))}
        word_vectors = np.load(folder / WORD_VECTORS, allow_pickle=False)
    except QAError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means a damaged index
        raise CorruptIndexError(f"cannot read index {str(folder)!r} ({type(exc).__name__}: {exc}); rebuild it with `qa index`") from None
    dimension = manifest["model"]["dimension"]
    counts = manifest["counts"]
    if (
        vectors.ntotal != len(passages)
        or len(passages) != counts["passages"]
        or vectors.d != dimension
        or sentence_vectors.shape != (len(sentences), dimension)
        or len(documents) != counts["documents"]
        or word_vectors.shape != (len(words), dimension)
    ):
        raise CorruptIndexError(f"index {str(folder)!r} is inconsistent (counts or dimensions differ); rebuild it with `qa index`")
    return Store(folder, manifest, documents, passages, sentences, vectors, sentence_vectors, bm25, words, word_vectors)


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
