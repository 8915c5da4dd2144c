"""Run a sentence-transformers model with ONNX Runtime: exported once, verified, cached.

The query path of a loaded index imports neither torch nor sentence-transformers:
it needs only ``onnxruntime``, ``tokenizers`` and NumPy.  sentence-transformers
stays the source of the model: the first use of a model exports its transformer
(``model[0].auto_model``) with ``torch.onnx.export``, checks the export against
``SentenceTransformer.encode`` on sample texts, and caches both the export and
the outcome of that check.

Only models whose pipeline is ``Transformer -> Pooling(mean) [-> Normalize]`` are
eligible (see :func:`check_pipeline`); mean pooling over the attention mask and
the L2 normalisation are done in NumPy.  Tokenisation uses the model folder's
``tokenizer.json`` with sentence-transformers' settings (truncation
``longest_first`` at ``max_seq_length``, padding to the longest text of a batch).

Cache layout (``$QA_CACHE_DIR``, else ``~/.cache/qa``)::

    onnx/
      fingerprints.json             model folder -> content hash, memoised by file size and mtime
      .<entry>.lock                 flock held while an entry is written
      <model-slug>-<key>/           one export; <key> hashes the model files and the exporter versions
        meta.json                   model, versions, max_seq_length, dimension, inputs, file hashes
        tokenizer.json              copy of the model's tokenizer
        model.onnx                  fp32 export
        model.int8.onnx             dynamically quantised copy (made on first request)
        words.npy                   fp32 vectors of every one-token text, [CLS] t [SEP] (see WORD_TABLE)
        words.int8.npy              the same for the int8 copy (made with it)
        verify-fp32.json            outcome of the check against sentence-transformers, hashes of the
        verify-int8.json            files checked (per onnxruntime version; a failed check is remembered too)

Entries are written into a temporary folder and renamed into place, single files
with ``os.replace``, under an exclusive ``flock``, so concurrent processes never
see a half-written export.  A damaged file (size/mtime changed and SHA-256
differs, unreadable JSON, a model ONNX Runtime cannot load) triggers a fresh
export; anything that still goes wrong raises :class:`OnnxUnavailable`, which
the caller turns into a logged fallback to the torch backend.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from qa.embedding import INT8_SUFFIX, normalize
from qa.errors import QAError
from qa.store import file_sha256
from qa.versions import installed_versions

logger = logging.getLogger(__name__)

CACHE_ENV = "QA_CACHE_DIR"
"""Environment variable naming the cache folder (default ``~/.cache/qa``)."""
EXPORT_VERSION = 3
"""Bump when the export code changes: older cache entries are then ignored."""
OPSET = 17
VARIANTS = ("fp32", "int8")
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
MIN_COSINE = {"fp32": 0.999, "int8": 0.95}
"""Smallest cosine to sentence-transformers' embedding accepted on any sample text."""
MIN_MEAN_COSINE = {"fp32": 0.9995, "int8": 0.98}
"""Smallest mean cosine over the sample texts."""
def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


QUERY_THREADS = min(2, _cpus())
"""ONNX Runtime intra-op threads of the session that encodes questions.

Measured on a 2-core VM (fused fp32 graph, one question): 1 thread 6-7 ms,
2 threads 3.7-4.5 ms when the cores are free; when other processes keep the
cores busy, 2 spinning threads double the latency (17-22 ms vs 9-10 ms) while 2
non-spinning threads match 1 thread (9-9.5 ms).  Hence 2 threads, no spinning.
"""
BATCH_THREADS = min(8, _cpus())
"""Intra-op threads of the session that encodes builds (many texts at once)."""
SPIN = False
"""Let idle intra-op threads spin between operators (ONNX Runtime's default; see :data:`QUERY_THREADS`)."""
BATCH_SESSION_MIN_TEXTS = 32
"""Calls with at least this many texts use the build session."""
WORD_TABLE = True
"""Precompute, at export, the vector of every text that is a single token (``[CLS] word [SEP]``).

Questions are encoded together with their words that the corpus lacks (for soft
term matching), and those are almost always one token each; looking them up
instead of running the model a second time takes ~40% off a question's encoding.
Costs ~20 s once per model (2 cores) and ~37 MB of cache.
"""
WORD_TABLE_FILES = {"fp32": "words.npy", "int8": "words.int8.npy"}
"""The table of each variant.  The int8 model's dynamic quantisation scales
activations per batch, so its vectors depend on the batch a text is encoded in
(down to cosine 0.96 for one-token texts); its table holds each token encoded
alone, so that a word gets the same vector whatever it is encoded with."""
WORD_TABLE_LIMIT: int | None = None
"""Precompute only this many tokens (None: the whole vocabulary; tests use a small number)."""
PARALLEL_TOKENIZE_MIN_TEXTS = 64
"""Calls with at least this many texts are tokenised in parallel (``encode_batch``)."""
LOCK_TIMEOUT_S = 900.0
"""Longest wait for another process that is exporting the same model."""
MODEL_FILE_PATTERNS = (".json", ".txt", ".model", ".safetensors", ".bin")
"""Files of a model folder that enter its fingerprint (plus every file of its module folders)."""
FINGERPRINT_SKIP = {"README.md", ".gitattributes", "data_config.json"}


