"""Rebuilding a trained generator from what a checkpoint or export saved: its config and weights.

A saved config comes from a file that may be someone else's, so it must not make ganscale import
and run code it names: a user architecture (`package.module:factory`) is built only with the
caller's explicit consent, as `trust_remote_code` works in the Hugging Face libraries.
"""

from __future__ import annotations

import torch
from torch import nn

from ganscale.config import config_from_dict
from ganscale.errors import UserError


def build_generator(config: dict, weights: dict[str, torch.Tensor], *,
                    trust_arch: bool = False) -> tuple[nn.Module, object]:
    """(G in eval mode, its ModelConfig); weights that do not fit are a one-line user error.

    `trust_arch`: the caller's explicit consent to import a user architecture (`pkg.mod:factory`)
    that the saved config names; built-in architectures never need it.
    """
    from ganscale.models import build_models, is_user_arch

    model_cfg = config_from_dict(config).model  # checks the arch's name only: imports nothing
    if is_user_arch(model_cfg.arch) and not trust_arch:
        raise UserError(f"this file names a user architecture, model.arch={model_cfg.arch}, whose code "
                        "ganscale would import and run; pass --trust-arch if you trust the file")
    generator, _ = build_models(model_cfg)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise UserError(f"weights do not fit arch {model_cfg.arch} ({first})") from None
    return generator.eval(), model_cfg
