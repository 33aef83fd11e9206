"""Rebuilding a trained generator from what a checkpoint or export saved: its config and weights."""

from __future__ import annotations

import torch
from torch import nn

from ganscale.errors import UserError


def build_generator(config: dict, weights: dict[str, torch.Tensor], *,
                    trust_arch: bool = False) -> tuple[nn.Module, object]:
    """(G in eval mode, its ModelConfig); weights that do not fit are a one-line user error.

    `trust_arch`: the caller's explicit consent to import a user architecture (`pkg.mod:factory`)
    that the saved config names; built-in architectures never need it.
    """
    from ganscale.config import config_from_dict
    from ganscale.models.registry import build_models

    model_cfg = config_from_dict(config).model
    generator, _ = build_models(model_cfg)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise UserError(f"weights do not fit arch {model_cfg.arch} ({first})") from None
    return generator.eval(), model_cfg