class OnnxUnavailable(Exception):
    """The ONNX backend cannot serve this model; the message is the reason."""


class IneligibleModel(OnnxUnavailable):
    """The model's pipeline is not one the ONNX backend reproduces (an expected, quiet fallback)."""


# --------------------------------------------------------------------------- paths and hashes


def cache_root() -> Path:
    """The cache folder: ``$QA_CACHE_DIR``, else ``~/.cache/qa``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qa"


def onnx_cache_dir() -> Path:
    """Folder holding the ONNX exports (``<cache>/onnx``)."""
    return cache_root() / "onnx"


def file_record(path: Path) -> dict:
    """Size, mtime and SHA-256 of a file, as stored in the cache's JSON records."""
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def file_matches(path: Path, record: dict) -> bool:
    """Whether a file still has the recorded content (same size and mtime, else same SHA-256)."""
    try:
        stat = path.stat()
        if stat.st_size != record["bytes"]:
            return False
        if stat.st_mtime_ns == record["mtime_ns"]:
            return True
        return file_sha256(path) == record["sha256"]
    except (OSError, KeyError, TypeError):
        return False


def _read_json(path: Path, kind: type = dict) -> Any:
    """The JSON value in ``path`` if it is readable and of type ``kind`` (a dict or list), else None."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, kind) else None


def _write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through a synced temporary file renamed over ``path`` (readers never see a partial file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json_atomic(path: Path, value: dict) -> None:
    _write_atomic(path, lambda handle: handle.write(json.dumps(value, indent=2, sort_keys=True).encode("utf-8")))


def _fingerprint_files(folder: Path) -> list[Path]:
    files = [
        p for p in folder.iterdir()
        if p.is_file() and p.name not in FINGERPRINT_SKIP and not p.name.startswith(".") and p.suffix in MODEL_FILE_PATTERNS
    ]
    modules = _read_json(folder / "modules.json", list) or []
    for module in modules:
        sub = str(module.get("path") or "") if isinstance(module, dict) else ""
        if sub and (folder / sub).is_dir():
            files.extend(p for p in (folder / sub).rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(set(files))


def model_fingerprint(folder: Path) -> str:
    """SHA-256 over the names and contents of a model folder's weight, config and tokenizer files.

    Hashing the weights takes ~0.1 s, so the result is memoised in
    ``<cache>/onnx/fingerprints.json`` keyed by each file's size and mtime.
    """
    folder = folder.resolve()
    files = _fingerprint_files(folder)
    stats = {}
    for path in files:
        stat = path.stat()
        stats[path.relative_to(folder).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    memo_path = onnx_cache_dir() / "fingerprints.json"
    memo = _read_json(memo_path) or {}
    entry = memo.get(str(folder))
    if isinstance(entry, dict) and entry.get("files") == stats and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + file_sha256(path).encode() + b"\n")
    fingerprint = digest.hexdigest()
    memo[str(folder)] = {"files": stats, "sha256": fingerprint}
    with contextlib.suppress(OSError):
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(memo_path, memo)
    return fingerprint


EXPORTER_PACKAGES = ("torch", "transformers", "sentence-transformers")


def entry_name(model_name: str, fingerprint: str) -> str:
    """Folder name of a model's cache entry: a readable slug plus a hash of everything the export depends on."""
    key_source = json.dumps(
        {"fingerprint": fingerprint, "export_version": EXPORT_VERSION, "opset": OPSET, **installed_versions(EXPORTER_PACKAGES)},
        sort_keys=True,
    )
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name.rstrip("/").rsplit("/", 1)[-1])[:48] or "model"
    return f"{slug}-{key}"


# --------------------------------------------------------------------------- eligibility


