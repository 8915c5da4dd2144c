"""The answer reader: a cross-encoder that reads a question with each candidate passage.

The shipped model (``qa/models/reader/``, trained by ``eval/training/train_reader.py``
from all-MiniLM-L6-v2 on SQuAD) gives, for each passage token, a start and an
end score, with the [CLS] position meaning "no answer", and an "answerable"
score.  :class:`Reader` runs it with ONNX Runtime (never torch) and returns, per
passage, the best answer span and its scores; :mod:`qa.engine` turns those into
a calibrated confidence and the answer phrase.

The folder is plain files: ``model.onnx``, ``tokenizer.json``, ``reader.json``
(settings and the fitted answer decision, :mod:`qa.answering.decision`), optionally
``verifier.onnx`` (the answer verifier, ``eval/training/train_verifier.py``: one logit for
a question read with one sentence) and ``card.json`` (the model card, with the
SHA-256 of every other file, checked on load).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ModelLoadError
from qa.files import file_sha256
from qa.answering.reader_tokens import PairBatch, SpanScore, best_span, encode_pairs, load_tokenizer

logger = logging.getLogger(__name__)

READER_FILES = ("model.onnx", "tokenizer.json", "reader.json")
"""Files of a reader folder listed, with their hashes, in its ``card.json``."""
OPTIONAL_FILES = ("verifier.onnx",)
"""Files a reader folder may hold (listed in the card, and checked, when present)."""
LICENCE = "CC BY-SA 4.0"
ATTRIBUTION = (
    "Fine-tuned on the Stanford Question Answering Dataset (SQuAD 1.1 and 2.0; Rajpurkar et al., 2016 and 2018), "
    "built from Wikipedia articles, licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/). "
    "Base model: sentence-transformers/all-MiniLM-L6-v2 (Apache 2.0)."
)


def default_reader_path() -> Path:
    """The reader shipped with the package."""
    return Path(__file__).resolve().parents[1] / "models" / "reader"


def write_card(folder: Path, training: dict, metrics: dict) -> dict:
    """Write ``card.json`` for the reader files in ``folder`` (hashes, training record, metrics, licence).

    An existing card's ``metrics`` entries not named in ``metrics`` are kept.
    """
    path = folder / "card.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    card = {
        "name": "qa-reader-minilm-l6",
        "task": "extractive question answering with abstention (span start/end, no-answer at [CLS], answerable head)",
        "files": {n: {"sha256": file_sha256(folder / n), "bytes": (folder / n).stat().st_size}
                  for n in READER_FILES + OPTIONAL_FILES if n in READER_FILES or (folder / n).exists()},
        "training": training or old.get("training", {}),
        "metrics": {**old.get("metrics", {}), **metrics},
        "licence": LICENCE,
        "attribution": ATTRIBUTION,
    }
    path.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return card


def verify_reader(folder: Path) -> dict:
    """Check a reader folder against its card; returns the card.

    Raises:
        ModelLoadError: A file is missing or its SHA-256 differs from the card's.
    """
    card_path = folder / "card.json"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"reader model card {card_path} is missing or unreadable ({exc}); reinstall qa or retrain with eval/training/train_reader.py"
        ) from None
    for name in dict.fromkeys(READER_FILES + tuple(card.get("files", {}))):
        record = card.get("files", {}).get(name)
        path = folder / name
        if record is None or not path.is_file() or file_sha256(path) != record["sha256"]:
            raise ModelLoadError(
                f"reader file {path} is missing or does not match its card's SHA-256; "
                "reinstall qa or retrain with eval/training/train_reader.py"
            )
    return card


@dataclass(frozen=True)
class ReadPassage:
    """The reader's verdict on one passage.

    Attributes:
        index: Position of the passage in the list given to :meth:`Reader.read`.
        span: Best answer span (character offsets into that passage) and its logits, or None.
        answerable: The answerable head's logit.
        within: For each window asked for, the best span inside it (None when no token of it was read).
    """

    index: int
    span: SpanScore | None
    answerable: float
    within: tuple[SpanScore | None, ...] = ()

    @property
    def margin(self) -> float:
        """Best span's logit minus the no-answer logit."""
        return -1e4 if self.span is None else self.span.span_logit - self.span.null_logit


