"""eval/training.py: the shared optimiser schedule, atomic checkpoints and resuming, on a tiny torch model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

torch = pytest.importorskip("torch")

from eval.training import optimizer_and_schedule, resume, save_checkpoint  # noqa: E402


def model() -> object:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    return net


def test_schedule_warms_up_then_decays_to_zero() -> None:
    net = model()
    optimizer, scheduler = optimizer_and_schedule(net, 1e-3, total=10, warmup=0.2)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(5e-4) and rates[1] == pytest.approx(1e-3)
    assert rates[2:] == sorted(rates[2:], reverse=True) and scheduler.get_last_lr()[0] == 0.0
    decays = [g["weight_decay"] for g in optimizer.param_groups]
    assert decays == [0.01, 0.0] and len(optimizer.param_groups[1]["params"]) == 2  # the biases (no HF "LayerNorm" names here)


def test_checkpoint_round_trip_and_fresh_start(tmp_path: Path) -> None:
    net = model()
    optimizer, scheduler = optimizer_and_schedule(net, 1e-3, total=10, warmup=0.1)
    assert resume(tmp_path / "none.pt", net, optimizer, scheduler, 10) == (0, 0.0)
    net(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    save_checkpoint(tmp_path / "c.pt", net, optimizer, scheduler, 1, 12.5)
    assert not (tmp_path / "c.tmp").exists()
    other = model()
    opt2, sched2 = optimizer_and_schedule(other, 1e-3, total=10, warmup=0.1)
    assert resume(tmp_path / "c.pt", other, opt2, sched2, 10) == (1, 12.5)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), other.state_dict().values()))
    assert sched2.get_last_lr() == scheduler.get_last_lr()
