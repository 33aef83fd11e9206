"""Checking a Config before anything runs: each field against its metadata, the combinations, the
dataset's image shape, and (last, since it imports torch) what the architecture supports."""

from __future__ import annotations

import dataclasses
from typing import Any

from ganscale.config import SECTIONS, Config
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
    m = cfg.model
    if cfg.data.name == "prepared" and not cfg.data.path:
        raise UserError("data.path is empty: data.name=prepared needs data.path=DIR (ganscale prepare)")
    if cfg.data.loader == "dataloader" and cfg.data.name != "mnist":
        raise UserError(f"data.loader=dataloader reads MNIST only (got data.name={cfg.data.name}); use "
                        "data.loader=auto, tensor or mmap for a prepared dataset")
    if cfg.data.name == "mnist" and m.channels != 1:
        raise UserError(f"model.channels={m.channels}: MNIST is grey (1 channel); prepare a colour "
                        "dataset and set data.path=DIR for 3")
    if cfg.loss.mode_seeking and cfg.train.batch_size % 2:
        raise UserError(f"train.batch_size={cfg.train.batch_size}: loss.mode_seeking pairs images, "
                        "so the batch size must be even")
    if m.sync_bn and "batch" not in (m.g_norm, m.d_norm):
        raise UserError("model.sync_bn=true but neither g_norm nor d_norm is batch")
    scoring = "eval.every" if cfg.eval.every else "eval.at_end=true" if cfg.eval.at_end else ""
    if scoring and cfg.data.name != "mnist" and not _scorable(cfg.data.path):  # now, not after training
        raise UserError(f"{scoring}: the built-in evaluation scores data.name=mnist and datasets prepared "
                        f"as stacked-mnist only, not data.path={cfg.data.path}; use eval.every=0 "
                        "eval.at_end=false")
    if cfg.train.mixed_precision == "fp16" and cfg.train.grad_accum > 1:
        raise UserError("train.grad_accum>1 with fp16 is not supported; use bf16 or grad_accum=1")
    # Last and imported here: every other mistake is reported before torch loads. The arch declares
    # what it supports; a user arch is only checked by name here, never imported.
    from ganscale.models import check_model

    check_model(cfg)


def _scorable(path: str) -> bool:
    """A stacked-mnist dataset, or one not on this machine (a saved config read elsewhere: load_config
    has refused a missing data.path before this)."""
    from ganscale.data.prepared import is_prepared, read_info

    return not is_prepared(path) or read_info(path).source.get("kind") == "stacked-mnist"


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
