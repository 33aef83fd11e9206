"""The hyperparameters that move over a run (schedules.py) and the trainer applying them per step."""

from __future__ import annotations

import math

import pytest

from ganscale.config import load_config
from ganscale.lr_schedule import lr_factor
from ganscale.schedules import beta2_at, gamma_factor, lr_multiplier, ramp

TINY_R3GAN = ["model.r3gan_widths=8", "model.r3gan_cardinality=2", "log.progress=false"]


@pytest.mark.parametrize("kind, values", [
    ("none", [0.9, 0.9, 0.9, 0.9]),
    ("linear", [0.9, 0.945, 0.99, 0.99]),
    ("cosine", [0.9, 0.945, 0.99, 0.99]),
])
def test_ramp_from_start_to_end_over_the_span(kind, values):
    got = [ramp(kind, nimg, 10.0, 0.9, 0.99) for nimg in (0, 5000, 10000, 30000)]
    assert got == pytest.approx(values, abs=1e-12)
    if kind == "cosine":  # R3GAN's shape: slow at both ends
        quarter = 0.9 + 0.09 * (1 - math.cos(math.pi / 4)) / 2
        assert ramp(kind, 2500, 10.0, 0.9, 0.99) == pytest.approx(quarter)


def test_r3gan_presets_follow_the_papers_schedules():
    """lr to a quarter (1e-3 -> 2.5e-4 here, 2e-4 -> 5e-5 in the paper), beta2 0.9 -> 0.99, gamma x 0.1,
    one cosine over the span (here the run)."""
    cfg = load_config("mnist-r3gan")
    end = int(cfg.train.max_kimg * 1000)
    assert [cfg.optim.lr_g * lr_multiplier(cfg, n) for n in (0, end)] == pytest.approx([1e-3, 2.5e-4])
    assert [beta2_at(cfg, n) for n in (0, end // 2, end)] == pytest.approx([0.9, 0.945, 0.99])
    assert [gamma_factor(cfg, n) for n in (0, end // 2, end)] == pytest.approx([1.0, 0.55, 0.1])
    spanned = load_config("mnist-r3gan", overrides=["optim.schedule_kimg=1000"])
    assert gamma_factor(spanned, end) == pytest.approx(1 - 0.9 * (1 - math.cos(math.pi * 0.1)) / 2)


def test_old_configs_keep_their_lr_schedule_and_fixed_beta2_and_gamma():
    for overrides in ([], ["optim.lr_decay=cosine", "optim.lr_final=0.1"]):
        cfg = load_config("mnist-dcgan", overrides=overrides)
        for nimg in (0, 123_456, 10**7):
            o = cfg.optim
            assert lr_multiplier(cfg, nimg) == lr_factor(o.lr_decay, nimg, cfg.train.max_kimg, o.lr_final)
            assert beta2_at(cfg, nimg) == cfg.optim.beta2 and gamma_factor(cfg, nimg) == 1.0


def test_warm_up_ramps_the_lr_from_zero():
    cfg = load_config("mnist-dcgan", overrides=["optim.lr_warmup_kimg=2"])
    assert [lr_multiplier(cfg, n) for n in (0, 1000, 2000, 50_000)] == [0.0, 0.5, 1.0, 1.0]


def test_the_trainer_sets_lr_beta2_and_gamma_from_the_image_count(mnist_root):
    """Set at every step from cur_nimg, so a resumed run (which restores cur_nimg) continues the schedule."""
    from ganscale.run import build_accelerator
    from ganscale.trainer import Trainer

    cfg = load_config("mnist-r3gan", overrides=[f"data.root={mnist_root}", *TINY_R3GAN])
    trainer = Trainer(cfg, build_accelerator(cfg))
    trainer.cur_nimg = int(cfg.train.max_kimg * 500)  # half way
    trainer.set_learning_rates()
    for optimizer in (trainer.opt_G, trainer.opt_D):
        group = optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(1e-3 * (0.25 + 0.75 * 0.5))
        assert group["betas"] == pytest.approx((0.0, 0.945))
    assert trainer.gamma_scale == pytest.approx(0.55)
