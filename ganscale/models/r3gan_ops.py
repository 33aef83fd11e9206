"""The layers of R3GAN's D written so that R1 and R2 stay cheap: both differentiate D's input gradient
again (a double backward) at every step.

PyTorch's double backward of a grouped or depthwise convolution splits it into one small convolution
per group (`_convolution_double_backward`): on CPU an R1 step of a width-64 D then cost 20x a plain
step. Here a grouped conv's backward is written as two ordinary grouped convolutions (the transposed
conv for the input, the weight gradient), which autograd then differentiates with their own
first-order backward; the fixed low-pass filter is strided slices and adds; the depthwise conv over
the whole base grid is a multiply and a sum. Same maths as `nn.Conv2d(groups=...)`, checked in
tests/test_r3gan.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _GroupedConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, padding: int, groups: int):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.groups = padding, groups
        return F.conv2d(x, weight, padding=padding, groups=groups)

    @staticmethod
    def backward(ctx, grad):
        """In the gradient's dtype: under autocast the forward ran in bf16/fp16 on float32 inputs."""
        x, weight = ctx.saved_tensors
        pad, groups = ctx.padding, ctx.groups
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv_transpose2d(grad, weight.to(grad.dtype), padding=pad, groups=groups).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(x.to(grad.dtype), weight.shape, grad, padding=pad,
                                                 groups=groups).to(weight.dtype)
        return grad_x, grad_w, None, None


class GroupedConv2d(nn.Conv2d):
    """A bias-free, stride-1, 'same' nn.Conv2d (same parameters and state-dict keys) with the backward
    above; plain convs (groups=1) keep torch's own, which has a fast double backward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.groups == 1:
            return super().forward(x)
        return _GroupedConv.apply(x, self.weight.to(x.dtype), self.padding[0], self.groups)


def _lowpass_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """(x[2i] + 3 x[2i+1] + 3 x[2i+2] + x[2i+3]) / 8 along `dim` of an input padded by 1 on each side."""
    half = (x.shape[dim] - 2) // 2
    taps = [x[(slice(None),) * dim + (slice(k, k + 2 * half - 1, 2),)] for k in range(4)]
    return (taps[0] + taps[3] + 3.0 * (taps[1] + taps[2])) * 0.125


def lowpass_downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve the resolution through the [1, 3, 3, 1] / 8 filter per axis (zero padding 1, stride 2):
    StyleGAN's and R3GAN's bilinear downsampling, as strided slices and adds (elementwise, so its
    double backward is as cheap as its forward; avg_pool2d on channels-last tensors was not)."""
    x = F.pad(x, (1, 1, 1, 1))
    return _lowpass_axis(_lowpass_axis(x, 3), 2)


class GridWeights(nn.Module):
    """A depthwise conv whose kernel covers the whole [base, base] input: one weight per channel and
    position, summed over positions ([B, C, b, b] -> [B, C])."""

    def __init__(self, channels: int, base: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, base, base) / base)  # MSR: fan-in base^2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight.to(x.dtype)).sum(dim=(2, 3))
