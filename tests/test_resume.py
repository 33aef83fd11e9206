"""What "exact resume" means: N steps + stop + resume + N steps == 2N steps, bit for bit (CPU)."""

import json
import math
import pickle

import pytest
import torch

from ganscale.config import load_config
from ganscale.run import run_training
from tests.helpers import TINY, checkpoint_tensors, latest_checkpoint_dir

OVERRIDES = [*TINY, "train.max_kimg=0.32", "log.every=3"]  # 20 steps of 16 images


def train(run_dir, mnist_root, *extra):
    cfg = load_config("mnist-mlp", overrides=[*OVERRIDES, f"data.root={mnist_root}", *extra])
    return run_training(cfg, str(run_dir))


@pytest.mark.parametrize("schedule", [[], ["optim.lr_decay=cosine", "optim.lr_final=0.1"]],
                         ids=["constant", "cosine"])
def test_resume_is_bit_exact(tmp_path, mnist_root, monkeypatch, schedule):
    train(tmp_path / "straight", mnist_root, *schedule)
    train(tmp_path / "resumed", mnist_root, "train.stop_after_steps=10", *schedule)
    stopped = latest_checkpoint_dir(tmp_path / "resumed")
    assert stopped.name == "kimg-000000.160"

    def refuse(*args, **kwargs):
        raise AssertionError("resume must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    train(tmp_path / "resumed", mnist_root, "train.resume=auto", *schedule)

    straight = checkpoint_tensors(latest_checkpoint_dir(tmp_path / "straight"))
    resumed = checkpoint_tensors(latest_checkpoint_dir(tmp_path / "resumed"))
    assert set(straight) == {"generator", "discriminator", "generator_ema", "optimizer_g", "optimizer_d"}
    for name, tensors in straight.items():
        assert tensors.keys() == resumed[name].keys()
        for key, value in tensors.items():
            assert torch.equal(value, resumed[name][key]), f"{name}.{key} differs after resume"


def test_checkpoint_keeps_last_k(tmp_path, mnist_root):
    train(tmp_path / "run", mnist_root, "train.checkpoint_every=0.064", "train.keep=2")
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["kimg-000000.256", "kimg-000000.320"]


def test_lr_decay_follows_the_training_position(tmp_path, mnist_root):
    """The logged lr at each log step is lr x the cosine factor at the position where that step began."""
    train(tmp_path / "run", mnist_root, "optim.lr_decay=cosine", "optim.lr_final=0.1")
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [(rec["kimg"], rec["lr_G"], rec["lr_D"]) for rec in logs if "lr_G" in rec]
    assert len(logged) >= 5
    for kimg, lr_g, lr_d in logged:
        start = kimg - 0.016  # the step that ended at `kimg` began one batch of 16 earlier
        factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * start / 0.32))
        assert math.isclose(lr_g, 2e-4 * factor, rel_tol=1e-9)
        assert math.isclose(lr_d, 2e-4 * factor, rel_tol=1e-9)
    assert logged[-1][1] < 2e-4 * 0.15 < 2e-4 * 0.9 < logged[0][1]
