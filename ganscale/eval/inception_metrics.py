"""Inception FID/KID/IS/precision-recall as one entry of the metric dispatch (choice.py): the weights,
the reference dataset's cached features, the generated samples' features, torch-fidelity's numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ganscale.errors import UserError
from ganscale.eval.inception import RgbImages, extractor, features, score_features
from ganscale.eval.inception_weights import locate_weights
from ganscale.eval.reference import MIN_IMAGES, InceptionReference, inception_reference


def device() -> torch.device:
    """CUDA when present, else the CPU (torch-fidelity's extraction loop moves batches to CUDA only)."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def reference_dir(cfg) -> Path:
    """eval.reference, else the training data (MNIST: its prepared train split at the model's size)."""
    if cfg.eval.reference:
        return Path(cfg.eval.reference)
    from ganscale.data import training_dataset

    return training_dataset(cfg.data, cfg.model)


def reference(cfg) -> tuple[torch.nn.Module, InceptionReference]:
    model = extractor(locate_weights(cfg.eval.inception_weights), device())
    return model, inception_reference(reference_dir(cfg), model, cfg.eval.reference_num)


def prepare(cfg, names) -> None:
    """Weights found (downloaded once when online), their layout checked, the reference cached."""
    _, ref = reference(cfg)
    if cfg.model.channels == 1:
        print("Inception metrics: grey samples are repeated to 3 channels (as torch-fidelity does for grey "
              f"image files); reference {ref.path}", file=sys.stderr, flush=True)


def score(images: torch.Tensor, labels, cfg, names) -> dict[str, float]:
    """images in [-1, 1], as generated; scored as uint8, the way torch-fidelity reads image files."""
    from ganscale.sampling import to_uint8

    if len(images) < MIN_IMAGES:
        raise UserError(f"{len(images)} samples: the Inception metrics need at least {MIN_IMAGES}")
    model, ref = reference(cfg)
    generated = features(RgbImages(to_uint8(images)), model)
    return score_features(generated, ref.features, ref.fid_stats, names)
