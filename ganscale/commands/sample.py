"""`ganscale sample --checkpoint PATH --out x.png|x.npz`: draw N images from any trained generator.

A .png is one grid (for a conditional model without --digit: one row per digit); an .npz holds
uint8 `images` [N, H, W] (grey) or [N, H, W, C] (colour) and, for conditional models, the `labels`
they were drawn for.
"""

from __future__ import annotations

import math
from pathlib import Path

from ganscale.commands.generator_args import add_generator_options, load_generator
from ganscale.errors import UserError

NAME = "sample"
MAX_SAMPLES = 100_000
SUFFIXES = (".png", ".npz")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="draw samples from a trained generator")
    add_generator_options(p)
    p.add_argument("--num", type=int, default=100)
    p.add_argument("--out", required=True, help="a .png grid, or an .npz with uint8 `images` [N, H, W] "
                   "(grey) or [N, H, W, C] (colour) and, for conditional models, `labels` [N]")
    p.add_argument("--digit", type=int, help="conditional models: the class to draw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=500)


def _check_options(out: Path, num: int, batch_size: int) -> None:
    if out.suffix not in SUFFIXES:
        raise UserError(f"--out {out}: unsupported extension {out.suffix!r}; use .png or .npz")
    if not 1 <= num <= MAX_SAMPLES:
        raise UserError(f"--num {num}: must be between 1 and {MAX_SAMPLES}")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be >= 1")


def _check_digit(digit: int | None, model) -> None:
    """--digit only means something for a generator conditioned on real digit labels."""
    if digit is None:
        return
    if not model.num_classes:
        raise UserError(f"--digit {digit}: this generator is unconditional; drop --digit")
    if model.conditioning == "clusters":
        raise UserError(f"--digit {digit}: this generator's classes are k-means clusters of the images, "
                        "not digits; drop --digit")
    if not 0 <= digit < model.num_classes:
        raise UserError(f"--digit {digit}: must be between 0 and {model.num_classes - 1}")


def noise_and_layout(model, num: int, seed: int, digit: int | None, suffix: str):
    """(z, labels, grid row length): a .png of a label-conditioned model shows one row per digit."""
    import torch

    from ganscale.sampling import draw_noise

    z, labels = draw_noise(model, num, seed, digit)
    nrow = max(1, math.ceil(math.sqrt(num)))
    if suffix == ".png" and labels is not None and digit is None and model.conditioning == "labels":
        nrow = math.ceil(num / model.num_classes)
        labels = torch.arange(num) // nrow
    return z, labels, nrow


def run(args) -> int:

    from ganscale import sampling
    from ganscale.devices import best_device

    out = Path(args.out)
    _check_options(out, args.num, args.batch_size)
    generator, model = load_generator(args)
    _check_digit(args.digit, model)
    generator.to(best_device())
    z, labels, nrow = noise_and_layout(model, args.num, args.seed, args.digit, out.suffix)
    images = sampling.generate(generator, z, labels, args.batch_size)
    if out.suffix == ".png":
        sampling.save_grid(images, out, nrow=nrow)
    else:
        sampling.save_npz(images, labels, out)
    print(f"wrote {args.num} samples to {out}")
    return 0