def check_pipeline(folder: Path) -> str | None:
    """Why a sentence-transformers model folder cannot use the ONNX backend, or None when it can.

    Eligible: modules ``Transformer``, ``Pooling`` with mean pooling only, and
    optionally ``Normalize``; a ``tokenizer.json``; no default prompt; no
    lower-casing done by sentence-transformers itself.
    """
    modules = _read_json(folder / "modules.json", list)
    if not modules:
        return f"no readable modules.json in {folder}"
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] if isinstance(m, dict) else "" for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"pipeline is {' -> '.join(kinds) or 'empty'}, not Transformer -> Pooling(mean) [-> Normalize]"
    if modules[0].get("path") not in ("", None):
        return "the Transformer module is not at the top of the model folder"
    pooling = _read_json(folder / str(modules[1].get("path") or "") / "config.json")
    if pooling is None:
        return "no readable pooling config"
    if "pooling_mode" in pooling:
        mode = pooling["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else list(mode or [])
    else:
        legacy = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max", "pooling_mode_mean_tokens": "mean",
                  "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens": "weightedmean",
                  "pooling_mode_lasttoken": "lasttoken"}
        modes = [mode for key, mode in legacy.items() if pooling.get(key)] or ["mean"]
    if modes != ["mean"]:
        return f"pooling is {'+'.join(modes)}, not mean"
    if not (folder / "tokenizer.json").is_file():
        return "the model folder has no tokenizer.json"
    st_config = _read_json(folder / "sentence_bert_config.json") or {}
    if st_config.get("do_lower_case"):
        return "sentence-transformers lower-cases the input of this model (do_lower_case)"
    if (_read_json(folder / "config_sentence_transformers.json") or {}).get("default_prompt_name"):
        return "the model has a default prompt"
    return None


# --------------------------------------------------------------------------- the embedder


