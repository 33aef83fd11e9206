"""The model contract: what a G and a D must do for the trainer, losses, sampling and export to use them.

- G: `forward(z [B, z_dim], labels [B] | None = None)` -> images [B, C, H, W].
- D: `forward(images, labels | None = None)` -> logits [B] (a [B, 1] head is accepted), or
  `(logits, {"codes": [B, K], ...})` when it has auxiliary outputs. They are returned, never left
  behind as attributes, so that DDP, `torch.compile` and a D called twice in one step cannot mix
  them up.
- Pixels: everything outside the models sees images in [-1, 1]. A model built for another range
  declares `pixel_range` and `adapt_pixel_range` maps G's output into [-1, 1] and D's input back.

What a model supports (resolutions, channels, ...) is declared in `support.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import nn

from ganscale.errors import UserError

TRAINER_RANGE = (-1.0, 1.0)


def latent_code(z: torch.Tensor, codes: int) -> torch.Tensor:
    """The categorical code hidden in z: argmax of its first `codes` entries (uniform, as they are iid).

    A noise convention, not a layer: deriving the code from z keeps z the only noise, so samplers,
    evaluation, export and interpolation need nothing new, and the code of every image is known
    wherever z is. G's that use codes and the trainer's information loss both read it from here.
    """
    return z[:, :codes].argmax(dim=1)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(type(v).__name__ for v in value)})"
    return f"a {type(value).__name__}"


def split_d_output(output) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(logits [B], auxiliary outputs) from whatever a D returned, so callers handle one shape only."""
    if isinstance(output, torch.Tensor):
        logits, aux = output, {}
    elif (isinstance(output, (tuple, list)) and len(output) == 2 and isinstance(output[0], torch.Tensor)
          and isinstance(output[1], Mapping)):
        logits, aux = output[0], dict(output[1])
    else:
        raise UserError(f"D returned {_describe(output)}; "
                        "a D returns logits [B] or (logits, {'codes': ...})")
    if logits.dim() == 2 and logits.shape[1] == 1:
        logits = logits.flatten()  # a Dense(1) / Linear(.., 1) head
    if logits.dim() != 1:
        raise UserError(f"D returned logits of shape {tuple(logits.shape)}; expected [B] or [B, 1]")
    return logits, aux


def require_output(aux: Mapping[str, torch.Tensor], name: str, needed_by: str) -> torch.Tensor:
    """An auxiliary output a setting depends on; its absence is the user's model, not a crash."""
    if name not in aux:
        found = ", ".join(aux) or "none"
        raise UserError(f"{needed_by} needs D to return (logits, {{{name!r}: ...}}); its outputs: {found}")
    return aux[name]


def _to_trainer_range(low: float, high: float, module: nn.Module, inputs, output: torch.Tensor):
    return (output - low) * (2.0 / (high - low)) - 1.0


def _from_trainer_range(low: float, high: float, module: nn.Module, inputs: tuple) -> tuple:
    images, *rest = inputs
    return ((images + 1.0) * ((high - low) / 2.0) + low, *rest)


def check_pixel_range(pixel_range, arch: str) -> tuple[float, float]:
    """A (low, high) pair of numbers with low < high, or a one-line error naming the arch."""
    try:
        low, high = (float(v) for v in pixel_range)
    except (TypeError, ValueError):
        raise UserError(f"model.arch={arch}: pixel_range={pixel_range!r} is not a (low, high) pair") from None
    if not low < high:
        raise UserError(f"model.arch={arch}: pixel_range={pixel_range!r} needs low < high")
    return low, high


def adapt_pixel_range(generator: nn.Module, discriminator: nn.Module, pixel_range, arch: str) -> None:
    """Make a pair built for images in `pixel_range` look like a [-1, 1] pair from outside.

    Forward hooks rather than a wrapper module: the state-dict keys stay the model's own, so its
    weights load into the user's unwrapped classes, and a deep copy (G_ema) carries the hooks along.
    """
    low, high = check_pixel_range(pixel_range, arch)
    if (low, high) == TRAINER_RANGE:
        return
    generator.register_forward_hook(functools.partial(_to_trainer_range, low, high))
    discriminator.register_forward_pre_hook(functools.partial(_from_trainer_range, low, high))


def check_pair(pair, arch: str) -> tuple[nn.Module, nn.Module]:
    """The factory's result as (G, D), or a one-line error saying what came back instead."""
    if isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(m, nn.Module) for m in pair):
        return pair[0], pair[1]
    raise UserError(f"model.arch={arch}: the factory returned {_describe(pair)}, "
                    "not a (G, D) pair of torch.nn.Module")
