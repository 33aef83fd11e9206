"""Stacked MNIST, the 1000-mode benchmark: three random MNIST train digits, one per RGB channel.

Image k takes digits (a, b, c) drawn uniformly (with replacement) from the 60k train images by a numpy
generator seeded by `seed`; channel 0 (red) holds a, 1 holds b, 2 holds c, and the label is
100a + 10b + c (names "000".."999"). The default count, 128,000 images, is PacGAN's training set,
which R3GAN follows; mode coverage is then scored on generated samples. At 32 pixels the 28x28 stack
is resized like every other source (transforms.py), not zero-padded.
"""

from __future__ import annotations

import numpy as np

from ganscale.data.sources.base import Source
from ganscale.errors import UserError

DEFAULT_COUNT = 128_000
RESOLUTIONS = (28, 32)
CHUNK = 8192


def open_stacked_mnist(root: str | None, count: int | None, seed: int, labels: str) -> Source:
    from ganscale.data.mnist import load_mnist, resolve_root

    count = DEFAULT_COUNT if count is None else count
    if count < 1:
        raise UserError(f"--count {count}: stacked-mnist needs at least 1 image")
    if labels == "folders":
        raise UserError("--labels folders: stacked-mnist brings its own labels; use auto or none")
    images, digits = load_mnist(resolve_root(root or ""), train=True)
    images, digits = images.numpy(), digits.numpy().astype(np.int64)
    picks = np.random.default_rng(seed).integers(0, len(images), size=(count, 3))
    labelled = labels != "none"

    def chunks():
        for start in range(0, count, CHUNK):
            chosen = picks[start:start + CHUNK]
            stack = images[chosen].transpose(0, 2, 3, 1)  # [B, 3, 28, 28] -> NHWC, channel k = digit k
            yield stack, (digits[chosen] @ np.array([100, 10, 1])) if labelled else None

    names = [f"{i:03d}" for i in range(1000)] if labelled else []
    return Source(kind="stacked-mnist", location="stacked-mnist", labelled=labelled, size=count,
                  label_names=names, num_classes=len(names), chunks=chunks,
                  notes={"count": count, "seed": seed, "mnist_root": str(resolve_root(root or ""))})
