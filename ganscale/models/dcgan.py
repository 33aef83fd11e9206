"""DCGAN for MNIST-sized data (28 or 32 pixels): two stride-2 stages (7->14->28, 8->16->32) instead of four.

The generator net and the discriminator body are exposed as functions so `cgan` reuses them unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ganscale.models.common import GanModule, LeakyReLU, MinibatchStd, ReLU, norm2d, sn
from ganscale.models.contract import latent_code
from ganscale.models.registry import register

RESOLUTIONS = (28, 32)  # two stride-2 stages from a base of size / 4: 7 -> 14 -> 28, or 8 -> 16 -> 32


def base(cfg) -> int:
    return cfg.image_size // 4


def generator_net(cfg, in_dim: int) -> nn.Sequential:
    """Reshape before the first norm so every norm kind (incl. instance) sees a [2w, 7, 7] map."""
    w, kind = cfg.g_width, cfg.g_norm
    return nn.Sequential(
        nn.Linear(in_dim, 2 * w * base(cfg) ** 2),
        nn.Unflatten(1, (2 * w, base(cfg), base(cfg))),
        norm2d(kind, 2 * w),
        ReLU(),  # ganscale's ReLU/LeakyReLU: nn's, plus gradients in the right layout on CPU (common.py)
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1),
        norm2d(kind, w),
        ReLU(),
        nn.ConvTranspose2d(w, cfg.channels, 4, 2, 1),
        nn.Tanh(),
    )


def discriminator_body(cfg) -> tuple[nn.Sequential, int]:
    """Features phi(x) and their size; no norm on the first conv, as in Radford et al."""
    dw, kind = cfg.d_width, cfg.d_norm
    layers = [
        sn(nn.Conv2d(cfg.channels, dw, 4, 2, 1), kind),
        LeakyReLU(0.2),
        sn(nn.Conv2d(dw, 2 * dw, 4, 2, 1), kind),
        norm2d(kind, 2 * dw),
        LeakyReLU(0.2),
    ]
    channels = 2 * dw
    if cfg.d_mbstd:
        layers.append(MinibatchStd(cfg.d_mbstd))
        channels += 1
    return nn.Sequential(*layers, nn.Flatten()), channels * base(cfg) ** 2


class DCGANGenerator(GanModule):
    """With `latent_codes` K, G also sees one_hot(latent_code(z)): a discrete switch between modes,
    so digits need not be joined by a continuous path of non-digits (InfoGAN, Chen et al. 2016)."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.codes = cfg.latent_codes
        self.net = generator_net(cfg, cfg.z_dim + self.codes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.codes:
            one_hot = nn.functional.one_hot(latent_code(z, self.codes), self.codes).to(z.dtype)
            z = torch.cat([z, one_hot], dim=1)
        return self.net(z)


class DCGANDiscriminator(GanModule):
    """With `latent_codes` K, a Q head reads the code back from D's features and D returns
    (logits, {"codes": code logits [B, K]}) for the trainer's information loss."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.body, self.feat_dim = discriminator_body(cfg)
        self.head = sn(nn.Linear(self.feat_dim, 1), cfg.d_norm)
        self.q_head = nn.Linear(self.feat_dim, cfg.latent_codes) if cfg.latent_codes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None
                ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = self.body(x)
        if self.q_head is None:
            return self.head(features).flatten()
        codes = self.q_head(features)
        return self.head(features).flatten(), {"codes": codes}


@register("dcgan", resolutions=RESOLUTIONS, options=("d_mbstd", "latent_codes"))
def build(cfg) -> tuple[nn.Module, nn.Module]:
    return DCGANGenerator(cfg), DCGANDiscriminator(cfg)
