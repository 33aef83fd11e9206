"""The textbook MLP GAN (Goodfellow et al. 2014 as in most tutorials): a baseline, so widths are fixed."""

from __future__ import annotations

import torch
from torch import nn

from ganscale.errors import UserError
from ganscale.models.common import GanModule, norm1d, sn
from ganscale.models.registry import register

G_WIDTHS = (256, 512, 1024)
D_WIDTHS = (512, 256)


def _check_norm(key: str, kind: str, allowed: str) -> None:
    """Instance norm needs spatial positions to average over; a flat vector has none."""
    if kind == "instance":
        raise UserError(f"model.{key}=instance is not supported by arch mlp; choose {allowed}")


class MLPGenerator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        _check_norm("g_norm", cfg.g_norm, "batch, layer or none")
        layers: list[nn.Module] = []
        fan_in = cfg.z_dim
        for width in G_WIDTHS:
            layers += [nn.Linear(fan_in, width), norm1d(cfg.g_norm, width), nn.LeakyReLU(0.2)]
            fan_in = width
        out = cfg.channels * cfg.image_size**2
        layers += [nn.Linear(fan_in, out), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.channels, self.image_size, self.image_size)


class MLPDiscriminator(GanModule):
    """No norm on the input layer (as in DCGAN): normalising raw pixels only adds batch coupling."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        _check_norm("d_norm", cfg.d_norm, "batch, layer, spectral or none")
        kind = cfg.d_norm
        fan_in = cfg.channels * cfg.image_size**2
        layers: list[nn.Module] = []
        for i, width in enumerate(D_WIDTHS):
            norm = nn.Identity() if i == 0 else norm1d(kind, width)
            layers += [sn(nn.Linear(fan_in, width), kind), norm, nn.LeakyReLU(0.2)]
            fan_in = width
        layers.append(sn(nn.Linear(fan_in, 1), kind))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).flatten()


@register("mlp", resolutions=(28,))
def build(cfg) -> tuple[nn.Module, nn.Module]:
    return MLPGenerator(cfg), MLPDiscriminator(cfg)
