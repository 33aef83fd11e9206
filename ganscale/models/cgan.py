"""Conditional 28x28 DCGAN: label-embedding generator and projection discriminator.

G concatenates z with a learned label embedding rather than multiplying: with a product the label
signal scales with |z| (and vanishes where z is near 0), and noise dims can be masked by small
embedding entries; concatenation keeps class and noise on separate inputs at the cost of z_dim extra
inputs to one Linear. The embedding keeps PyTorch's N(0, 1) init so it starts on the same scale as z.

D is the projection discriminator of Miyato & Koyama (2018): logit = psi(phi(x)) + <embed(y), phi(x)>,
which conditions through an inner product instead of concatenating y to the input, the form that
trains best among the conditioning schemes they compare.
"""

from __future__ import annotations

import torch
from torch import nn

from ganscale.models.common import GanModule, require_labels, sn
from ganscale.models.dcgan import RESOLUTIONS, discriminator_body, generator_net
from ganscale.models.registry import register


class CGANGenerator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.embed = nn.Embedding(cfg.num_classes, cfg.z_dim)
        self.net = generator_net(cfg, 2 * cfg.z_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        y = self.embed(require_labels(labels, "cgan"))
        return self.net(torch.cat([z, y], dim=1))


class ProjectionDiscriminator(GanModule):
    """The embedding uses the same N(0, 0.02) scale as `head` so neither term dominates at init."""

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.body, self.feat_dim = discriminator_body(cfg)
        self.head = sn(nn.Linear(self.feat_dim, 1), cfg.d_norm)
        embed = nn.Embedding(cfg.num_classes, self.feat_dim)
        nn.init.normal_(embed.weight, 0.0, 0.02)  # before `sn`, which snapshots the weight it wraps
        self.embed = sn(embed, cfg.d_norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.body(x)
        proj = (self.embed(require_labels(labels, "cgan")) * phi).sum(dim=1)
        return self.head(phi).flatten() + proj


@register("cgan", resolutions=RESOLUTIONS, conditional=True, options=("d_mbstd",))
def build(cfg) -> tuple[nn.Module, nn.Module]:
    return CGANGenerator(cfg), ProjectionDiscriminator(cfg)
