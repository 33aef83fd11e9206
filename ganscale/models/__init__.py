"""Model registry: `build_models(cfg.model)` returns an initialised (G, D) pair for any arch.

Every G maps (z[B, z_dim], labels[B] | None) to images [B, C, H, W] in [-1, 1]; every D maps
(x, labels | None) to logits [B]. Losses, sampling and export rely only on this contract.
"""

from ganscale.models import cgan, dcgan, dcgan64, mlp  # noqa: F401  (imported to register)
from ganscale.models.common import init_weights, plain_activations
from ganscale.models.loading import build_generator
from ganscale.models.registry import BUILDERS, build_models, register

ARCHS: tuple[str, ...] = tuple(sorted(BUILDERS))

__all__ = ["ARCHS", "build_generator", "build_models", "init_weights", "plain_activations", "register"]
