"""Pieces shared by every architecture: the caller-facing base class, norm factories and DCGAN init."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganscale.errors import UserError


class GanModule(nn.Module):
    """Carries the shape facts sampling/export code needs, so callers never re-read the config."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.z_dim = cfg.z_dim
        self.num_classes = cfg.num_classes
        self.image_size = cfg.image_size
        self.channels = cfg.channels


class _GradInOutputLayout(torch.autograd.Function):
    """Identity whose backward hands the gradient on in the memory layout of the forward tensor.

    On CPU the trainer keeps conv weights channels_last (NHWC). Where an activation sits between a
    Flatten/Unflatten and a conv, its output and the gradient coming back have different layouts,
    and elementwise backward kernels on mixed layouts fall back to strided loops (LeakyReLU backward
    at [128, 64, 14, 14]: 10.8 ms instead of 0.64). One copy to the output's layout avoids that; the
    values, and so every number computed from them, are unchanged.
    """

    @staticmethod
    def forward(ctx, x):
        nhwc = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        ctx.layout = torch.channels_last if nhwc else torch.contiguous_format
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous(memory_format=ctx.layout)


def _grad_in_output_layout(out: torch.Tensor) -> torch.Tensor:
    if out.dim() == 4 and out.requires_grad and out.device.type == "cpu":
        return _GradInOutputLayout.apply(out)
    return out


class ReLU(nn.ReLU):
    """nn.ReLU whose output gradient comes back in the output's layout (see _GradInOutputLayout)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _grad_in_output_layout(super().forward(x))


class LeakyReLU(nn.LeakyReLU):
    """nn.LeakyReLU whose output gradient comes back in the output's layout (see _GradInOutputLayout)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _grad_in_output_layout(super().forward(x))


def plain_activations(model: nn.Module) -> nn.Module:
    """Swap the layout-keeping ReLU/LeakyReLU for torch's own, in place (same numbers, slower on CPU).

    For measuring what the layout fix earns; the swapped modules hold no parameters, so weights and
    checkpoints are unaffected.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is ReLU:
                setattr(parent, name, nn.ReLU(inplace=child.inplace))
            elif type(child) is LeakyReLU:
                setattr(parent, name, nn.LeakyReLU(child.negative_slope, inplace=child.inplace))
    return model


class MinibatchStd(nn.Module):
    """Appends one feature map: the std of D's features across a group of samples (Karras et al. 2018).

    A D that judges each sample alone cannot see that a batch lacks variety. (It did not cure
    `mnist-cgan`'s collapse to one image per class: its groups mix classes, so a batch collapsed within
    each class still looks varied; the mode-seeking loss did.) Groups are runs of consecutive samples, so
    1 process x 2b and 2 processes x b form the same groups when b is a multiple of the group size;
    a batch that is not falls back to one group.
    """

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        g = self.group if n % self.group == 0 else n
        grouped = x.float().reshape(n // g, g, *x.shape[1:])
        std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
        feature = std.to(x.dtype).repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, feature], dim=1)


def require_labels(labels: torch.Tensor | None, arch: str) -> torch.Tensor:
    """Fail with a readable message instead of an opaque embedding error deep in forward."""
    if labels is None:
        raise UserError(f"arch {arch} is conditional: pass labels (LongTensor[B] of class ids)")
    return labels


def norm2d(kind: str, ch: int) -> nn.Module:
    """Normalisations that work on feature maps; 'layer' is GroupNorm(1) so it ignores spatial size."""
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, ch)
    if kind in ("none", "spectral"):
        return nn.Identity()
    raise UserError(f"unknown norm {kind!r}; choose batch, instance, layer, spectral or none")


def norm1d(kind: str, features: int) -> nn.Module:
    """Normalisations for flat vectors; instance norm has no meaning there, so the caller rejects it."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind in ("none", "spectral"):
        return nn.Identity()
    raise UserError(f"unknown norm {kind!r} for a flat layer; choose batch, layer, spectral or none")


def sn(layer: nn.Module, kind: str) -> nn.Module:
    """Spectral norm is a reparametrisation of the weight, not a layer, so it wraps instead of follows."""
    return spectral_norm(layer) if kind == "spectral" else layer


def init_weights(m: nn.Module) -> None:
    """DCGAN init (Radford et al.): N(0, 0.02) weights, N(1, 0.02) norm scales, zero biases.

    Use with `model.apply(init_weights)`. Spectrally normalised layers are unwrapped, re-initialised and
    wrapped again so the stored power-iteration vectors match the new weights (otherwise the first
    eval-mode forward would divide by a stale sigma).
    """
    if isinstance(m, (_ConvNd, nn.Linear)):
        wrapped = parametrize.is_parametrized(m, "weight")
        if wrapped:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        nn.init.normal_(m.weight, 0.0, 0.02)
        if wrapped:
            spectral_norm(m)
    elif isinstance(m, (_NormBase, nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
    else:
        return
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)
