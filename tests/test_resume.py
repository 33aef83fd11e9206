"""What "exact resume" means: N steps + stop + resume + N steps == 2N steps, bit for bit (CPU)."""

import pickle

import torch

from ganscale.config import load_config
from ganscale.run import run_training
from tests.helpers import TINY, checkpoint_tensors, latest_checkpoint_dir

OVERRIDES = [*TINY, "train.max_kimg=0.32", "log.every=3"]  # 20 steps of 16 images


def train(run_dir, mnist_root, *extra):
    cfg = load_config("mnist-mlp", overrides=[*OVERRIDES, f"data.root={mnist_root}", *extra])
    return run_training(cfg, str(run_dir))


def test_resume_is_bit_exact(tmp_path, mnist_root, monkeypatch):
    train(tmp_path / "straight", mnist_root)
    train(tmp_path / "resumed", mnist_root, "train.stop_after_steps=10")
    stopped = latest_checkpoint_dir(tmp_path / "resumed")
    assert stopped.name == "kimg-000000.160"

    def refuse(*args, **kwargs):
        raise AssertionError("resume must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    train(tmp_path / "resumed", mnist_root, "train.resume=auto")

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
