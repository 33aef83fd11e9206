"""G_ema: an exponential moving average of G's weights, the model used for samples and export.

Kept outside DDP (like DiT's EMA): every rank updates its own copy from identical G weights, so
the copies stay identical without any communication. The decay is given as a half-life in
thousands of images (as StyleGAN does), so it means the same at every batch size and world size.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, generator: nn.Module, halflife_kimg: float, rampup: float):
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        self.halflife_kimg = halflife_kimg
        self.rampup = rampup

    def beta(self, cur_nimg: int, batch_images: int) -> float:
        """Per-update decay; the ramp-up shortens the half-life early on so G_ema is not stuck at init."""
        halflife_nimg = self.halflife_kimg * 1000.0
        if self.rampup > 0:
            halflife_nimg = min(halflife_nimg, cur_nimg * self.rampup)
        if halflife_nimg <= 0:
            return 0.0
        return 0.5 ** (batch_images / halflife_nimg)

    @torch.no_grad()
    def update(self, generator: nn.Module, cur_nimg: int, batch_images: int) -> None:
        beta = self.beta(cur_nimg, batch_images)
        ema_params = list(self.model.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in generator.parameters()], 1.0 - beta)
        # BatchNorm running statistics are copied, not averaged, as in StyleGAN.
        for ema_buf, buf in zip(self.model.buffers(), generator.buffers(), strict=True):
            ema_buf.copy_(buf)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
