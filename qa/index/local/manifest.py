"""The index folder's manifest: file names, format version, and the checks made on load.

The manifest (``manifest.json``) records how an index was built (format and qa
version, model, chunking, index type), every document with its content hash and
source-file hash, and the size and SHA-256 of every index file.  This module
reads it and checks an index folder against it; :mod:`qa.index.local.build` writes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import IO

import numpy as np

from qa.versions import QA_VERSION
from qa.documents.chunking import DEFAULT_MAX_WORDS, DEFAULT_OVERLAP, PASSAGE_BOUNDARY
from qa.errors import CorruptIndexError, IndexNotFoundError, IndexVersionError
from qa.files import file_sha256, sampled_sha256
from qa.types import Document
from qa.versions import installed_versions

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
"""Version 2 added ``passage_vectors.npy``, the IVF-SQ8 index type and sampled digests of large files;
version 3 writes passage and sentence records one line per document (see :mod:`qa.index.records`)."""
READABLE_VERSIONS = (2, 3)
"""Versions this package loads (version 2's one record per line is read too)."""
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
PASSAGES = "passages.jsonl"
SENTENCES = "sentences.jsonl"
FAISS_INDEX = "index.faiss"
SENTENCE_VECTORS = "sentence_vectors.npy"
PASSAGE_VECTORS = "passage_vectors.npy"
WORDS = "words.json"
WORD_VECTORS = "word_vectors.npy"


BM25_DIR = "bm25"


HASH_MAX_BYTES = 64 * 2**20
"""Files up to this size are checked against their SHA-256 on load; larger ones by size and a sampled
digest (:func:`verify_index` hashes everything)."""
STORED_FILES = "files"
"""Sub-folder holding copies of the files added with :func:`qa.add_documents` (listed in the manifest's ``"library"``)."""
PASSAGE_POOLING = "sentence-mean-by-chars"
"""How passage vectors are made (see :func:`qa.index.local.build.pool_passages`); recorded in the manifest's chunking settings."""


def npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` file open in ``handle``, which is left at the data."""
    version = np.lib.format.read_magic(handle)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return reader(handle)


def recover(target: Path) -> None:
    """Put back an index left aside by a build that died between its two renames."""
    if target.exists():
        return
    leftovers = sorted(target.parent.glob(f".{target.name}.old-*"))
    if leftovers:
        logger.warning("restoring %s from %s (a build was interrupted)", target, leftovers[-1])
        os.rename(leftovers[-1], target)


def source_info(doc: Document, stored: bool = False) -> dict:
    """The manifest's entry of a document: id, title, source, text hash, and its source file's size, time and hash.

    Args:
        doc: The document.
        stored: The document was read from a copy kept in the index's ``files/``
            (its ``source`` is relative to the index folder, and is not checked for staleness).
    """
    info: dict = {"doc_id": doc.doc_id, "title": doc.title, "source": doc.source, "text_sha256": doc.sha256}
    if doc.page_starts:
        info["pages"] = len(doc.page_starts)
    path = Path(doc.source)
    if not stored and doc.source and not doc.source.startswith("<") and path.is_file():
        stat = path.stat()
        info.update(file_sha256=file_sha256(path), file_size=stat.st_size, file_mtime_ns=stat.st_mtime_ns)
    return info


def chunking_settings(max_words: int = DEFAULT_MAX_WORDS, overlap: int = DEFAULT_OVERLAP) -> dict:
    """The manifest's ``"chunking"`` entry: a build reuses an index's vectors only when it is the same."""
    segmenter_version = installed_versions(("pysbd",))["pysbd"]
    return {
        "max_words": max_words,
        "overlap": overlap,
        "segmenter": "pysbd-en",
        "segmenter_version": segmenter_version,
        "passage_vectors": PASSAGE_POOLING,
        "passage_boundary": PASSAGE_BOUNDARY,
    }


def outdated(manifest: dict, chunking: dict) -> list[str]:
    """What differs between how an index was built and how this qa would build it with ``chunking`` (empty: nothing)."""
    reasons = []
    if manifest.get("qa_version") != QA_VERSION:
        reasons.append(f"qa version {manifest.get('qa_version')!r}")
    if manifest.get("chunking") != chunking:
        reasons.append(f"chunking {manifest.get('chunking')!r}")
    return reasons


def read_verified(path: Path, info: dict) -> bytes:
    """A file's bytes, checked against its manifest entry (one read: what is checked is what is used)."""
    data = path.read_bytes()
    if len(data) != info["bytes"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CorruptIndexError(f"{path.name} does not match its checksum")
    return data


def read_manifest(path: str | os.PathLike[str]) -> dict:
    """Read and check the manifest of an index folder, without loading the index.

    Raises:
        IndexNotFoundError: No index in the folder.
        CorruptIndexError: The manifest is unreadable.
        IndexVersionError: The format version is not this package's.
    """
    folder = Path(path)
    recover(folder)
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
    if version not in READABLE_VERSIONS:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise IndexVersionError(
            f"index {str(folder)!r} has format version {version!r}, this qa reads versions "
            f"{' and '.join(map(str, READABLE_VERSIONS))}; "
            + ("upgrade qa, or " if newer else "")
            + "rebuild the index with `qa index`"
        )
    check_fields(manifest, folder)
    return manifest


REQUIRED_FILES = (DOCUMENTS, PASSAGES, SENTENCES, FAISS_INDEX, PASSAGE_VECTORS, SENTENCE_VECTORS, WORDS, WORD_VECTORS)
"""Files every index has, each listed in the manifest's checksum table (``"files"``)."""


def check_fields(manifest: dict, folder: Path) -> None:
    """Check that a manifest has the fields loading reads, of the right kinds, and its full checksum table.

    Raises:
        CorruptIndexError: Naming the field that is missing or wrong, and the fix (rebuild).
    """
    where, fix = str(folder), "rebuild the index with `qa index PATH --index " + str(folder) + "`"

    def bad(field: str, value: object, expected: str) -> CorruptIndexError:
        return CorruptIndexError(f"{MANIFEST} of index {where!r} has {field} = {value!r}, expected {expected}; {fix}")

    def count(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    model = manifest.get("model")
    if not isinstance(model, dict):
        raise bad('"model"', model, "an object with the model's name and dimension")
    if not isinstance(model.get("name"), str) or not model["name"]:
        raise bad('"model.name"', model.get("name"), "the embedding model's name")
    if not count(model.get("dimension")) or not model["dimension"]:
        raise bad('"model.dimension"', model.get("dimension"), "a number of dimensions greater than 0")
    counts = manifest.get("counts")
    if not isinstance(counts, dict):
        raise bad('"counts"', counts, "an object with the numbers of documents, passages and sentences")
    for key in ("documents", "passages", "sentences"):
        if not count(counts.get(key)):
            raise bad(f'"counts.{key}"', counts.get(key), "a number of 0 or more")
    index = manifest.get("index")
    if not isinstance(index, dict) or not isinstance(index.get("type"), str):
        raise bad('"index"', index, "an object with the vector index's type")
    documents = manifest.get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, dict) and isinstance(d.get("doc_id"), str) for d in documents):
        raise bad('"documents"', documents if not isinstance(documents, list) else "[...]", "a list of documents, each with its doc_id")
    if not isinstance(manifest.get("built_at"), str):
        raise bad('"built_at"', manifest.get("built_at"), "the build time")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise CorruptIndexError(
            f"{MANIFEST} of index {where!r} has no \"files\" checksum table, so its files cannot be checked and it is refused "
            f"(an index's text must not be quoted unchecked); {fix}"
        )
    for name, info in files.items():
        if not isinstance(info, dict) or not count(info.get("bytes")) or not isinstance(info.get("sha256"), str):
            raise bad(f'"files.{name}"', info, "an object with the file's bytes and sha256")
    unlisted = [name for name in REQUIRED_FILES if name not in files]
    if unlisted:
        raise CorruptIndexError(
            f"{MANIFEST} of index {where!r} has no checksum for {', '.join(unlisted)} in its \"files\" table, so it is refused; {fix}"
        )


def check_files(folder: Path, manifest: dict, full: bool = False) -> None:
    """Check every file listed in the manifest: it exists with its size, and its content is unchanged.

    Files up to ``HASH_MAX_BYTES`` are checked against their SHA-256; larger ones
    against a digest of 64 sampled blocks (so a load does not hash gigabytes;
    truncation, a damaged header and most overwrites are still caught).  With
    ``full``, every file is hashed whole (see :func:`verify_index`).

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
        if full or size <= HASH_MAX_BYTES:
            altered = file_sha256(path) != info["sha256"]
        else:
            altered = "sample_sha256" in info and sampled_sha256(path) != info["sample_sha256"]
        if altered:
            raise CorruptIndexError(f"index file {name!r} in {str(folder)!r} does not match its checksum; {fix}")


def verify_index(path: str | os.PathLike[str]) -> dict:
    """Check an index folder completely: manifest, the full SHA-256 of every file however large, and the kept files.

    Returns:
        The manifest.

    Raises:
        IndexNotFoundError, CorruptIndexError, IndexVersionError: See :func:`read_manifest` and :func:`check_files`.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    check_files(folder, manifest, full=True)
    check_stored_files(folder, manifest)
    return manifest


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


def file_entry(path: Path) -> dict:
    """The manifest's entry of one file: size and SHA-256, plus a sampled digest above ``HASH_MAX_BYTES``."""
    entry: dict = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    if entry["bytes"] > HASH_MAX_BYTES:
        entry["sample_sha256"] = sampled_sha256(path)
    return entry


def stored_files(manifest: dict) -> dict[str, dict]:
    """The files kept in the index's ``files/`` folder: name -> ``{"doc_id", "bytes", "sha256"}`` (empty for none)."""
    library = manifest.get("library")
    files = library.get("files") if isinstance(library, dict) else None
    return dict(files) if isinstance(files, dict) else {}


def has_user_documents(manifest: dict) -> bool:
    """Whether documents were added to the index with :func:`qa.add_documents` (then it is never rebuilt away)."""
    library = manifest.get("library")
    return bool(isinstance(library, dict) and (library.get("user_documents") or library.get("files")))


def check_stored_files(folder: Path, manifest: dict) -> None:
    """Check that every file kept in ``files/`` is there with its size and SHA-256.

    Raises:
        CorruptIndexError: A kept file is missing or altered.
    """
    for name, info in stored_files(manifest).items():
        path = folder / STORED_FILES / name
        if not path.is_file() or path.stat().st_size != info["bytes"] or file_sha256(path) != info["sha256"]:
            raise CorruptIndexError(
                f"the kept copy {STORED_FILES}/{name} in {str(folder)!r} is missing or altered; "
                f"add the file again with `qa add FILE --index {folder}`"
            )


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a file with one per line (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
