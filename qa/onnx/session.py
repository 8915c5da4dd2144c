"""Run ONNX graphs with ONNX Runtime on the CPU: sessions, tokenizers and the ONNX embedder.

The one place that says how this package runs an ONNX graph: :func:`new_session`
makes an ``onnxruntime.InferenceSession`` with the thread and optimisation
settings measured for this package (see :data:`QUERY_THREADS`), and
:func:`load_tokenizer` loads a ``tokenizer.json`` without padding and with
truncation.  Both serve any model: the sentence embedder
(:class:`OnnxEmbedder`) and the answer reader (:mod:`qa.answering.reader`).

:class:`OnnxEmbedder` runs a sentence-transformers model exported by
:mod:`qa.onnx.export` (``Transformer -> Pooling(mean) [-> Normalize]``): mean
pooling over the attention mask and the L2 normalisation are done in NumPy, and
tokenisation follows sentence-transformers (truncation ``longest_first`` at
``max_seq_length``, padding to the longest text of a batch).

Imports only NumPy at import time; ``onnxruntime`` and ``tokenizers`` when a
session or tokenizer is made.  Never torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    import tokenizers

logger = logging.getLogger(__name__)

INT8_SUFFIX = "#int8"
"""Appended to a model's name when it runs quantised to int8 (a different model identity)."""
VARIANTS = ("fp32", "int8")
"""The ONNX variants of a model: the fp32 export and its dynamically quantised int8 copy."""


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


QUERY_THREADS = min(2, _cpus())
"""ONNX Runtime intra-op threads of the session that encodes questions (and the default of :func:`new_session`).

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
PARALLEL_TOKENIZE_MIN_TEXTS = 64
"""Calls with at least this many texts are tokenised in parallel (``encode_batch``)."""


class OnnxUnavailable(Exception):
    """The ONNX backend cannot serve this model; the message is the reason."""


class IneligibleModel(OnnxUnavailable):
    """The model's pipeline is not one the ONNX backend reproduces (an expected, quiet fallback)."""


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit L2 norm (zero rows stay zero), as contiguous float32."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


# --------------------------------------------------------------------------- sessions and tokenizers


