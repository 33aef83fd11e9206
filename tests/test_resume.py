"""What "exact resume" means: N steps + stop + resume + N steps == 2N steps, bit for bit (CPU)."""

import json
import math
import pickle

import pytest
import torch

from ganscale.config import load_config
from ganscale.run import run_training
from tests.helpers import TINY, assert_same_latest_checkpoints, latest_checkpoint_dir

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

    assert_same_latest_checkpoints(tmp_path / "straight", tmp_path / "resumed")


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


def test_auto_resume_passes_over_a_broken_checkpoint_and_says_so(tmp_path, mnist_root, capsys):
    """train.resume=auto: the newest checkpoint is truncated, so the run continues from the one before,
    after one line naming the checkpoint it skipped and why."""
    run = tmp_path / "run"
    train(run, mnist_root, "train.checkpoint_every=0.064", "train.stop_after_steps=10")
    newest = latest_checkpoint_dir(run)
    assert newest.name == "kimg-000000.160"
    weights = newest / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    incomplete = run / "checkpoints" / "kimg-000009.000"
    incomplete.mkdir()
    capsys.readouterr()
    train(run, mnist_root, "train.checkpoint_every=0.064", "train.resume=auto", "train.stop_after_steps=1")
    out = capsys.readouterr().out.splitlines()
    skipped = [line for line in out if line.startswith("skipping checkpoint")]
    assert len(skipped) == 2, out
    assert any(str(newest) in line and "not a readable safetensors file" in line for line in skipped)
    assert any(str(incomplete) in line and "incomplete, missing state.json" in line for line in skipped)
    assert f"resumed from {run / 'checkpoints' / 'kimg-000000.128'} at kimg 0.1" in out


def test_rollback_restores_the_snapshot_with_half_the_lr_scale(mnist_root):
    from ganscale.run import build_accelerator
    from ganscale.trainer import Trainer

    cfg = load_config("mnist-mlp", overrides=[*OVERRIDES, f"data.root={mnist_root}"])
    trainer = Trainer(cfg, build_accelerator(cfg))
    trainer.start_data()
    trainer.train_step()
    snapshot = trainer.gather_snapshot()
    saved = {k: v.clone() for k, v in snapshot.generator.items()}
    trainer.lr_scale = 0.5  # one rollback already happened since the snapshot was taken
    for _ in range(3):
        trainer.train_step()
    trainer.rollback(snapshot)
    assert (trainer.step, trainer.cur_nimg, trainer.lr_scale) == (1, 16, 0.25)
    assert trainer.opt_G.param_groups[0]["lr"] == cfg.optim.lr_g * 0.25
    assert all(torch.equal(trainer.G_plain.state_dict()[k], v) for k, v in saved.items())
