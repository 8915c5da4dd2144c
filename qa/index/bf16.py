"""Builds encoded in bfloat16 on CPUs with bf16 matrix units (AMX, AVX-512 BF16), with vectors equal to fp32.

A build spends nearly all its time encoding sentences.  At fp32 two cores do
~100 GFLOPS; the bf16 units of recent server CPUs (Intel AMX since Sapphire
Rapids, AVX-512 BF16 since Cooper Lake, AMD Zen 4 and later) do several times
more.  :class:`Bf16BuildEmbedder` wraps the ONNX embedder of a model and encodes
large calls (:data:`BF16_MIN_TEXTS` texts or more: builds) with the model's own
transformer in torch under ``torch.autocast("cpu", dtype=torch.bfloat16)``
(matrix products in bf16, layer norms and softmax in fp32); small calls
(questions) stay on ONNX Runtime fp32, so answering never imports torch.

The vectors are the fp32 ones to four decimals (cosine >= :data:`MIN_COSINE`,
checked against the ONNX fp32 encoder on sample texts before first use; a
model that fails keeps the fp32 path, with a warning), so the model keeps its
name: an index built in bf16 is searched with the fp32 query encoder, and the
reverse, without a rebuild.  The index records what encoded it (``encoder``).

The rest of the encode is the ONNX embedder's: its tokeniser (same truncation),
its table of one-token texts, batches sorted by length, mean pooling in NumPy.
Texts are tokenised a chunk ahead in a thread while the model runs, and batches
run in :data:`WORKERS` threads of one torch thread each.

:func:`native_bf16` says whether the CPU runs bf16 natively (``/proc/cpuinfo``
flags; torch need not be imported); :func:`qa.index.embedding.load_embedder`
chooses the encoder with it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qa.onnx.session import OnnxEmbedder, batches, mean_pool, normalize

logger = logging.getLogger(__name__)

BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""``/proc/cpuinfo`` flags of native bf16 matrix units, in order of preference."""
BF16_MIN_TEXTS = 2048
"""Calls with at least this many texts are encoded in bf16 (importing torch and loading the model takes a few seconds,
won back after ~2,000 texts); smaller ones, questions among them, run on ONNX Runtime fp32."""
BATCH_SIZE = 64
"""Most texts per bf16 forward pass.  Measured on 2,000 build sentences, alternating, on the shared 2-core VM
(load 13-24, so noisy): 32 texts 92/32, 64 texts 91/52, 128 texts 56/52 texts/s in two rounds."""
CHUNK_TEXTS = 4096
"""Texts tokenised at a time, one chunk ahead of the model."""
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
WORKERS = max(1, min(8, CPUS))
"""Threads running forward passes at once, each with ``CPUS // WORKERS`` torch threads (one): no barrier between
threads to wait at when other processes take a core.  Against one worker with two torch threads the measurement
was inconclusive (91/52 against 76/104 texts/s in two rounds, load 13-24); ``workers=`` sets it."""
MIN_COSINE = 0.9999
"""Smallest cosine between a bf16 vector and the fp32 one accepted on the check's sample texts."""
CPUINFO = Path("/proc/cpuinfo")


@functools.lru_cache(maxsize=1)
def native_bf16() -> str | None:
    """The flag of this CPU's native bf16 matrix units (``"amx_bf16"`` or ``"avx512_bf16"``), or None.

    Read from ``/proc/cpuinfo`` (None where it cannot be read, e.g. not Linux).
    """
    try:
        with CPUINFO.open(encoding="utf-8", errors="replace") as handle:
            flags: set[str] = set()
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.partition(":")[2].split())
                    break
    except OSError:
        return None
    return next((flag for flag in BF16_FLAGS if flag in flags), None)


