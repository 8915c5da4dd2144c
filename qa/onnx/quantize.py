"""Dynamic int8 quantisation of an fp32 ONNX graph (ONNX Runtime's quantiser).

Weights are quantised per channel ahead of time; activations are quantised per
batch at run time, so an int8 model's outputs depend slightly on the batch a
text is run in.  Imports ``onnx`` and ``onnxruntime.quantization`` only when
called; never torch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path


class _BelowError(logging.Filter):
    """Drops records below ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def quantize(source: Path, target: Path) -> None:
    """Write ``target``: dynamic int8 quantisation of the fp32 graph ``source`` (per-channel weights).

    The file is written through a synced temporary file in ``target``'s folder
    renamed over ``target``, so readers never see a partial file.  The
    quantiser's chatter on the root logger is silenced (errors pass) and the
    root logger's handlers and level are restored afterwards.

    Raises:
        ImportError: onnx or onnxruntime is not installed.
        Exception: Whatever the quantiser raises.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix or ".onnx", dir=target.parent)
    os.close(fd)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # a module the quantiser imports calls logging.basicConfig()
    chatter = _BelowError()  # and it logs dozens of notes through logging.info/warning() on the root logger
    root.addFilter(chatter)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(source), tmp, weight_type=QuantType.QInt8, per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        root.removeFilter(chatter)
        root.handlers[:] = handlers
        root.setLevel(level)
