"""Radford et al.'s 64x64 DCGAN, layer for layer as in pytorch/examples dcgan/main.py.

Kept identical (bias-free convs, `main` Sequential, parameter count) so throughput and quality can be
compared against that reference loop. Differences: D returns logits (losses own the sigmoid) and the
norms follow the config.
"""

from __future__ import annotations

import torch
from torch import nn

from ganscale.models.common import GanModule, norm2d, sn
from ganscale.models.registry import register


def _up(cin: int, cout: int, kind: str) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), norm2d(kind, cout), nn.ReLU(True)]


def _down(cin: int, cout: int, kind: str) -> list[nn.Module]:
    return [sn(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), kind), norm2d(kind, cout), nn.LeakyReLU(0.2, True)]


class DCGAN64Generator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        ngf, kind = cfg.g_width, cfg.g_norm
        self.main = nn.Sequential(
            nn.ConvTranspose2d(cfg.z_dim, ngf * 8, 4, 1, 0, bias=False),  # 4x4
            norm2d(kind, ngf * 8),
            nn.ReLU(True),
            *_up(ngf * 8, ngf * 4, kind),  # 8x8
            *_up(ngf * 4, ngf * 2, kind),  # 16x16
            *_up(ngf * 2, ngf, kind),  # 32x32
            nn.ConvTranspose2d(ngf, cfg.channels, 4, 2, 1, bias=False),  # 64x64
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGAN64Discriminator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        ndf, kind = cfg.d_width, cfg.d_norm
        self.main = nn.Sequential(
            sn(nn.Conv2d(cfg.channels, ndf, 4, 2, 1, bias=False), kind),  # 32x32, no norm (Radford)
            nn.LeakyReLU(0.2, True),
            *_down(ndf, ndf * 2, kind),  # 16x16
            *_down(ndf * 2, ndf * 4, kind),  # 8x8
            *_down(ndf * 4, ndf * 8, kind),  # 4x4
            sn(nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), kind),  # 1x1 logit, no Sigmoid
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(x).flatten()


@register("dcgan64", resolutions=(64,))
def build(cfg) -> tuple[nn.Module, nn.Module]:
    return DCGAN64Generator(cfg), DCGAN64Discriminator(cfg)
