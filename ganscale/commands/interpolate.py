"""`ganscale interpolate`: walk the latent space between random points (a strip or a GIF).

Spherical interpolation (slerp) keeps the intermediate z at the norm a Gaussian sample has, so
the middle frames are as sharp as the ends (linear mixes shrink toward the origin).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ganscale.commands.generator_args import add_generator_options, load_generator
from ganscale.errors import UserError

if TYPE_CHECKING:
    import torch

NAME = "interpolate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="latent interpolation strip (.png) or animation (.gif)")
    add_generator_options(p)
    p.add_argument("--out", required=True, help=".png (rows of interpolations) or .gif")
    p.add_argument("--steps", type=int, default=10, help="images from one end to the other")
    p.add_argument("--rows", type=int, default=4, help="independent interpolations")
    p.add_argument("--digit", type=int, help="conditional models: keep this class (default: row r draws r)")
    p.add_argument("--seed", type=int, default=0)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle interpolation between rows of a and b at fractions t ([T])."""
    import torch

    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]
    t = t[None, :, None]
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / torch.sin(omega)


def _latents(model, rows: int, steps: int, seed: int, digit: int | None):
    """(z [rows * steps, z_dim], labels or None): row r walks between two seeded ends."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    ends = torch.randn(2, rows, model.z_dim, generator=gen)
    z = slerp(ends[0], ends[1], torch.linspace(0, 1, steps)).reshape(-1, model.z_dim)
    if not model.num_classes:
        return z, None
    row_labels = torch.full((rows,), digit) if digit is not None else torch.arange(rows) % model.num_classes
    return z, row_labels.repeat_interleave(steps)


def _write_gif(images, out: Path, rows: int, steps: int) -> None:
    """Frame t shows every row at step t, played there and back."""
    from PIL import Image
    from torchvision.utils import make_grid

    from ganscale.sampling import to_uint8, write_gif

    frames = []
    for step in range(steps):
        grid = make_grid(images.view(rows, steps, *images.shape[1:])[:, step], nrow=rows)
        frames.append(Image.fromarray(to_uint8(grid)[0].numpy()))
    there_and_back = frames + frames[-2:0:-1]  # no repeated end frames (GIF would merge them)
    write_gif(there_and_back, out, [100] * len(there_and_back))


def run(args) -> int:
    from ganscale.sampling import generate, save_grid

    out = Path(args.out)
    if out.suffix not in (".png", ".gif"):
        raise UserError(f"--out {out}: unsupported extension {out.suffix!r}; use .png or .gif")
    if args.steps < 2 or args.rows < 1:
        raise UserError(f"--steps {args.steps} / --rows {args.rows}: need steps >= 2 and rows >= 1")
    generator, model = load_generator(args)
    if args.digit is not None and not 0 <= args.digit < max(model.num_classes, 1):
        raise UserError(f"--digit {args.digit}: this model has {model.num_classes} classes")
    z, labels = _latents(model, args.rows, args.steps, args.seed, args.digit)
    images = generate(generator, z, labels)
    if out.suffix == ".png":
        save_grid(images, out, nrow=args.steps)
    else:
        _write_gif(images, out, args.rows, args.steps)
    print(f"wrote {args.rows} interpolations of {args.steps} steps to {out}")
    return 0
