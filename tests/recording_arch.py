"""A user architecture (`model.arch=tests.recording_arch:build`) that records what the trainer feeds it:
G keeps each output it produced, D each input it was called with (the tensors themselves, graph and all),
so a test can check what D saw without patching ganscale."""

from __future__ import annotations

from torch import nn


class Generator(nn.Module):
    resolutions, channels = (28,), (1,)

    def __init__(self, z_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
        self.outputs: list = []

    def forward(self, z, labels=None):
        out = self.net(z)
        self.outputs.append(out.detach().clone())
        return out


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1))
        self.inputs: list = []

    def forward(self, images, labels=None):
        self.inputs.append(images)
        return self.net(images)


def build(cfg):
    return Generator(cfg.z_dim), Discriminator()
