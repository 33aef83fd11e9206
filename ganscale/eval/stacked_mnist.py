"""Stacked MNIST's 1000-mode benchmark: how many of the 1000 digit triples a generator draws, and how
evenly (Metz et al. 2017; the protocol of PacGAN, Lin et al. 2018, followed by R3GAN's tables).

Each colour channel of a sample is read as a digit by the shipped MNIST evaluator (the frozen
classifier FID-MNIST uses), so a sample's mode is 100 a + 10 b + c for channels (a, b, c). From 26,000
samples the score is the number of modes seen (of 1000) and KL(sample mode histogram || uniform), in
nats. The same two numbers for 26,000 real images of the prepared dataset are the floor: a finite sample
of a perfect generator, measured by the same imperfect classifier, does not reach 1000 and 0 either (a
perfectly uniform sampler alone shows KL of about 999 / (2 x 26,000) = 0.019 from 26,000 draws).

Alongside, `confident_share`: the share of channels the classifier reads with softmax confidence of at
least 0.9 (the MNIST evaluator's threshold). An ambiguous digit is read as whichever class is nearest,
which is not a uniform choice, so blurred or broken digits raise the KL even when G's modes are drawn
evenly; this share says how much of a KL is digit quality rather than mode balance.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ganscale.errors import UserError
from ganscale.eval.scores import CONFIDENT_THRESHOLD

MODES = 1000
PROTOCOL_NUM = 26_000  # samples per score in the published tables
SOURCE_KIND = "stacked-mnist"
BATCH = 2000


def is_stacked_mnist(dataset_dir: str | Path) -> bool:
    """Whether `dataset_dir` is a prepared dataset made by `ganscale prepare stacked-mnist`."""
    from ganscale.data.prepared import is_prepared, read_info

    return bool(dataset_dir) and is_prepared(Path(dataset_dir)) and \
        read_info(dataset_dir).source.get("kind") == SOURCE_KIND


def mode_ids(digits: torch.Tensor) -> torch.Tensor:
    """[N, 3] digits (channel order) -> [N] modes 0..999."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def coverage(modes: torch.Tensor) -> tuple[int, float]:
    """(modes present, KL(histogram || uniform over the 1000 modes)) in nats; empty bins add nothing."""
    counts = torch.bincount(modes.long(), minlength=MODES).double()
    if counts.numel() != MODES or counts.sum() == 0:
        raise UserError(f"expected modes in 0..{MODES - 1}, got {counts.numel()} bins of {int(counts.sum())}")
    p = counts[counts > 0] / counts.sum()
    return int((counts > 0).sum()), float((p * (p * MODES).log()).sum())


@torch.no_grad()
def channel_reading(images: torch.Tensor, evaluator) -> tuple[torch.Tensor, torch.Tensor]:
    """The evaluator's digit for each channel of [N, 3, H, W] images in [-1, 1] -> [N, 3] (long), and its
    softmax confidence in that digit -> [N, 3] (float)."""
    from ganscale.eval.mnist_classifier import resize_for_evaluator

    if images.dim() != 4 or images.shape[1] != 3:
        raise UserError(f"stacked MNIST scores RGB images [N, 3, H, W], got shape {tuple(images.shape)}")
    device = next(evaluator.parameters()).device
    digits, confidence = [], []
    for start in range(0, len(images), BATCH):
        part = images[start:start + BATCH].float()
        grey = resize_for_evaluator(part.reshape(-1, 1, *part.shape[-2:]).clamp(-1, 1))
        best = evaluator(grey.to(device)).float().softmax(dim=1).max(dim=1)
        digits.append(best.indices.cpu().view(-1, 3))
        confidence.append(best.values.cpu().view(-1, 3))
    return torch.cat(digits), torch.cat(confidence)


def channel_digits(images: torch.Tensor, evaluator) -> torch.Tensor:
    return channel_reading(images, evaluator)[0]


def summary(digits: torch.Tensor, confidence: torch.Tensor) -> tuple[int, float, float]:
    """(modes, KL, confident share) of channel readings."""
    modes, kl = coverage(mode_ids(digits))
    return modes, kl, float((confidence >= CONFIDENT_THRESHOLD).double().mean())


def score(images: torch.Tensor, evaluator) -> tuple[int, float, float]:
    """(modes, KL, confident share) of [N, 3, H, W] images in [-1, 1]."""
    return summary(*channel_reading(images, evaluator))


@functools.lru_cache(maxsize=4)
def real_floor(dataset_dir: str, checksum: str, num: int) -> tuple[int, float, float]:
    """Modes, KL and confident share of the dataset's first `num` images (a uniform draw already:
    stacked_mnist.py picks the digits at random). Cached per dataset (its checksum in the key): a run
    evaluates many times."""
    from ganscale.data.prepared import PreparedDataset
    from ganscale.devices import best_device
    from ganscale.eval.mnist_classifier import load_evaluator

    prepared = PreparedDataset(dataset_dir)
    evaluator = load_evaluator(best_device())
    digits, confidence = [], []
    for start in range(0, min(num, len(prepared)), BATCH):
        stop = min(start + BATCH, num, len(prepared))
        pixels = torch.from_numpy(np.array(prepared.images[start:stop]))
        read = channel_reading(pixels.float() / 127.5 - 1.0, evaluator)
        digits.append(read[0])
        confidence.append(read[1])
    return summary(torch.cat(digits), torch.cat(confidence))


def stacked_mnist_metrics(images: torch.Tensor, dataset_dir: str | Path,
                          num_real: int = PROTOCOL_NUM) -> dict[str, float]:
    """modes / kl / confident_share of the samples, and the same of `num_real` real images (real_*): the
    floor."""
    from ganscale.data.prepared import read_info
    from ganscale.devices import best_device
    from ganscale.eval.mnist_classifier import load_evaluator

    modes, kl, confident = score(images, load_evaluator(best_device()))
    real_modes, real_kl, real_confident = real_floor(str(dataset_dir), read_info(dataset_dir).quick_sha256,
                                                     num_real)
    return {"modes": float(modes), "kl": kl, "confident_share": confident, "real_modes": float(real_modes),
            "real_kl": real_kl, "real_confident_share": real_confident}



def prepare_entry(cfg, names) -> None:
    """Before the first step: the classifier loads and the real-data floor is computed (and cached)."""
    from ganscale.data.prepared import read_info
    from ganscale.devices import best_device
    from ganscale.eval.mnist_classifier import load_evaluator

    load_evaluator(best_device())
    real_floor(str(cfg.data.path), read_info(cfg.data.path).quick_sha256, PROTOCOL_NUM)


def score_entry(images, labels, cfg, names) -> dict[str, float]:
    """The metric dispatch's entry (eval/choice.py)."""
    return stacked_mnist_metrics(images, cfg.data.path)