class OnnxEmbedder:
    """A verified ONNX export of a sentence-transformers model, run with ONNX Runtime on the CPU.

    Thread-safe: ``InferenceSession.run`` and the tokenizer may be called from
    many threads at once.  Questions (few texts) use a session with
    :data:`QUERY_THREADS` intra-op threads; builds (many texts) a session with
    :data:`BATCH_THREADS`, created on first use when the two differ.

    Args:
        name: The model's canonical name; the int8 variant's identity is ``name + "#int8"``.
        entry: The cache entry folder.
        meta: Its ``meta.json``.
        variant: ``"fp32"`` or ``"int8"``.
    """

    def __init__(self, name: str, entry: Path, meta: dict, variant: str) -> None:
        self.name = name if variant == "fp32" else name + INT8_SUFFIX
        self.variant = variant
        self.backend = "onnx" if variant == "fp32" else "onnx-int8"
        self._setup(entry / ONNX_FILES[variant], entry / "tokenizer.json", meta, QUERY_THREADS)

    def _setup(self, model_path: Path, tokenizer_path: Path, meta: dict, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.variant = getattr(self, "variant", "fp32")
        self.dimension = int(meta["dimension"])
        self.max_seq_length = int(meta["max_seq_length"])
        self.model_path = model_path
        self._inputs = list(meta["inputs"])
        self._pad_id = int(meta.get("pad_token_id") or 0)
        self._prefused = self.variant == "fp32" and meta.get("graph") == "fused"
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_seq_length, strategy="longest_first", direction="right")
        self._tokenizer = tokenizer
        self._ort = onnxruntime
        self._threads = threads
        self._session = self._new_session(threads)
        names = [i.name for i in self._session.get_inputs()]
        if sorted(names) != sorted(self._inputs):
            raise OnnxUnavailable(f"the ONNX model takes inputs {names}, expected {self._inputs}")
        self._output = self._session.get_outputs()[0].name
        self._batch_session = None
        self._lock = threading.Lock()
        self._table: np.ndarray | None = None
        self._table_ends = self._single_token_ends()

    def _single_token_ends(self) -> tuple[int, int] | None:
        """The special tokens around a one-token text (``[CLS]``, ``[SEP]``), if texts are wrapped that way."""
        vocab = self._tokenizer.get_vocab()
        for word in ("the", "a", "hello", "is", "of"):
            ids = self._tokenizer.encode(word).ids
            if len(ids) == 3 and ids[1] == vocab.get(word):
                return ids[0], ids[2]
        return None

    def attach_table(self, path: Path) -> bool:
        """Use the precomputed one-token vectors in ``path`` (see :func:`build_word_table`); False if unusable."""
        try:
            table = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            logger.warning("cannot read the one-token vectors %s (%s); encoding without them", path, exc)
            return False
        if self._table_ends is None or table.ndim != 2 or table.shape[1] != self.dimension or table.dtype != np.float32:
            logger.warning("the one-token vectors %s do not fit this model; encoding without them", path)
            return False
        self._table = table
        return True

    def _new_session(self, threads: int) -> object:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        levels = self._ort.GraphOptimizationLevel
        # a graph fused at export needs only the basic rewrites: the session is made in half the time (0.13-0.15 s
        # instead of 0.3 s, measured on the 2-core VM) and runs as fast
        options.graph_optimization_level = levels.ORT_ENABLE_BASIC if self._prefused else levels.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads > 1 and not SPIN:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return self._ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])

    def _session_for(self, count: int) -> object:
        if count < BATCH_SESSION_MIN_TEXTS or BATCH_THREADS == self._threads:
            return self._session
        with self._lock:
            if self._batch_session is None:
                self._batch_session = self._new_session(BATCH_THREADS)
            return self._batch_session

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, truncated as sentence-transformers truncates them."""
        return [e.ids for e in self._encode_tokens(texts)]

    def _encode_tokens(self, texts: Sequence[str]) -> list:
        if len(texts) < PARALLEL_TOKENIZE_MIN_TEXTS:  # encode_batch's thread pool costs ~ms per call; a loop costs ~20 us a text
            return [self._tokenizer.encode(t) for t in texts]
        return self._tokenizer.encode_batch(list(texts))

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode texts into unit vectors.

        Texts are sorted by token count and batched so that padding stays small
        (see :func:`batches`): on a CPU the cost is that of the padded tokens.

        Args:
            texts: Texts to encode.
            batch_size: Most texts per forward pass.
            show_progress: Show a progress bar.

        Returns:
            A ``(len(texts), dimension)`` float32 array.
        """
        count = len(texts)
        if count == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._encode_tokens([str(t) for t in texts])
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=count)
        out = np.empty((count, self.dimension), dtype=np.float32)
        todo = self._from_table(encodings, out)
        if len(todo) == 0:
            return normalize(out)
        session = self._session_for(len(todo))
        progress = None
        if show_progress:
            with contextlib.suppress(ImportError):
                from tqdm.auto import tqdm

                progress = tqdm(total=count, desc="Encoding", unit="text", initial=count - len(todo))
        try:
            for batch in batches(lengths[todo], batch_size):
                rows = todo[batch]
                width = int(lengths[rows[0]])
                ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                types = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    enc = encodings[i]
                    n = len(enc.ids)
                    ids[r, :n] = enc.ids
                    mask[r, :n] = 1
                    types[r, :n] = enc.type_ids
                out[rows] = self._forward(session, ids, mask, types)
                if progress is not None:
                    progress.update(len(rows))
        finally:
            if progress is not None:
                progress.close()
        return normalize(out)

    def _forward(self, session: object, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Run the model on one padded batch; mean-pool the token vectors over the attention mask."""
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = session.run([self._output], {k: feed[k] for k in self._inputs})[0]  # type: ignore[attr-defined]
        weights = mask.astype(np.float32)
        pooled = np.matmul(weights[:, None, :], hidden)[:, 0, :]
        pooled /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        return pooled

    def _from_table(self, encodings: list, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` for one-token texts found in the table; return the positions left to encode."""
        everything = np.arange(len(encodings))
        table, ends = self._table, self._table_ends
        if table is None or ends is None:
            return everything
        found = [
            (i, e.ids[1]) for i, e in enumerate(encodings)
            if len(e.ids) == 3 and e.ids[0] == ends[0] and e.ids[2] == ends[1] and 0 <= e.ids[1] < len(table)
        ]
        if not found:
            return everything
        positions = np.array([i for i, _ in found])
        rows = np.asarray(table[[t for _, t in found]], dtype=np.float32)
        known = ~np.isnan(rows[:, 0])
        out[positions[known]] = rows[known]
        done = np.zeros(len(encodings), dtype=bool)
        done[positions[known]] = True
        return everything[~done]


def build_word_table(embedder: OnnxEmbedder, path: Path, limit: int | None = None) -> int:
    """Precompute the pooled vector of every one-token text and save it to ``path``.

    Row ``t`` holds the vector of the token sequence ``[CLS] t [SEP]`` (NaN for
    tokens left out: word-continuation pieces such as ``##ing``, which no text
    starts with, and those beyond ``limit``), computed by the same model and
    pooling as :meth:`OnnxEmbedder.encode`, so a lookup equals encoding.

    Returns:
        The number of tokens precomputed (0 when the tokenizer does not wrap one-token texts in two special tokens).
    """
    ends = embedder._table_ends
    if ends is None:
        return 0
    tokenizer = embedder._tokenizer
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    model = json.loads(tokenizer.to_str()).get("model") or {}
    prefix = model.get("continuing_subword_prefix") if model.get("type") == "WordPiece" else None
    ids = sorted(i for token, i in vocab.items() if not (prefix and token.startswith(prefix)))
    if limit is not None:
        ids = ids[:limit]
    table = np.full((size, embedder.dimension), np.nan, dtype=np.float32)
    session = embedder._session_for(BATCH_SESSION_MIN_TEXTS)
    step = 256 if embedder.variant == "fp32" else 1  # int8: each token alone (see WORD_TABLE_FILES)
    for start in range(0, len(ids), step):
        chunk = np.asarray(ids[start : start + step], dtype=np.int64)
        tokens = np.stack([np.full(len(chunk), ends[0]), chunk, np.full(len(chunk), ends[1])], axis=1).astype(np.int64)
        table[chunk] = embedder._forward(session, tokens, np.ones_like(tokens), np.zeros_like(tokens))
    _write_atomic(path, lambda handle: np.save(handle, table, allow_pickle=False))
    return len(ids)


def batches(lengths: np.ndarray, batch_size: int, slack: float = 1.25, extra: int = 2) -> Iterator[np.ndarray]:
    """Split texts, longest first, into batches whose padding stays small.

    A batch ends when it holds ``batch_size`` texts or when the next text is so
    much shorter than the batch's longest (``longest > slack * length + extra``)
    that padding it would cost more than a forward pass of its own.

    Args:
        lengths: Token count of each text.
        batch_size: Most texts per batch.

    Yields:
        Arrays of text positions, each sorted by decreasing length.
    """
    order = np.argsort(-lengths, kind="stable")
    batch_size = max(1, int(batch_size))
    start = 0
    while start < len(order):
        longest = lengths[order[start]]
        stop = start + 1
        while stop < len(order) and stop - start < batch_size and longest <= slack * lengths[order[stop]] + extra:
            stop += 1
        yield order[start:stop]
        start = stop


# --------------------------------------------------------------------------- export and verification

SAMPLE_TEXTS = (
    "What does the pact cover?",
    "Who is Japan's foreign minister?",
    "",
    "   leading and trailing   spaces   ",
    "Hi",
    "naïve café — Tōkyō, 東京, Ελλάδα, Москва 🇪🇺🤝🇯🇵",
    "Japan and the European Union announced a sweeping new security and defense partnership in Tokyo, "
    "which the EU foreign policy chief hailed as a historic and very timely step.",
    "URL https://example.com/a?b=c&d=e, e-mail someone@example.org, numbers 3.14159 and 1,000,000.",
    "partnership",
    "Tokyo",
    "drills",
    "2035",
)


def sample_texts() -> list[str]:
    """Texts the export is checked on: short and long, odd characters, and texts beyond 256 tokens."""
    texts = list(SAMPLE_TEXTS)
    article = Path(__file__).parent / "data" / "eu-japan-security-pact.txt"
    with contextlib.suppress(OSError):
        body = article.read_text(encoding="utf-8")
        texts += [body[:600], body[:1400], body]  # ~130 tokens, ~300 tokens (truncated), the whole article
    texts.append(" ".join(f"token{i} means word number {i}." for i in range(200)))  # ~1400 tokens, truncated
    return texts


def _st_reference(st_model: object, texts: list[str]) -> tuple[np.ndarray, list[list[int]]]:
    """sentence-transformers' unit vectors and (unpadded) token ids of ``texts``."""
    vectors = st_model.encode(texts, batch_size=8, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False)  # type: ignore[attr-defined]
    preprocess = getattr(st_model, "preprocess", None) or st_model.tokenize  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = preprocess(texts)
    ids = features["input_ids"].tolist()
    mask = features["attention_mask"].tolist()
    return normalize(vectors), [[t for t, m in zip(row, keep) if m] for row, keep in zip(ids, mask)]


def verify(embedder: OnnxEmbedder, st_model: object) -> dict:
    """Compare an ONNX embedder with sentence-transformers on :func:`sample_texts`.

    Checks that the token ids are identical (truncation included) and that each
    vector's cosine to sentence-transformers' is at least ``MIN_COSINE[variant]``,
    encoding the texts one at a time and as one padded batch.

    Returns:
        The record saved as ``verify-<variant>.json``: ``ok``, ``reason``, cosines.
    """
    import onnxruntime

    texts = sample_texts()
    reference, reference_ids = _st_reference(st_model, texts)
    record: dict = {
        "ok": False,
        "reason": "",
        "variant": embedder.variant,
        "texts": len(texts),
        "onnxruntime": onnxruntime.__version__,
        "checked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    ids = embedder.tokenize(texts)
    differ = [i for i, (a, b) in enumerate(zip(ids, reference_ids)) if a != b]
    record["max_tokens"] = max(len(row) for row in ids)
    if differ:
        record["reason"] = f"tokenisation differs from sentence-transformers on {len(differ)} sample text(s), e.g. #{differ[0]}"
        return record
    batched = embedder.encode(texts, batch_size=len(texts))
    single = np.concatenate([embedder.encode([t]) for t in texts])
    cosines = np.concatenate([(batched * reference).sum(axis=1), (single * reference).sum(axis=1)])
    record["min_cosine"] = round(float(cosines.min()), 6)
    record["mean_cosine"] = round(float(cosines.mean()), 6)
    variant = embedder.variant
    if record["min_cosine"] < MIN_COSINE[variant] or record["mean_cosine"] < MIN_MEAN_COSINE[variant]:
        record["reason"] = (
            f"embeddings differ from sentence-transformers: min cosine {record['min_cosine']:.4f} "
            f"(need {MIN_COSINE[variant]}), mean {record['mean_cosine']:.4f} (need {MIN_MEAN_COSINE[variant]})"
        )
        return record
    if embedder._table is not None:
        words = ["partnership", "tokyo", "navy", "the", "2035", "[UNK]", "defence", "ships"]
        table = embedder._table
        embedder._table = None
        def each(texts: list[str]) -> np.ndarray:  # int8: one text a batch (see WORD_TABLE_FILES)
            return embedder.encode(texts) if variant == "fp32" else np.concatenate([embedder.encode([t]) for t in texts])

        try:
            direct = each(words)
        finally:
            embedder._table = table
        record["table_min_cosine"] = round(float((each(words) * direct).sum(axis=1).min()), 6)
        if record["table_min_cosine"] < 0.99999:
            record["reason"] = f"precomputed one-token vectors differ from the model's (min cosine {record['table_min_cosine']:.6f})"
            return record
    record["ok"] = True
    return record


def export(st_model: object, model_folder: Path, folder: Path, model_name: str, fingerprint: str) -> None:
    """Export the transformer of a loaded SentenceTransformer to ``folder`` (model.onnx, tokenizer.json, meta.json).

    ``model_folder`` is the folder the SentenceTransformer was loaded from (its ``tokenizer.json`` is copied).

    The attention is exported in its ``eager`` form (plain MatMul/Softmax, which
    ONNX Runtime fuses and runs faster than the traced SDPA graph); the model's own
    attention implementation is restored afterwards.
    """
    import inspect

    import torch

    transformer = st_model[0]  # type: ignore[index]
    auto_model = transformer.auto_model
    tokenizer = transformer.tokenizer
    preprocess = getattr(st_model, "preprocess", None) or st_model.tokenize  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = preprocess(["An example sentence to trace the model.", "A shorter one."])
    accepted = inspect.signature(auto_model.forward).parameters
    inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features and n in accepted]
    if inputs[:2] != ["input_ids", "attention_mask"]:
        raise OnnxUnavailable(f"the tokenizer gives {sorted(features)}; input_ids and attention_mask are needed")

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(inputs, args)))[0]

    previous = getattr(auto_model.config, "_attn_implementation", None)
    switched = False
    if previous not in (None, "eager") and hasattr(auto_model, "set_attn_implementation"):
        try:
            auto_model.set_attn_implementation("eager")
            switched = True
        except Exception as exc:  # noqa: BLE001 - keep the default attention if eager is unsupported
            logger.debug("cannot switch to eager attention for the export: %s", exc)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in [*inputs, "last_hidden_state"]}
    was_training = auto_model.training
    auto_model.eval()
    plain = folder / "model.plain.onnx"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapper(),
                tuple(features[n] for n in inputs),
                str(plain),
                input_names=inputs,
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    finally:
        if switched:
            auto_model.set_attn_implementation(previous)
        auto_model.train(was_training)
    if not (model_folder / "tokenizer.json").is_file():
        raise OnnxUnavailable("the model folder has no tokenizer.json")
    shutil.copyfile(model_folder / "tokenizer.json", folder / "tokenizer.json")
    dimension = st_model.get_embedding_dimension() if hasattr(st_model, "get_embedding_dimension") else None  # type: ignore[attr-defined]
    runtime = {
        "max_seq_length": int(st_model.max_seq_length),  # type: ignore[attr-defined]
        "dimension": int(dimension or st_model.get_sentence_embedding_dimension()),  # type: ignore[attr-defined]
        "inputs": inputs,
        "pad_token_id": int(tokenizer.pad_token_id or 0),
    }
    graph = _fuse(plain, folder / ONNX_FILES["fp32"], auto_model.config, folder / "tokenizer.json", runtime)
    meta = {
        "export_version": EXPORT_VERSION,
        "model": model_name,
        "source": str(model_folder),
        "fingerprint": fingerprint,
        "versions": installed_versions((*EXPORTER_PACKAGES, "onnxruntime", "onnx")),
        "opset": OPSET,
        "attention": "eager" if switched or previous == "eager" else str(previous),
        "graph": graph,
        **runtime,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {name: file_record(folder / name) for name in (ONNX_FILES["fp32"], "tokenizer.json")},
    }
    _write_json_atomic(folder / "meta.json", meta)


