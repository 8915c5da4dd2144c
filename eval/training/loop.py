"""What the two training scripts share: the optimiser and its schedule, resuming, atomic checkpoints, and the
training step itself (:func:`run_steps`: forward, backward, clipping, optimiser and schedule, the log, the
checkpoint cadence).

``eval/training/train_reader.py`` and ``eval/training/train_verifier.py`` fine-tune MiniLM with the same recipe; a run
killed at any point resumes from its last checkpoint to the same weights (the dropout masks of a step
depend on the seed and the step only).
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


@dataclass(frozen=True)
class Pass:
    """How :func:`run_steps` runs one training pass.

    Attributes:
        folder: Holds ``checkpoint.pt`` and ``train.log``.
        seed: The pass's seed (step ``s`` draws its dropout masks from ``seed * 100_003 + s``).
        total: Steps of the pass.
        checkpoint_every: Steps between checkpoints (one is also written at the end and when stopping).
        stop_after: Leave, checkpointed, after this many steps of this call (as if killed); None runs to the end.
        label: Start of each log line (``"round 4 "``).
    """

    folder: Path
    seed: int
    total: int
    checkpoint_every: int = 100
    stop_after: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every={self.checkpoint_every}: checkpoint at least every 1 step")
        if self.stop_after is not None and self.stop_after < 1:
            raise ValueError(f"stop_after={self.stop_after}: give 1 step or more, or None to run to the end")


def run_steps(model: object, optimizer: object, scheduler: object, loss_at: Callable[[int], object], plan: Pass,
              step: int = 0, elapsed: float = 0.0) -> tuple[int, float]:
    """Train from ``step`` to ``plan.total`` (or ``plan.stop_after`` steps): each step seeds torch, takes
    ``loss_at(step)`` (the forward pass of that step's batch), backpropagates it, clips the gradient norm to 1,
    steps the optimiser and the schedule; every 20 steps a line goes to ``train.log`` and the log, and the
    checkpoint is written every ``checkpoint_every`` steps, at the end and when stopping.

    Args:
        model: The torch module (in training mode).
        optimizer: Its optimiser (:func:`optimizer_and_schedule`).
        scheduler: Its schedule.
        loss_at: The loss of one step's batch, a scalar tensor.
        plan: The pass.
        step: The step to start from (:func:`resume`'s).
        elapsed: Seconds trained before this call (:func:`resume`'s).

    Returns:
        The step reached (``plan.total`` when the pass is done) and the seconds trained in all.
    """
    import torch

    ckpt = plan.folder / "checkpoint.pt"
    t0, window, first = time.perf_counter(), collections.deque(maxlen=50), step
    with open(plan.folder / "train.log", "a", encoding="utf-8") as log:
        while step < plan.total:
            torch.manual_seed(plan.seed * 100_003 + step)  # dropout masks depend on the step only: resumable
            loss = loss_at(step)
            loss.backward()  # type: ignore[attr-defined]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # type: ignore[attr-defined]
            optimizer.step()  # type: ignore[attr-defined]
            scheduler.step()  # type: ignore[attr-defined]
            optimizer.zero_grad(set_to_none=True)  # type: ignore[attr-defined]
            step += 1
            window.append(float(loss.detach()))  # type: ignore[attr-defined]
            if step % 20 == 0 or step == plan.total:
                line = (f"{plan.label}step {step}/{plan.total} loss {np.mean(window):.4f} "
                        f"lr {scheduler.get_last_lr()[0]:.2e} trained {elapsed + time.perf_counter() - t0:.0f}s")  # type: ignore[attr-defined]
                log.write(line + "\n")
                log.flush()
                logger.info(line)
            stopping = plan.stop_after is not None and step - first >= plan.stop_after
            if step % plan.checkpoint_every == 0 or step == plan.total or stopping:
                save_checkpoint(ckpt, model, optimizer, scheduler, step, elapsed + time.perf_counter() - t0)
            if stopping and step < plan.total:
                logger.info("%sstopped after step %d of %d (stop_after); rerun to resume", plan.label, step, plan.total)
                break
    return step, elapsed + time.perf_counter() - t0
