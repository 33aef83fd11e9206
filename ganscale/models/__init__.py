"""Model registry: `build_models(cfg.model)` returns an initialised (G, D) pair for any arch.

Every G maps (z[B, z_dim], labels[B] | None) to images [B, C, H, W] in [-1, 1]; every D maps
(x, labels | None) to logits [B], optionally with auxiliary outputs (`split_d_output` reads both).
Losses, sampling and export rely only on this contract (`contract.py`, documented in docs/models.md).
`model.arch` is a built-in name or a user's `package.module:factory`.
"""

from ganscale.models import cgan, dcgan, dcgan64, keras_dcgan, mlp, r3gan  # noqa: F401  (imported to register)
from ganscale.models.common import init_weights, plain_activations
from ganscale.models.contract import latent_code, require_output, split_d_output
from ganscale.models.registry import BUILDERS, build_models, check_model, register
from ganscale.models.support import Support
from ganscale.models.user_arch import is_user_arch

ARCHS: tuple[str, ...] = tuple(sorted(BUILDERS))

__all__ = ["ARCHS", "Support", "build_models", "check_model", "init_weights",
           "is_user_arch", "latent_code", "plain_activations", "register", "require_output", "split_d_output"]
