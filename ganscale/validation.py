"""Checking a Config before anything runs: each field against its metadata, the combinations, the
dataset's image shape, and (last, since it imports torch) what the architecture supports."""

from __future__ import annotations

import dataclasses
from typing import Any

from ganscale.config_sections import AUG_OPS, SECTIONS, AugConfig, Config
from ganscale.errors import UserError


def _check_field(key: str, value: Any, meta: dict) -> None:
    if meta.get("choices") is not None and value not in meta["choices"]:
        allowed = ", ".join(str(c) for c in meta["choices"])
        raise UserError(f"{key}={value!r} is not allowed; choose one of: {allowed}")
    if meta.get("min") is not None and value < meta["min"]:
        raise UserError(f"{key}={value!r} is out of range; must be >= {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise UserError(f"{key}={value!r} is out of range; must be <= {meta['max']}")
    if meta.get("above") is not None and value <= meta["above"]:
        raise UserError(f"{key}={value!r} is out of range; must be > {meta['above']}")


def validate(cfg: Config) -> None:
    for section in SECTIONS:
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            _check_field(f"{section}.{f.name}", getattr(obj, f.name), f.metadata)
    _check_aug(cfg.aug)
    m = cfg.model
    if cfg.data.name == "prepared" and not cfg.data.path:
        raise UserError("data.path is empty: data.name=prepared needs data.path=DIR (ganscale prepare)")
    if cfg.data.loader == "dataloader" and cfg.data.name != "mnist":
        raise UserError(f"data.loader=dataloader reads MNIST only (got data.name={cfg.data.name}); use "
                        "data.loader=auto, tensor or mmap for a prepared dataset")
    if cfg.loss.mode_seeking and cfg.train.batch_size % 2:
        raise UserError(f"train.batch_size={cfg.train.batch_size}: loss.mode_seeking pairs images, "
                        "so the batch size must be even")
    if m.sync_bn and "batch" not in (m.g_norm, m.d_norm):
        raise UserError("model.sync_bn=true but neither g_norm nor d_norm is batch")
    penalties = _penalties(cfg)
    if cfg.train.compile and penalties:
        raise UserError(f"train.compile=true with {penalties}: a gradient penalty differentiates D "
                        "twice and torch.compile does not support double backward; set train.compile=false")
    if cfg.train.mixed_precision == "fp16" and cfg.train.grad_accum > 1:
        raise UserError("train.grad_accum>1 with fp16 is not supported; use bf16 or grad_accum=1")
    # Last and imported here: every other mistake is reported before torch loads. The arch declares
    # what it supports; a user arch is only checked by name here, never imported.
    from ganscale.models import check_model

    check_model(cfg)
    if cfg.data.name == "mnist" and m.channels != 1:  # after the arch's own, more specific, message
        raise UserError(f"model.channels={m.channels}: MNIST is grey (1 channel); prepare a colour "
                        "dataset and set data.path=DIR for 3")
    from ganscale.eval.choice import check as check_metrics

    check_metrics(cfg)  # can the chosen metrics score this data: refused now, not after the training


def _penalties(cfg: Config) -> str:
    """The gradient penalties the loss computes, as `key=value`s ('' for none). As Trainer._d_loss:
    R1 and R2 when their gamma is > 0, WGAN-GP's penalty always (gp_weight=0 still computes it)."""
    loss = cfg.loss
    on = [f"loss.{key}={getattr(loss, key)}" for key in ("r1_gamma", "r2_gamma") if getattr(loss, key) > 0]
    if loss.kind == "wgan-gp":
        on.append(f"loss.kind=wgan-gp (gp_weight={loss.gp_weight})")
    return " and ".join(on)


def _check_aug(aug: AugConfig) -> None:
    """The op names, and target's two meanings: 0 (p fixed) or an r_t target strictly inside (0, 1)."""
    ops = aug.ops()
    for op in ops:
        if op not in AUG_OPS:
            raise UserError(f"aug.policy={aug.policy!r}: unknown op {op!r}; use a comma list of "
                            f"{', '.join(AUG_OPS)}, or none")
    if len(set(ops)) != len(ops):
        raise UserError(f"aug.policy={aug.policy!r} names an op twice; name each op once")
    if aug.target != 0 and not 0 < aug.target < 1:
        raise UserError(f"aug.target={aug.target!r} is out of range; must be in (0, 1) for an adaptive p, "
                        "or 0 for a fixed aug.p")
    if not ops and aug.p > 0:
        raise UserError(f"aug.p={aug.p!r} but aug.policy=none augments nothing; name the ops, e.g. "
                        "aug.policy=translation,cutout,color")


def fit_to_dataset(cfg: Config, user_keys: set[str]) -> None:
    """A prepared dataset decides the model's resolution and channels: the preset's values give way,
    a value the user set that differs is an error naming both."""
    if cfg.data.path and cfg.data.name == "mnist":
        cfg.data.name = "prepared"  # data.path=DIR is all a user types
    if cfg.data.name != "prepared" or not cfg.data.path:
        return
    from ganscale.data.prepared import read_info

    info = read_info(cfg.data.path)
    shape = f"{info.channels}x{info.resolution}x{info.resolution}"
    for key, value in (("image_size", info.resolution), ("channels", info.channels)):
        current = getattr(cfg.model, key)
        if f"model.{key}" in user_keys and current != value:
            raise UserError(f"model.{key}={current} but data.path={cfg.data.path} holds {shape} images "
                            f"({key} {value}); drop model.{key}, or prepare the data at that size")
        setattr(cfg.model, key, value)
