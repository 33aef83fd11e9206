"""R3GAN's modernised ResNet G and D (Huang, Gokaslan, Kuleshov & Tompkin, NeurIPS 2024: "The GAN is
dead; long live the GAN! A Modern GAN Baseline", config E), written from the paper and its official code.

- No normalisation layer anywhere: RpGAN + R1 + R2 (losses.py) keep training stable without one, and
  without BatchNorm a sample's output does not depend on the rest of its batch, so 2 processes x b
  and 1 process x 2b are the same computation.
- Each stage is one resolution: in G a transition (a learned 4x4 (or 7x7) basis modulated by z, then
  1x1 conv + bilinear 2x upsampling) followed by residual blocks; D mirrors it (blocks, then low-pass
  2x downsampling + 1x1 conv, finally a depthwise conv over the base grid and a linear head).
- A residual block is an inverted bottleneck: 1x1 conv to width x expansion, a grouped 3x3 conv
  (`cardinality` groups, ResNeXt's cheap width), a 1x1 conv back; bias + LeakyReLU(0.2) between.
- Fix-up initialisation instead of normalisation: every conv is MSR (He) initialised, the last conv
  of each residual branch starts at zero (every block starts as the identity), and the other two are
  scaled by L^(-1/4) for L blocks in the network, so the variance of the sum stays bounded as depth
  grows (Zhang et al. 2019).
- Conditional: a class embedding concatenated to z in G; projection (Miyato & Koyama 2018) in D, the
  head's features dotted with a class embedding.

G's output is linear (no tanh), as in the paper; samples are clamped to [-1, 1] where they become pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganscale.models.common import GanModule, LeakyReLU, require_labels
from ganscale.models.r3gan_layout import check_layout, layout
from ganscale.models.r3gan_ops import GridWeights, GroupedConv2d, lowpass_downsample
from ganscale.models.registry import register

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2 / (1 + LRELU_SLOPE**2))  # keeps unit variance through a LeakyReLU(0.2)
RESOLUTIONS = (16, 28, 32, 64, 128, 256)


def msr_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """N(0, gain^2 / fan_in) in place (fan_in: inputs per output, i.e. one output's weight count)."""
    with torch.no_grad():
        return weight.normal_(0.0, gain / math.sqrt(weight[0].numel()))


def conv(cin: int, cout: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """Bias-free (the bias lives in the activation that follows) and MSR-initialised; gain 0 is zeros."""
    layer = GroupedConv2d(cin, cout, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False)
    msr_(layer.weight, gain)
    return layer


class BiasedLeakyReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.act = LeakyReLU(LRELU_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.bias.to(x.dtype).view(1, -1, 1, 1))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, cardinality: int, expansion: int, total_blocks: int) -> None:
        super().__init__()
        wide = channels * expansion
        gain = LRELU_GAIN * total_blocks ** (-1 / (2 * 3 - 2))  # 3 layers per branch: L^(-1/4)
        self.expand = conv(channels, wide, 1, gain=gain)
        self.act1 = BiasedLeakyReLU(wide)
        self.grouped = conv(wide, wide, 3, groups=cardinality, gain=gain)
        self.act2 = BiasedLeakyReLU(wide)
        self.project = conv(wide, channels, 1, gain=0.0)  # the branch starts at zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.act2(self.grouped(self.act1(self.expand(x)))))


class Upsample(nn.Module):
    """1x1 conv to the new width (fewer channels to resample), then bilinear 2x."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = conv(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.linear(x), scale_factor=2, mode="bilinear", align_corners=False)


class Downsample(nn.Module):
    """Low-pass [1, 3, 3, 1] filter with stride 2 (bilinear 2x reduction, as the official code's
    upfirdn2d), then a 1x1 conv to the new width."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.linear = conv(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(lowpass_downsample(x))


class GenerativeBasis(nn.Module):
    """A learned [width, base, base] basis scaled per channel by a linear map of z: the first feature map."""

    def __init__(self, in_features: int, width: int, base: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(width, base, base))
        self.linear = nn.Linear(in_features, width, bias=False)
        msr_(self.linear.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis.unsqueeze(0) * self.linear(z)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """Depthwise conv over the whole base grid (one weight per channel and position), then linear."""

    def __init__(self, width: int, base: int, out_features: int) -> None:
        super().__init__()
        self.basis = GridWeights(width, base)
        self.linear = nn.Linear(width, out_features, bias=False)
        msr_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.basis(x))


def _blocks(stage, expansion: int, total: int) -> list[nn.Module]:
    return [ResidualBlock(stage.width, stage.cardinality, expansion, total) for _ in range(stage.blocks)]


class R3GANGenerator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        stages = layout(cfg)
        total = sum(s.blocks for s in stages)
        in_features = cfg.z_dim * (2 if cfg.num_classes else 1)
        if cfg.num_classes:  # the official one-hot Linear, MSR-initialised: std 1/sqrt(classes)
            self.embed = nn.Embedding(cfg.num_classes, cfg.z_dim)
            nn.init.normal_(self.embed.weight, 0.0, 1 / math.sqrt(cfg.num_classes))
        first = [GenerativeBasis(in_features, stages[0].width, stages[0].resolution)]
        self.stages = nn.ModuleList([nn.Sequential(*first, *_blocks(stages[0], cfg.r3gan_expansion, total))])
        for prev, stage in zip(stages[:-1], stages[1:], strict=True):
            up = Upsample(prev.width, stage.width)
            self.stages.append(nn.Sequential(up, *_blocks(stage, cfg.r3gan_expansion, total)))
        self.to_image = conv(stages[-1].width, cfg.channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([z, self.embed(require_labels(labels, "r3gan"))], dim=1) if self.num_classes else z
        for stage in self.stages:
            x = stage(x)
        return self.to_image(x)


class R3GANDiscriminator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        stages = layout(cfg)
        total = sum(s.blocks for s in stages)
        base = stages[0]
        out_features = base.width if cfg.num_classes else 1
        if cfg.num_classes:  # projection: MSR with gain 1/sqrt(E) on a one-hot input
            self.embed = nn.Embedding(cfg.num_classes, out_features)
            nn.init.normal_(self.embed.weight, 0.0, 1 / math.sqrt(out_features * cfg.num_classes))
        self.from_image = conv(cfg.channels, stages[-1].width)
        self.stages = nn.ModuleList()
        for stage, lower in zip(reversed(stages[1:]), reversed(stages[:-1]), strict=True):
            down = Downsample(stage.width, lower.width)
            self.stages.append(nn.Sequential(*_blocks(stage, cfg.r3gan_expansion, total), down))
        head = DiscriminativeBasis(base.width, base.resolution, out_features)
        self.stages.append(nn.Sequential(*_blocks(base, cfg.r3gan_expansion, total), head))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.from_image(x)
        for stage in self.stages:
            x = stage(x)
        if self.num_classes:
            return (x * self.embed(require_labels(labels, "r3gan"))).sum(dim=1)
        return x.flatten()


def own_init(module: nn.Module) -> None:
    """R3GAN initialises itself (MSR + fix-up, above); the DCGAN init would undo the zero branches."""


@register("r3gan", resolutions=RESOLUTIONS, channels=(1, 3), conditional=None, init=own_init,
          check=check_layout)
def build(cfg) -> tuple[nn.Module, nn.Module]:
    return R3GANGenerator(cfg), R3GANDiscriminator(cfg)
