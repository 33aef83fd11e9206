"""Hyperparameters that move over the run: the learning rates' warm-up and decay, Adam's beta2, and
the R1/R2 penalty weights, each a function of the training position (images shown), never of time.

R3GAN (Huang et al. 2024) anneals all three with one cosine over a fixed number of images: lr
2e-4 -> 5e-5, beta2 0.9 -> 0.99, gamma to a tenth, over 20M images. Tied to images, so a resumed run,
another world size or a slower machine get the same values at the same point; the trainer sets them at
every step from `cur_nimg`. The span is `optim.schedule_kimg`, or the run's `train.max_kimg` when 0.
"""

from __future__ import annotations

import math

from ganscale.lr_schedule import lr_factor


def span_kimg(cfg) -> float:
    return cfg.optim.schedule_kimg or cfg.train.max_kimg


def ramp(kind: str, cur_nimg: int, span: float, start: float, end: float) -> float:
    """`start` at 0 images, `end` at `span` kimg (and after), linearly or along half a cosine."""
    if kind == "none":
        return start
    progress = min(cur_nimg / (span * 1000), 1.0)
    shape = progress if kind == "linear" else 0.5 * (1.0 - math.cos(math.pi * progress))
    return start + (end - start) * shape


def lr_multiplier(cfg, cur_nimg: int) -> float:
    """Of lr_g / lr_d: a linear warm-up from 0 over `optim.lr_warmup_kimg`, times `optim.lr_decay`."""
    o = cfg.optim
    factor = lr_factor(o.lr_decay, cur_nimg, span_kimg(cfg), o.lr_final)
    if o.lr_warmup_kimg:
        factor *= min(cur_nimg / (o.lr_warmup_kimg * 1000), 1.0)
    return factor


def beta2_at(cfg, cur_nimg: int) -> float:
    o = cfg.optim
    return ramp(o.beta2_schedule, cur_nimg, span_kimg(cfg), o.beta2, o.beta2_final)


def gamma_factor(cfg, cur_nimg: int) -> float:
    """Of loss.r1_gamma and loss.r2_gamma: 1 at the start, `loss.gamma_final` at the span's end."""
    return ramp(cfg.loss.gamma_decay, cur_nimg, span_kimg(cfg), 1.0, cfg.loss.gamma_final)


def set_optimizer_schedule(cfg, cur_nimg: int, lr_scale: float, optimizers) -> None:
    """Set (G's, D's) optimizers' lr (x `lr_scale`, the rollbacks' halving) and, when scheduled, beta2."""
    o = cfg.optim
    factor = lr_scale * lr_multiplier(cfg, cur_nimg)
    betas = (o.beta1, beta2_at(cfg, cur_nimg)) if o.beta2_schedule != "none" else None
    for optimizer, lr in zip(optimizers, (o.lr_g, o.lr_d), strict=True):
        for group in optimizer.param_groups:
            group["lr"] = lr * factor
            if betas is not None:
                group["betas"] = betas