FUSED_MODEL_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra"}
"""Architectures whose exported graph ONNX Runtime's transformer optimizer fuses (``model_type="bert"``)."""


def _fuse(plain: Path, target: Path, config: object, tokenizer_json: Path, runtime: dict) -> str:
    """Fuse attention, LayerNorm and GELU of the plain export with ONNX Runtime's transformer optimizer.

    The fused graph loads ~2x faster and runs ~15% faster.  It is kept only when
    its outputs equal the plain graph's on the sample texts; otherwise the plain
    graph is used.

    Returns:
        ``"fused"`` or ``"plain"``, the graph written to ``target``.
    """
    model_type = str(getattr(config, "model_type", ""))
    reason = ""
    if model_type in FUSED_MODEL_TYPES:
        fused = target.with_name("model.fused.onnx")
        try:
            from onnxruntime.transformers import optimizer

            quiet = [logging.getLogger(n) for n in ("onnxruntime", "onnxruntime.transformers", "fusion_base", "onnx_model", "onnx_model_bert")]
            levels = [q.level for q in quiet]
            for q in quiet:
                q.setLevel(logging.ERROR)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = optimizer.optimize_model(
                        str(plain), model_type="bert",
                        num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                        hidden_size=int(getattr(config, "hidden_size", 0) or 0), opt_level=0,
                    )
                    model.save_model_to_file(str(fused))
            finally:
                for q, level in zip(quiet, levels):
                    q.setLevel(level)
            worst = _graphs_agree(plain, fused, tokenizer_json, runtime)
            if worst >= 0.99999:
                os.replace(fused, target)
                plain.unlink()
                return "fused"
            reason = f"fused graph differs from the plain one (min cosine {worst:.6f})"
        except Exception as exc:  # noqa: BLE001 - fusion is an optimisation only
            reason = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            fused.unlink()
        logger.info("keeping the plain ONNX graph (%s)", reason)
    os.replace(plain, target)
    return "plain"


