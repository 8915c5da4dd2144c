"""eval/training/loop.py: the shared optimiser schedule, atomic checkpoints and resuming, on a tiny torch model."""

from __future__ import annotations

from pathlib import Path

import pytest


torch = pytest.importorskip("torch")

from eval.training.loop import optimizer_and_schedule, resume, save_checkpoint  # noqa: E402


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


def _steps(folder: Path, stop_after: int | None, rounds: int = 1) -> tuple[object, list[int]]:
    """Train the tiny model 6 steps (in ``rounds`` calls, resuming in between) with dropout on a fixed data set."""
    from eval.training.loop import Pass, run_steps

    data = torch.linspace(-1, 1, 24).reshape(6, 4)
    reached = []
    for _ in range(rounds):
        net = torch.nn.Sequential(model(), torch.nn.Dropout(0.5))
        optimizer, scheduler = optimizer_and_schedule(net, 1e-2, total=6, warmup=0.2)
        step, elapsed = resume(folder / "checkpoint.pt", net, optimizer, scheduler, 6)
        net.train()
        step, _ = run_steps(net, optimizer, scheduler, lambda at, net=net: net(data[at : at + 1]).pow(2).sum(),
                            Pass(folder, seed=7, total=6, checkpoint_every=4, stop_after=stop_after, label="t "), step, elapsed)
        reached.append(step)
    return net, reached


def test_run_steps_resumes_to_the_same_weights_and_logs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole, reached = _steps(tmp_path / "a", None)
    assert reached == [6]
    parts, reached = _steps(tmp_path / "b", 4, rounds=2)
    assert reached == [4, 6]
    assert all(torch.equal(x, y) for x, y in zip(whole.state_dict().values(), parts.state_dict().values()))
    log = (tmp_path / "a" / "train.log").read_text().splitlines()
    assert log == [log[0]] and log[0].startswith("t step 6/6 loss ")


def test_pass_refuses_bad_cadence(tmp_path: Path) -> None:
    from eval.training.loop import Pass

    with pytest.raises(ValueError, match="checkpoint_every=0"):
        Pass(tmp_path, seed=1, total=3, checkpoint_every=0)
    with pytest.raises(ValueError, match="stop_after=0"):
        Pass(tmp_path, seed=1, total=3, stop_after=0)