def new_session(model_path: Path, threads: int | None = None, optimize: bool = True) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on the CPU with this package's settings.

    ``intra_op_num_threads`` is ``threads``, ``inter_op_num_threads`` 1, and idle
    threads do not spin (unless :data:`SPIN`); ONNX Runtime logs errors only.
    ``InferenceSession.run`` may be called from many threads at once.

    Args:
        model_path: The ``.onnx`` file.
        threads: Intra-op threads (None: :data:`QUERY_THREADS`, the setting for one
            request at a time; :data:`BATCH_THREADS` suits large batches).
        optimize: Apply all of ONNX Runtime's graph optimisations when the session is
            made (``ORT_ENABLE_ALL``).  False applies the basic rewrites only
            (``ORT_ENABLE_BASIC``): enough for a graph already fused offline, and the
            session is made in half the time (0.13-0.15 s instead of 0.3 s for
            all-MiniLM-L6-v2 on a 2-core VM) and runs as fast.

    Raises:
        ImportError: onnxruntime is not installed.
        Exception: Whatever ONNX Runtime raises for a file it cannot load.
    """
    import onnxruntime

    threads = QUERY_THREADS if threads is None else max(1, int(threads))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    levels = onnxruntime.GraphOptimizationLevel
    options.graph_optimization_level = levels.ORT_ENABLE_ALL if optimize else levels.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    if threads > 1 and not SPIN:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def load_tokenizer(tokenizer_json: Path, max_length: int, strategy: str = "longest_first") -> tokenizers.Tokenizer:
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json``: no padding, truncation to ``max_length`` tokens.

    Args:
        tokenizer_json: The tokenizer file.
        max_length: Most tokens of an encoding, special tokens included.
        strategy: How a text pair is truncated: ``"longest_first"`` (sentence-transformers'
            setting), ``"only_first"`` or ``"only_second"`` (cut the passage of a
            question-passage pair).  Truncation drops tokens at the right.

    Raises:
        ImportError: tokenizers is not installed.
        Exception: Whatever tokenizers raises for a file it cannot read.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=int(max_length), strategy=strategy, direction="right")
    return tokenizer


# --------------------------------------------------------------------------- the embedder


@dataclass(frozen=True)
class ModelSpec:
    """What running an exported sentence embedder needs to know besides its graph.

    Attributes:
        dimension: Length of the sentence vectors.
        max_seq_length: Most tokens per text (sentence-transformers' ``max_seq_length``).
        inputs: Names of the graph's inputs, among ``input_ids``, ``attention_mask``, ``token_type_ids``.
        pad_token_id: Token id of the padding.
        fused: The fp32 graph was fused at export (its session needs only the basic optimisations).
    """

    dimension: int
    max_seq_length: int
    inputs: tuple[str, ...]
    pad_token_id: int = 0
    fused: bool = False

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> ModelSpec:
        """The spec recorded in a cache entry's ``meta.json`` (see :mod:`qa.onnx.cache`).

        Raises:
            KeyError, TypeError, ValueError: ``meta`` lacks a field or holds a wrong type.
        """
        return cls(
            dimension=int(meta["dimension"]),
            max_seq_length=int(meta["max_seq_length"]),
            inputs=tuple(str(name) for name in meta["inputs"]),
            pad_token_id=int(meta.get("pad_token_id") or 0),
            fused=meta.get("graph") == "fused",
        )


class OnnxEmbedder:
    """An ONNX export of a sentence-transformers model, run with ONNX Runtime on the CPU.

    Thread-safe: ``InferenceSession.run`` and the tokenizer may be called from
    many threads at once.  Questions (few texts) use a session with ``threads``
    intra-op threads; builds (many texts) a session with :data:`BATCH_THREADS`,
    created on first use when the two differ.

    Args:
        name: The model's canonical name; the int8 variant's identity is ``name + "#int8"``.
        model_path: The ONNX graph (``last_hidden_state`` as its first output).
        tokenizer_path: The model's ``tokenizer.json``.
        spec: Dimension, length limit and inputs of the graph.
        variant: ``"fp32"`` or ``"int8"``.
        threads: Intra-op threads of the question session (None: :data:`QUERY_THREADS`).

    Raises:
        OnnxUnavailable: The graph's inputs are not those of ``spec``.
    """

    def __init__(self, name: str, model_path: Path, tokenizer_path: Path, spec: ModelSpec,
                 variant: str = "fp32", threads: int | None = None) -> None:
        self.name = name if variant == "fp32" else name + INT8_SUFFIX
        self.variant = variant
        self.backend = "onnx" if variant == "fp32" else "onnx-int8"
        self.dimension = spec.dimension
        self.max_seq_length = spec.max_seq_length
        self.model_path = model_path
        self._inputs = list(spec.inputs)
        self._pad_id = spec.pad_token_id
        self._optimize = not (variant == "fp32" and spec.fused)
        self._tokenizer = load_tokenizer(tokenizer_path, self.max_seq_length)
        self._threads = QUERY_THREADS if threads is None else threads
        self._session = new_session(model_path, self._threads, self._optimize)
        names = [i.name for i in self._session.get_inputs()]
        if sorted(names) != sorted(self._inputs):
            raise OnnxUnavailable(f"the ONNX model takes inputs {names}, expected {self._inputs}")
        self._output = self._session.get_outputs()[0].name
        self._batch_session: onnxruntime.InferenceSession | None = None
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

    @property
    def has_table(self) -> bool:
        """Whether one-token texts are looked up in a precomputed table (see :meth:`attach_table`)."""
        return self._table is not None

    def attach_table(self, path: Path) -> bool:
        """Use the precomputed one-token vectors in ``path`` (see :meth:`one_token_table`); False if unusable."""
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

    @contextlib.contextmanager
    def without_table(self) -> Iterator[None]:
        """Within the block, encode every text with the model (not thread-safe: for checks only)."""
        table, self._table = self._table, None
        try:
            yield
        finally:
            self._table = table

    def one_token_table(self, limit: int | None = None) -> np.ndarray | None:
        """The pooled vector of every one-token text, to be saved and attached with :meth:`attach_table`.

        Row ``t`` holds the vector of the token sequence ``[CLS] t [SEP]`` (NaN for
        tokens left out: word-continuation pieces such as ``##ing``, which no text
        starts with, and those beyond ``limit``), computed by the same model and
        pooling as :meth:`encode`, so a lookup equals encoding.  The int8 variant
        encodes each token alone (its activations are quantised per batch).

        Returns:
            A ``(vocabulary size, dimension)`` float32 array, or None when the
            tokenizer does not wrap one-token texts in two special tokens.
        """
        ends = self._table_ends
        if ends is None:
            return None
        vocab = self._tokenizer.get_vocab()
        size = max(vocab.values()) + 1
        model = json.loads(self._tokenizer.to_str()).get("model") or {}
        prefix = model.get("continuing_subword_prefix") if model.get("type") == "WordPiece" else None
        ids = sorted(i for token, i in vocab.items() if not (prefix and token.startswith(prefix)))
        if limit is not None:
            ids = ids[:limit]
        table = np.full((size, self.dimension), np.nan, dtype=np.float32)
        session = self._session_for(BATCH_SESSION_MIN_TEXTS)
        step = 256 if self.variant == "fp32" else 1
        for start in range(0, len(ids), step):
            chunk = np.asarray(ids[start : start + step], dtype=np.int64)
            tokens = np.stack([np.full(len(chunk), ends[0]), chunk, np.full(len(chunk), ends[1])], axis=1).astype(np.int64)
            table[chunk] = self._forward(session, tokens, np.ones_like(tokens), np.zeros_like(tokens))
        return table

    def _session_for(self, count: int) -> onnxruntime.InferenceSession:
        if count < BATCH_SESSION_MIN_TEXTS or BATCH_THREADS == self._threads:
            return self._session
        with self._lock:
            if self._batch_session is None:
                self._batch_session = new_session(self.model_path, BATCH_THREADS, self._optimize)
            return self._batch_session

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, truncated as sentence-transformers truncates them."""
        return [e.ids for e in self._encode_tokens(texts)]

    def _encode_tokens(self, texts: Sequence[str]) -> list[tokenizers.Encoding]:
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
        encodings, lengths, out, todo = self.prepare(texts)
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
                ids, mask, types = self.padded(encodings, rows, width)
                out[rows] = self._forward(session, ids, mask, types)
                if progress is not None:
                    progress.update(len(rows))
        finally:
            if progress is not None:
                progress.close()
        return normalize(out)

    def prepare(self, texts: Sequence[str]) -> tuple[list[tokenizers.Encoding], np.ndarray, np.ndarray, np.ndarray]:
        """Tokenise texts and look up the one-token ones (the first step of :meth:`encode`, shared by other runners).

        Returns:
            ``(encodings, lengths, out, todo)``: each text's encoding and token count, the
            ``(len(texts), dimension)`` float32 output with the rows found in the table
            filled, and the positions still to encode.
        """
        encodings = self._encode_tokens([str(t) for t in texts])
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        out = np.empty((len(encodings), self.dimension), dtype=np.float32)
        return encodings, lengths, out, self._from_table(encodings, out)

    def padded(self, encodings: Sequence[tokenizers.Encoding], rows: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(input_ids, attention_mask, token_type_ids)`` of the encodings at ``rows``, padded to ``width`` tokens."""
        ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            enc = encodings[i]
            n = len(enc.ids)
            ids[r, :n] = enc.ids
            mask[r, :n] = 1
            types[r, :n] = enc.type_ids
        return ids, mask, types

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the graph's inputs (those of ``input_ids``, ``attention_mask``, ``token_type_ids`` it takes)."""
        return tuple(self._inputs)

    def _forward(self, session: onnxruntime.InferenceSession, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Run the model on one padded batch; mean-pool the token vectors over the attention mask."""
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = session.run([self._output], {k: feed[k] for k in self._inputs})[0]
        return mean_pool(hidden, mask)

    def _from_table(self, encodings: list[tokenizers.Encoding], out: np.ndarray) -> np.ndarray:
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


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each text's token vectors ``hidden`` (batch, tokens, dimension) over its attention ``mask``."""
    weights = mask.astype(np.float32)
    pooled = np.matmul(weights[:, None, :], hidden)[:, 0, :]
    pooled /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    return pooled


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
