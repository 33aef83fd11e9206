"""`ganscale sample`: load any generator path, draw N images, write a PNG grid or an .npz."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ganscale.checkpoint import load_generator_weights
from ganscale.errors import UserError
from ganscale.models import build_generator
from ganscale.sampling import draw_noise, generate, save_grid, save_npz

MAX_SAMPLES = 100_000


def _check_request(out: Path, num: int, digit, model, batch_size: int) -> None:
    num_classes = model.num_classes
    if out.suffix not in (".png", ".npz"):
        raise UserError(f"--out {out}: unsupported extension {out.suffix!r}; use .png or .npz")
    if not 1 <= num <= MAX_SAMPLES:
        raise UserError(f"--num {num}: must be between 1 and {MAX_SAMPLES}")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be >= 1")
    if digit is not None and not num_classes:
        raise UserError(f"--digit {digit}: this generator is unconditional; drop --digit")
    if digit is not None and model.conditioning == "clusters":
        raise UserError(f"--digit {digit}: this generator's classes are k-means clusters of the images, "
                        "not digits; drop --digit")
    if digit is not None and not 0 <= digit < num_classes:
        raise UserError(f"--digit {digit}: must be between 0 and {num_classes - 1}")


def sample_to_file(checkpoint: str, out: str, *, num: int, digit=None, seed: int = 0,
                   batch_size: int = 500, trust_arch: bool = False) -> Path:
    out_path = Path(out)
    config, weights = load_generator_weights(checkpoint)
    generator, model_cfg = build_generator(config, weights, trust_arch=trust_arch)
    _check_request(out_path, num, digit, model_cfg, batch_size)
    generator.to("cuda" if torch.cuda.is_available() else "cpu")
    z, labels = draw_noise(model_cfg, num, seed, digit)
    nrow = max(1, math.ceil(math.sqrt(num)))
    digit_grid = labels is not None and digit is None and model_cfg.conditioning == "labels"
    if out_path.suffix == ".png" and digit_grid:
        nrow = math.ceil(num / model_cfg.num_classes)  # a grid of all digits: one row per digit
        labels = torch.arange(num) // nrow
    images = generate(generator, z, labels, batch_size)
    if out_path.suffix == ".png":
        return save_grid(images, out_path, nrow=nrow)
    return save_npz(images, labels, out_path)