class Reader:
    """The reader model on ONNX Runtime.  Safe to share between threads.

    Args:
        folder: A reader folder (default: the shipped one); checked against its card.
        threads: ONNX Runtime intra-op threads (None: :data:`qa.onnx.session.QUERY_THREADS`).
    """

    def __init__(self, folder: Path | None = None, threads: int | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_reader_path()
        self.card = verify_reader(self.folder)
        config = json.loads((self.folder / "reader.json").read_text(encoding="utf-8"))
        self.max_length = int(config["max_length"])
        decision = config.get("decision")
        if decision is not None and not isinstance(decision, dict):
            raise ModelLoadError(f"reader.json in {self.folder} has an unreadable decision ({decision!r}); refit it with eval/calibration/calibrate_reader.py")
        self.decision_settings: dict | None = decision
        """The answer decision fitted with this reader (read by :func:`qa.answering.decision.decision_of`)."""
        self.tokenizer = load_tokenizer(self.folder / "tokenizer.json", self.max_length)
        self._session = _open_session(self.folder / "model.onnx", threads)
        verifier = config.get("verifier")
        self.has_verifier = verifier is not None and (self.folder / "verifier.onnx").is_file()
        if self.has_verifier:
            self._verifier_tokenizer = load_tokenizer(self.folder / "tokenizer.json", int(verifier["max_length"]))
            self._verifier = _open_session(self.folder / "verifier.onnx", threads)
        self._lock = threading.Lock()

    def read(self, question: str, passages: Sequence[str],
             windows: Sequence[Sequence[tuple[int, int]]] | None = None) -> list[ReadPassage]:
        """Read each passage with the question.

        Args:
            question: The question (cut to 48 word pieces).
            passages: Passage texts (each cut to fit ``max_length`` tokens with the question).
            windows: Per passage, character ranges ``(start, end)`` of it in which the best span is
                wanted too (:attr:`ReadPassage.within`); None for none.

        Returns:
            One :class:`ReadPassage` per passage, in the order given.
        """
        if not passages:
            return []
        batch = encode_pairs(self.tokenizer, question, passages)
        start, end, answerable = _run_each(self._session, batch)
        out = []
        for i in range(len(passages)):
            offsets, context = batch.offsets[i], batch.context_mask[i]
            within = tuple(
                best_span(start[i], end[i], context & (offsets[:, 0] >= lo) & (offsets[:, 1] <= hi), offsets)
                for lo, hi in (windows[i] if windows is not None else ())
            )
            out.append(ReadPassage(i, best_span(start[i], end[i], context, offsets), float(answerable[i]), within))
        return out


    def verify(self, question: str, sentences: Sequence[str]) -> list[float]:
        """The verifier's logit that each sentence, read alone, answers the question.

        Raises:
            ModelLoadError: This reader folder has no verifier.
        """
        if not self.has_verifier:
            raise ModelLoadError(f"the reader folder {self.folder} has no verifier.onnx; train one with eval/training/train_verifier.py")
        if not sentences:
            return []
        batch = encode_pairs(self._verifier_tokenizer, question, sentences)
        return [float(v) for v in _run_each(self._verifier, batch)[0]]


def _run_each(session: object, batch: PairBatch) -> list[np.ndarray]:
    """Run the graph on each pair alone (its own length, no padding) and stack the outputs, padded with zeros.

    The int8 graphs quantise their activations with a range taken over the whole input, so a pair's
    scores would otherwise depend on what it is batched with: read alone, a passage or a sentence
    gets the same scores whatever else is read (the decision is fitted on exactly these).  On two
    cores one run per pair costs no more than one batched run.
    """
    outputs: list[list[np.ndarray]] = []
    for i in range(batch.input_ids.shape[0]):
        n = int(batch.attention_mask[i].sum())
        feeds = {"input_ids": batch.input_ids[i : i + 1, :n], "attention_mask": batch.attention_mask[i : i + 1, :n],
                 "token_type_ids": batch.token_type_ids[i : i + 1, :n]}
        outputs.append(session.run(None, feeds))  # type: ignore[attr-defined]
    stacked = []
    for k in range(len(outputs[0])):
        parts = [o[k] for o in outputs]
        if parts[0].ndim == 1:
            stacked.append(np.concatenate(parts))
        else:
            out = np.zeros((len(parts), batch.input_ids.shape[1]), dtype=parts[0].dtype)
            for i, part in enumerate(parts):
                out[i, : part.shape[1]] = part[0]
            stacked.append(out)
    return stacked


def _open_session(path: Path, threads: int | None) -> object:
    from qa.onnx.session import new_session

    try:
        return new_session(path, threads)  # fused offline; the full optimiser still speeds the int8 graph up (~15%)
    except Exception as exc:  # noqa: BLE001 - whatever ONNX Runtime raises for a bad graph
        raise ModelLoadError(f"the reader graph {path} does not load ({exc}); reinstall qa or retrain the reader") from None
