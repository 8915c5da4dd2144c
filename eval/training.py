"""What the two training scripts share: the optimiser and its schedule, resuming, atomic checkpoints.

``eval/train_reader.py`` and ``eval/train_verifier.py`` fine-tune MiniLM with the same recipe; a run
killed at any point resumes from its last checkpoint to the same weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger("training")


def optimizer_and_schedule(model: object, lr: float, total: int, warmup: float) -> tuple[object, object]:
    """AdamW (weight decay 0.01, none on biases and LayerNorm) with linear warm-up over ``warmup`` of ``total`` steps, then linear decay."""
    import torch

    no_decay = ("bias", "LayerNorm.weight")
    named = list(model.named_parameters())  # type: ignore[attr-defined]
    groups = [
        {"params": [p for n, p in named if not any(k in n for k in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in named if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=lr)
    warm = max(1, int(total * warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    return optimizer, scheduler


def resume(ckpt: Path, model: object, optimizer: object, scheduler: object, total: int) -> tuple[int, float]:
    """Load ``ckpt`` into model, optimizer and schedule when it exists; returns (step, seconds trained so far)."""
    import torch

    if not ckpt.exists():
        return 0, 0.0
    state = torch.load(ckpt, weights_only=False)
    model.load_state_dict(state["model"])  # type: ignore[attr-defined]
    optimizer.load_state_dict(state["optimizer"])  # type: ignore[attr-defined]
    scheduler.load_state_dict(state["scheduler"])  # type: ignore[attr-defined]
    logger.info("resumed at step %d of %d (%.0f s trained so far)", state["step"], total, state["elapsed"])
    return int(state["step"]), float(state["elapsed"])


def save_checkpoint(ckpt: Path, model: object, optimizer: object, scheduler: object, step: int, elapsed: float) -> None:
    """Write model, optimizer and schedule state atomically (a kill mid-write leaves the previous checkpoint)."""
    import torch

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),  # type: ignore[attr-defined]
             "scheduler": scheduler.state_dict(), "step": step, "elapsed": elapsed}  # type: ignore[attr-defined]
    tmp = ckpt.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, ckpt)