class Bf16BuildEmbedder:
    """An ONNX embedder whose large calls run the model's transformer in bf16 with torch.

    Args:
        onnx: The model's fp32 ONNX embedder (questions, small calls, tokeniser, one-token table).
        load_model: Returns the model's loaded SentenceTransformer (imports torch), called on first large call.
        min_texts: Calls with at least this many texts are encoded in bf16.
        reason: Why bf16 was chosen (the CPU flag, or ``"forced"``), for the log and the manifest.
        workers: Threads running forward passes.
    """

    backend = "bf16"

    def __init__(self, onnx: OnnxEmbedder, load_model: Any, min_texts: int = BF16_MIN_TEXTS, reason: str = "forced",
                 workers: int = WORKERS) -> None:
        self.onnx = onnx
        self.name = onnx.name
        self.dimension = onnx.dimension
        self.max_seq_length = onnx.max_seq_length
        self.min_texts = max(1, int(min_texts))
        self.reason = reason
        self.workers = max(1, int(workers))
        self._load_model = load_model
        self._model: Any = None
        self._failed: str | None = None
        self._lock = threading.Lock()

    def encoder_for(self, count: int) -> str:
        """What encodes a call of ``count`` texts (for the manifest): ``torch-bf16-autocast``, or ``onnx-fp32``
        below :attr:`min_texts` or when the bf16 check failed."""
        return "torch-bf16-autocast" if count >= self.min_texts and self._failed is None else "onnx-fp32"

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode texts into unit vectors: bf16 for :attr:`min_texts` texts or more, else the ONNX embedder.

        ``batch_size`` applies to the ONNX path; bf16 batches hold up to :data:`BATCH_SIZE` texts.
        """
        if len(texts) < self.min_texts or not self._ready():
            return self.onnx.encode(texts, batch_size=batch_size, show_progress=show_progress)
        logger.info("encoding %d texts in bf16 with torch on %d threads (%s)", len(texts), self.workers, self.reason)
        return self.encode_bf16(texts, show_progress)

    # ------------------------------------------------------------------ the bf16 path

    def _ready(self) -> bool:
        """Load and check the bf16 model once; False (fp32 from then on) when it cannot be used."""
        with self._lock:
            if self._model is None and self._failed is None:
                try:
                    self._model = self._prepare(self._load_model())
                    cosine = self._check()
                except Exception as exc:  # noqa: BLE001 - any failure keeps the fp32 path, which always works
                    self._model, self._failed = None, f"{type(exc).__name__}: {exc}"
                else:
                    if cosine < MIN_COSINE:
                        self._model, self._failed = None, f"bf16 vectors reach only cosine {cosine:.6f} to fp32 on sample texts"
                if self._failed is not None:
                    logger.warning("encoding builds with ONNX Runtime fp32, not bf16: %s", self._failed)
        return self._failed is None

    def _prepare(self, st_model: Any) -> Any:
        """A copy of a SentenceTransformer's transformer, its linear layers' weights cast to bf16 once (autocast would
        cast them on every call); the SentenceTransformer itself is left as it was (others may use it)."""
        import torch

        transformer = copy.deepcopy(st_model[0].auto_model).eval()
        for module in transformer.modules():
            if isinstance(module, torch.nn.Linear):
                module.to(torch.bfloat16)
        return transformer

    def _check(self) -> float:
        """Smallest cosine between bf16 and fp32 vectors of the export's sample texts (see :mod:`qa.onnx.export`)."""
        from qa.onnx.export import sample_texts

        texts = sample_texts()
        with self.onnx.without_table():
            fp32 = self.onnx.encode(texts)
            bf16 = self.encode_bf16(texts)
        return float((fp32 * bf16).sum(axis=1).min())

    def encode_bf16(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Encode texts in bf16 (the model must be loaded): chunks tokenised ahead, batches run in worker threads."""
        import torch

        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        progress = _progress(len(texts)) if show_progress else None
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, CPUS // self.workers))
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="qa-bf16") as pool:
                for start, (encodings, lengths, chunk_out, todo) in _ahead(self.onnx, texts):
                    work = [(todo[rows], int(lengths[todo[rows[0]]])) for rows in batches(lengths[todo], BATCH_SIZE)]
                    jobs = [pool.submit(self._forward, encodings, rows, width) for rows, width in work]
                    for (rows, _), job in zip(work, jobs):
                        chunk_out[rows] = job.result()
                        if progress is not None:
                            progress.update(len(rows))
                    if progress is not None:
                        progress.update(len(encodings) - len(todo))
                    out[start : start + len(encodings)] = chunk_out
        finally:
            torch.set_num_threads(threads)
            if progress is not None:
                progress.close()
        return normalize(out)

    def _forward(self, encodings: Sequence[Any], rows: np.ndarray, width: int) -> np.ndarray:
        import torch

        ids, mask, types = self.onnx.padded(encodings, rows, width)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        tensors = {k: torch.from_numpy(feed[k]) for k in self.onnx.inputs}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = self._model(**tensors)[0]
        return mean_pool(hidden.float().numpy(), mask)


def _ahead(onnx: OnnxEmbedder, texts: Sequence[str]) -> Iterator[tuple[int, tuple]]:
    """``(first position, onnx.prepare(chunk))`` of each chunk of texts, the next chunk tokenised in a thread meanwhile."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(item, timeout=0.1)
                return

    def produce() -> None:
        try:
            for start in range(0, len(texts), CHUNK_TEXTS):
                put((start, onnx.prepare(texts[start : start + CHUNK_TEXTS])))
            put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=produce, name="qa-bf16-tokenize", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _progress(total: int) -> Any:
    with contextlib.suppress(ImportError):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="Encoding", unit="text")
    return None