def _graphs_agree(a: Path, b: Path, tokenizer_json: Path, meta: dict) -> float:
    """Smallest cosine between the mean-pooled outputs of two ONNX graphs on the sample texts."""
    vectors = []
    for path in (a, b):
        embedder = OnnxEmbedder.__new__(OnnxEmbedder)
        embedder._setup(path, tokenizer_json, meta, threads=BATCH_THREADS)
        texts = sample_texts()
        vectors.append(np.concatenate([embedder.encode(texts), embedder.encode(texts[:1])]))
    return float((vectors[0] * vectors[1]).sum(axis=1).min())


def quantize(entry: Path) -> None:
    """Write ``model.int8.onnx``: dynamic int8 quantisation of the fp32 export (per-channel weights)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(prefix=".model.int8.", suffix=".onnx", dir=entry)
    os.close(fd)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # a module the quantiser imports calls logging.basicConfig()
    chatter = _BelowError()  # and it logs dozens of notes through logging.info/warning() on the root logger
    root.addFilter(chatter)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(entry / ONNX_FILES["fp32"]), tmp, weight_type=QuantType.QInt8, per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, entry / ONNX_FILES["int8"])
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        root.removeFilter(chatter)
        root.handlers[:] = handlers
        root.setLevel(level)


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


# --------------------------------------------------------------------------- the cache


@contextlib.contextmanager
def _entry_lock(root: Path, entry: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{entry}.lock").open("a") as handle:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    logger.info("waiting for another process to finish exporting %s", entry)
                    waited = True
                if time.monotonic() > deadline:
                    raise OnnxUnavailable(f"timed out after {timeout:.0f} s waiting for the lock on {root / entry}") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _valid_meta(entry: Path) -> dict | None:
    """The entry's meta.json when it and the files it lists are intact."""
    meta = _read_json(entry / "meta.json")
    if meta is None or meta.get("export_version") != EXPORT_VERSION:
        return None
    files = meta.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(info, dict) and file_matches(entry / name, info) for name, info in files.items()
    ):
        return None
    required = ("max_seq_length", "dimension", "inputs")
    return meta if all(k in meta for k in required) else None


