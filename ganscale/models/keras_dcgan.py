"""The MNIST DCGAN of the Keras tutorials many users start from, as built-in arch `keras-dcgan`.

D: Conv2D(64, 3x3, stride 2, "same") + LeakyReLU(0.2) + Dropout(0.4), twice (28->14->7), Flatten,
Dense(1). G: Dense(128*6*6) + LeakyReLU(0.2), reshape, Conv2DTranspose(128, 4x4, stride 2, "valid")
+ LeakyReLU(0.2) twice (6->14->30), Conv2D(1, 3x3, "valid") (30->28) with a sigmoid.

It stays the tutorials' model: pixels in [0, 1] (declared as its pixel range, which the registry
maps to ganscale's [-1, 1]), D's head without a sigmoid (the losses take logits), and Keras's
initialisation (Glorot-uniform kernels, zero biases) instead of the DCGAN N(0, 0.02) of the other
built-ins. docs/models.md shows the same model as a user architecture file: same layers, same
state-dict keys and, from the same seed, the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ganscale.models.common import GanModule, LeakyReLU
from ganscale.models.registry import register

SIDE = 6  # G's first map: 6 -> 14 -> 30 -> 28


def keras_init(m: nn.Module) -> None:
    """Glorot-uniform weights and zero biases, the Keras defaults the tutorials train from."""
    if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)


class KerasGenerator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.net = nn.Sequential(
            nn.Linear(cfg.z_dim, 128 * SIDE * SIDE),
            LeakyReLU(0.2),
            nn.Unflatten(1, (128, SIDE, SIDE)),
            nn.ConvTranspose2d(128, 128, 4, 2),  # 14x14
            LeakyReLU(0.2),
            nn.ConvTranspose2d(128, 128, 4, 2),  # 30x30
            LeakyReLU(0.2),
            nn.Conv2d(128, 1, 3),  # 28x28
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z)


class KerasDiscriminator(GanModule):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 3, 2, 1),  # 14x14 ("same": 28 / 2)
            LeakyReLU(0.2),
            nn.Dropout(0.4),
            nn.Conv2d(64, 64, 3, 2, 1),  # 7x7
            LeakyReLU(0.2),
            nn.Dropout(0.4),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten()


@register("keras-dcgan", resolutions=(28,), channels=(1,), pixel_range=(0.0, 1.0), init=keras_init)
def build(cfg) -> tuple[nn.Module, nn.Module]:
    return KerasGenerator(cfg), KerasDiscriminator(cfg)
