"""Turning a generator into pictures and arrays: fixed-noise grids, batched generation, files.

Noise is drawn on the CPU from a seeded generator and then moved, so the same seed gives the same
grid on any device and any number of processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganscale import files
from ganscale.config import ModelConfig


def draw_noise(model: ModelConfig, num: int, seed: int, digit: int | None = None):
    """(z, labels) for `num` samples; conditional models get `digit` or all digits in turn."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(num, model.z_dim, generator=gen)
    if not model.num_classes:
        return z, None
    if digit is None:
        labels = torch.arange(num) % model.num_classes
    else:
        labels = torch.full((num,), digit, dtype=torch.long)
    return z, labels


def grid_noise(model: ModelConfig, seed: int, rows: int = 10):
    """The fixed noise of the progress grids: for conditional models, one row per class."""
    z, labels = draw_noise(model, rows * rows, seed)
    if labels is not None:
        labels = torch.arange(rows).repeat_interleave(rows) % model.num_classes
    return z, labels


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, labels, batch_size: int = 500) -> torch.Tensor:
    """Images in [-1, 1] on the CPU, generated in batches so that 50k samples fit in memory."""
    device = next(generator.parameters()).device
    outputs = []
    for start in range(0, len(z), batch_size):
        z_part = z[start:start + batch_size].to(device)
        lab_part = None if labels is None else labels[start:start + batch_size].to(device)
        outputs.append(generator(z_part, lab_part).float().cpu())
    return torch.cat(outputs)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def save_grid(images: torch.Tensor, path: Path, nrow: int = 10) -> Path:
    """A PNG grid, written atomically, so a reader (W&B, `animate`) never sees half a file."""
    from torchvision.utils import save_image

    grid = (images.clamp(-1, 1) + 1) / 2
    return files.write_with(path, lambda tmp: save_image(grid, str(tmp), nrow=nrow, padding=2, format="png"))


def save_npz(images: torch.Tensor, labels, path: Path) -> Path:
    """uint8 `images`: [N, H, W] for grey models, [N, H, W, C] for colour ones (the layout numpy and PIL
    image code expects), plus int64 `labels` [N] for conditional models."""
    pixels = to_uint8(images)
    pixels = pixels[:, 0] if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1).contiguous()
    arrays = {"images": pixels.numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy().astype(np.int64)
    return files.write_with(path, lambda tmp: _savez(tmp, arrays))


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would append .npz to a name without it
        np.savez(handle, **arrays)


def write_gif(frames: list, path: Path, durations_ms: list[int]) -> Path:
    """An endlessly looping GIF from PIL images, written atomically."""
    return files.write_with(path, lambda tmp: frames[0].save(
        tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations_ms, loop=0,
        optimize=True))
