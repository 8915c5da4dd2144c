"""The on-disk cache of ONNX exports: each model exported once, verified, and reused by every process.

:func:`load_onnx_embedder` is the entry point: it checks that a model is eligible
(:func:`check_pipeline`), finds its cache entry by a fingerprint of the model's
files, and returns an :class:`~qa.onnx.session.OnnxEmbedder` of it, exporting
(:mod:`qa.onnx.export`), quantising (:mod:`qa.onnx.quantize`) and verifying
first when the entry lacks what is asked for.  Loading a complete entry imports
neither torch nor sentence-transformers.

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
export; anything that still goes wrong raises :class:`~qa.onnx.session.OnnxUnavailable`,
which the caller turns into a logged fallback to the torch backend.
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
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from qa.onnx import export as onnx_export
from qa.onnx import quantize as onnx_quantize
from qa.errors import QAError
from qa.onnx.export import EXPORT_VERSION, EXPORTER_PACKAGES, OPSET, ExportedModel
from qa.onnx.session import VARIANTS, IneligibleModel, ModelSpec, OnnxEmbedder, OnnxUnavailable
from qa.files import file_sha256
from qa.versions import installed_versions

logger = logging.getLogger(__name__)

CACHE_ENV = "QA_CACHE_DIR"
"""Environment variable naming the cache folder (default ``~/.cache/qa``)."""
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
"""The graph of each variant in an entry."""
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
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
LOCK_TIMEOUT_S = 900.0
"""Longest wait for another process that is exporting the same model."""
MODEL_FILE_PATTERNS = (".json", ".txt", ".model", ".safetensors", ".bin")
"""Files of a model folder that enter its fingerprint (plus every file of its module folders)."""
FINGERPRINT_SKIP = {"README.md", ".gitattributes", "data_config.json"}


# --------------------------------------------------------------------------- paths, files and hashes


def cache_root() -> Path:
    """The cache folder: ``$QA_CACHE_DIR``, else ``~/.cache/qa``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qa"


def onnx_cache_dir() -> Path:
    """Folder holding the ONNX exports (``<cache>/onnx``)."""
    return cache_root() / "onnx"


def file_record(path: Path) -> dict[str, Any]:
    """Size, mtime and SHA-256 of a file, as stored in the cache's JSON records."""
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def file_matches(path: Path, record: dict[str, Any]) -> bool:
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


def _write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
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


def _write_json_atomic(path: Path, value: dict[str, Any]) -> None:
    _write_atomic(path, lambda handle: handle.write(json.dumps(value, indent=2, sort_keys=True).encode("utf-8")))


# --------------------------------------------------------------------------- the model folder


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


def entry_name(model_name: str, fingerprint: str) -> str:
    """Folder name of a model's cache entry: a readable slug plus a hash of everything the export depends on."""
    key_source = json.dumps(
        {"fingerprint": fingerprint, "export_version": EXPORT_VERSION, "opset": OPSET, **installed_versions(EXPORTER_PACKAGES)},
        sort_keys=True,
    )
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name.rstrip("/").rsplit("/", 1)[-1])[:48] or "model"
    return f"{slug}-{key}"


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


# --------------------------------------------------------------------------- entries


def build_word_table(embedder: OnnxEmbedder, path: Path, limit: int | None = None) -> int:
    """Precompute the vector of every one-token text (see :meth:`OnnxEmbedder.one_token_table`) and save it to ``path``.

    Returns:
        The number of tokens precomputed (0 when the tokenizer does not wrap one-token texts in two special tokens).
    """
    table = embedder.one_token_table(limit)
    if table is None:
        return 0
    _write_atomic(path, lambda handle: np.save(handle, table, allow_pickle=False))
    return int(np.count_nonzero(~np.isnan(table[:, 0])))


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


def _write_meta(entry: Path, name: str, model_folder: Path, fingerprint: str, exported: ExportedModel) -> None:
    """Write ``meta.json`` of a fresh export in ``entry``."""
    spec = exported.spec
    meta = {
        "export_version": EXPORT_VERSION,
        "model": name,
        "source": str(model_folder),
        "fingerprint": fingerprint,
        "versions": installed_versions((*EXPORTER_PACKAGES, "onnxruntime", "onnx")),
        "opset": OPSET,
        "attention": exported.attention,
        "graph": "fused" if spec.fused else "plain",
        "max_seq_length": spec.max_seq_length,
        "dimension": spec.dimension,
        "inputs": list(spec.inputs),
        "pad_token_id": spec.pad_token_id,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {file: file_record(entry / file) for file in (ONNX_FILES["fp32"], TOKENIZER_FILE)},
    }
    _write_json_atomic(entry / META_FILE, meta)


