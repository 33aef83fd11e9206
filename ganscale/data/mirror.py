"""data.xflip (StyleGAN's --mirror): the dataset counts twice, index i >= N being image i - N mirrored.

Done on indices, so the one world-size-invariant stream (stream.py) shuffles originals and mirrors
together and every loader and world size sees the same images; with xflip off nothing here runs and
the stream is the one of N images it always was.
"""

from __future__ import annotations

import numpy as np
import torch


def stream_length(num_images: int, xflip: bool) -> int:
    return 2 * num_images if xflip else num_images


def take_rows(images: torch.Tensor, idx: torch.Tensor, num_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows of `images` [N, ..., W] for stream indices `idx`, mirrored where idx >= N; the source rows)."""
    mirrored = idx >= num_images
    source = idx - num_images * mirrored
    rows = images[source]
    shape = (-1,) + (1,) * (rows.dim() - 1)
    return torch.where(mirrored.view(shape), rows.flip(-1), rows), source


def mirror_rows(rows: np.ndarray, idx: np.ndarray, num_images: int) -> None:
    """Mirror, in place, the rows read for stream indices >= N (the memory-mapped path's numpy rows)."""
    mirrored = idx >= num_images
    rows[mirrored] = rows[mirrored][..., ::-1]


class MirroredDataset(torch.utils.data.Dataset):
    """A map-style dataset of (image tensor [C, H, W], label) twice over, the second copy mirrored."""

    def __init__(self, base):
        self.base = base

    def __len__(self) -> int:
        return 2 * len(self.base)

    def __getitem__(self, index: int):
        n = len(self.base)
        image, label = self.base[index % n]
        return (image.flip(-1) if index >= n else image), label