def _verified_record(entry: Path, variant: str) -> dict | None:
    """The saved verification of a variant, if it applies to this onnxruntime and to the file as it is now."""
    import onnxruntime

    record = _read_json(entry / f"verify-{variant}.json")
    if record is None or record.get("onnxruntime") != onnxruntime.__version__:
        return None
    if not isinstance(record.get("file"), dict) or not file_matches(entry / ONNX_FILES[variant], record["file"]):
        return None
    return record


def _fsync_files(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def _remove_entry(path: Path) -> None:
    if path.exists():
        trash = path.with_name(f".{path.name}.trash-{os.getpid()}")
        os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)


def load_onnx_embedder(name: str, folder: Path, variant: str, load_st: Callable[[], object]) -> OnnxEmbedder:
    """The ONNX embedder of a model, exporting and verifying it first when the cache lacks it.

    Args:
        name: The model's canonical name (see ``qa.embedding.canonical_model_name``), without ``#int8``.
        folder: The sentence-transformers model folder.
        variant: ``"fp32"`` or ``"int8"``.
        load_st: Returns the loaded SentenceTransformer (only called to export or verify).

    Raises:
        OnnxUnavailable: The model is not eligible, or export or verification failed (the reason says which).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}. Currently, variant is {variant!r}.")
    reason = check_pipeline(folder)
    if reason:
        raise IneligibleModel(reason)
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime or tokenizers is not installed ({exc})") from None
    try:
        root = onnx_cache_dir()
        fingerprint = model_fingerprint(folder)
        entry_id = entry_name(name, fingerprint)
    except OSError as exc:
        raise OnnxUnavailable(f"cannot read the model folder or the cache ({exc})") from None
    entry = root / entry_id
    fast = _load_cached(name, entry, variant)
    if isinstance(fast, OnnxEmbedder):
        return fast
    try:
        with _entry_lock(root, entry_id):
            return _prepare(name, folder, entry, variant, fingerprint, load_st)
    except (OnnxUnavailable, QAError, KeyboardInterrupt, SystemExit):
        raise
    except OSError as exc:
        raise OnnxUnavailable(f"cannot write the ONNX cache in {root} ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any other failure means: use the torch backend
        raise OnnxUnavailable(f"preparing the ONNX model failed ({type(exc).__name__}: {exc})") from exc


def _load_cached(name: str, entry: Path, variant: str) -> OnnxEmbedder | str | None:
    """The embedder from a complete, verified cache entry; else None (or the recorded reason the check failed)."""
    meta = _valid_meta(entry)
    if meta is None:
        return None
    record = _verified_record(entry, variant)
    if record is None:
        return None
    if not record.get("ok"):
        raise OnnxUnavailable(f"{record.get('reason') or 'the ONNX export did not match sentence-transformers'} (checked before, see {entry})")
    try:
        embedder = OnnxEmbedder(name, entry, meta, variant)
    except Exception as exc:  # noqa: BLE001 - an unloadable export is re-made under the lock
        logger.warning("cached ONNX model %s cannot be loaded (%s); exporting it again", entry / ONNX_FILES[variant], exc)
        return None
    table = record.get("table")
    if isinstance(table, dict):
        path = entry / WORD_TABLE_FILES[variant]
        if file_matches(path, table):
            embedder.attach_table(path)
        else:
            logger.warning("the one-token vectors %s are missing or changed; encoding without them", path)
    return embedder


def _prepare(name: str, folder: Path, entry: Path, variant: str, fingerprint: str, load_st: Callable[[], object]) -> OnnxEmbedder:
    """Under the entry lock: export, quantise and verify as needed, then load."""
    cached = _load_cached(name, entry, variant)  # another process may have finished meanwhile
    if isinstance(cached, OnnxEmbedder):
        return cached
    meta = _valid_meta(entry)
    fp32_loads = meta is not None and _loads(entry / ONNX_FILES["fp32"])
    if not fp32_loads:
        if entry.exists():
            logger.warning("the ONNX cache entry %s is incomplete or damaged; exporting again", entry)
        st_model = load_st()
        started = time.perf_counter()
        logger.info("exporting %s to ONNX (once; cached in %s)", name, entry)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=entry.parent))
        try:
            export(st_model, folder, tmp, name, fingerprint)
            _fsync_files(tmp)
            _remove_entry(entry)
            os.rename(tmp, entry)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, (OnnxUnavailable, KeyboardInterrupt, SystemExit)):
                raise
            raise OnnxUnavailable(f"the ONNX export failed ({type(exc).__name__}: {exc})") from exc
        logger.info("exported %s to ONNX in %.1f s", name, time.perf_counter() - started)
        meta = _valid_meta(entry)
        if meta is None:
            raise OnnxUnavailable(f"the ONNX export in {entry} cannot be read back")
    if variant == "int8" and not (_verified_record(entry, "int8") and _loads(entry / ONNX_FILES["int8"])):
        logger.info("quantising the ONNX export of %s to int8", name)
        try:
            quantize(entry)
        except Exception as exc:  # noqa: BLE001 - report as unavailable
            raise OnnxUnavailable(f"int8 quantisation failed ({type(exc).__name__}: {exc})") from exc
    try:
        embedder = OnnxEmbedder(name, entry, meta, variant)
    except OnnxUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001
        raise OnnxUnavailable(f"ONNX Runtime cannot load {entry / ONNX_FILES[variant]} ({type(exc).__name__}: {exc})") from exc
    table_path = entry / WORD_TABLE_FILES[variant]
    if WORD_TABLE:
        started = time.perf_counter()
        logger.info("precomputing the %s vectors of one-token texts (once)", variant)
        count = build_word_table(embedder, table_path, WORD_TABLE_LIMIT)
        if count and embedder.attach_table(table_path):
            logger.info("precomputed %d one-token vectors in %.1f s", count, time.perf_counter() - started)
    logger.info("checking the ONNX %s model against sentence-transformers on sample texts", variant)
    record = verify(embedder, load_st())
    record["file"] = file_record(entry / ONNX_FILES[variant])
    if embedder._table is not None:
        record["table"] = file_record(table_path)
    _write_json_atomic(entry / f"verify-{variant}.json", record)
    if not record["ok"]:
        raise OnnxUnavailable(record["reason"])
    logger.info("ONNX %s model of %s verified (min cosine %.6f to sentence-transformers)", variant, name, record["min_cosine"])
    return embedder


def _loads(path: Path) -> bool:
    """Whether ONNX Runtime can load the model file (a cheap check of a file of unknown state)."""
    import onnxruntime

    if not path.is_file():
        return False
    try:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 4
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001
        return False
    return True