def _valid_meta(entry: Path) -> dict[str, Any] | None:
    """The entry's meta.json when it and the files it lists are intact."""
    meta = _read_json(entry / META_FILE)
    if meta is None or meta.get("export_version") != EXPORT_VERSION:
        return None
    files = meta.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(info, dict) and file_matches(entry / name, info) for name, info in files.items()
    ):
        return None
    required = ("max_seq_length", "dimension", "inputs")
    return meta if all(k in meta for k in required) else None


def _verified_record(entry: Path, variant: str) -> dict[str, Any] | None:
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


def _open(name: str, entry: Path, meta: dict[str, Any], variant: str) -> OnnxEmbedder:
    """The embedder of one variant of an entry (no checks beyond ONNX Runtime's own)."""
    return OnnxEmbedder(name, entry / ONNX_FILES[variant], entry / TOKENIZER_FILE, ModelSpec.from_meta(meta), variant)


# --------------------------------------------------------------------------- loading


def load_onnx_embedder(name: str, folder: Path, variant: str, load_st: Callable[[], object]) -> OnnxEmbedder:
    """The ONNX embedder of a model, exporting and verifying it first when the cache lacks it.

    Args:
        name: The model's canonical name (see ``qa.index.embedding.canonical_model_name``), without ``#int8``.
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
    if fast is not None:
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


def _load_cached(name: str, entry: Path, variant: str) -> OnnxEmbedder | None:
    """The embedder from a complete, verified cache entry, else None.

    Raises:
        OnnxUnavailable: The entry records that this variant failed its check.
    """
    meta = _valid_meta(entry)
    if meta is None:
        return None
    record = _verified_record(entry, variant)
    if record is None:
        return None
    if not record.get("ok"):
        raise OnnxUnavailable(f"{record.get('reason') or 'the ONNX export did not match sentence-transformers'} (checked before, see {entry})")
    try:
        embedder = _open(name, entry, meta, variant)
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


def _export_entry(name: str, folder: Path, entry: Path, fingerprint: str, st_model: object) -> dict[str, Any]:
    """Export into a temporary folder renamed over ``entry``; returns the new entry's meta."""
    started = time.perf_counter()
    logger.info("exporting %s to ONNX (once; cached in %s)", name, entry)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=entry.parent))
    try:
        exported = onnx_export.export(st_model, folder, tmp / ONNX_FILES["fp32"], tmp / TOKENIZER_FILE)
        _write_meta(tmp, name, folder, fingerprint, exported)
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
    return meta


def _prepare(name: str, folder: Path, entry: Path, variant: str, fingerprint: str, load_st: Callable[[], object]) -> OnnxEmbedder:
    """Under the entry lock: export, quantise and verify as needed, then load."""
    cached = _load_cached(name, entry, variant)  # another process may have finished meanwhile
    if cached is not None:
        return cached
    meta = _valid_meta(entry)
    if meta is None or not _loads(entry / ONNX_FILES["fp32"]):
        if entry.exists():
            logger.warning("the ONNX cache entry %s is incomplete or damaged; exporting again", entry)
        meta = _export_entry(name, folder, entry, fingerprint, load_st())
    if variant == "int8" and not (_verified_record(entry, "int8") and _loads(entry / ONNX_FILES["int8"])):
        logger.info("quantising the ONNX export of %s to int8", name)
        try:
            onnx_quantize.quantize(entry / ONNX_FILES["fp32"], entry / ONNX_FILES["int8"])
        except Exception as exc:  # noqa: BLE001 - report as unavailable
            raise OnnxUnavailable(f"int8 quantisation failed ({type(exc).__name__}: {exc})") from exc
    try:
        embedder = _open(name, entry, meta, variant)
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
    record = onnx_export.verify(embedder, load_st())
    record["file"] = file_record(entry / ONNX_FILES[variant])
    if embedder.has_table:
        record["table"] = file_record(table_path)
    _write_json_atomic(entry / f"verify-{variant}.json", record)
    if not record["ok"]:
        raise OnnxUnavailable(record["reason"])
    logger.info("ONNX %s model of %s verified (min cosine %.6f to sentence-transformers)", variant, name, record["min_cosine"])
    return embedder
