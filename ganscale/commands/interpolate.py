"""`ganscale interpolate`: walk the latent space between random points (a strip or a GIF).

Spherical interpolation (slerp) keeps the intermediate z at the norm a Gaussian sample has, so
the middle frames are as sharp as the ends (linear mixes shrink toward the origin).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganscale.errors import UserError

TRUST_HELP = "build a user architecture the file names (imports and runs its code: only for files you trust)"
NAME = "interpolate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="latent interpolation strip (.png) or animation (.gif)")
    p.add_argument("--checkpoint", required=True, help="checkpoint dir, run dir, or exported .safetensors")
    p.add_argument("--out", required=True, help=".png (rows of interpolations) or .gif")
    p.add_argument("--steps", type=int, default=10, help="images from one end to the other")
    p.add_argument("--rows", type=int, default=4, help="independent interpolations")
    p.add_argument("--digit", type=int, help="conditional models: keep this class (default: row r draws r)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trust-arch", action="store_true", help=TRUST_HELP)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle interpolation between rows of a and b at fractions t ([T])."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]
    t = t[None, :, None]
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / torch.sin(omega)


def run(args) -> int:
    from ganscale.checkpoint import load_generator_weights
    from ganscale.models import build_generator
    from ganscale.sampling import generate, save_grid, to_uint8, write_gif

    out = Path(args.out)
    if out.suffix not in (".png", ".gif"):
        raise UserError(f"--out {out}: unsupported extension {out.suffix!r}; use .png or .gif")
    if args.steps < 2 or args.rows < 1:
        raise UserError(f"--steps {args.steps} / --rows {args.rows}: need steps >= 2 and rows >= 1")
    generator, model = build_generator(*load_generator_weights(args.checkpoint), trust_arch=args.trust_arch)
    if args.digit is not None and not 0 <= args.digit < max(model.num_classes, 1):
        raise UserError(f"--digit {args.digit}: this model has {model.num_classes} classes")
    gen = torch.Generator().manual_seed(args.seed)
    ends = torch.randn(2, args.rows, model.z_dim, generator=gen)
    z = slerp(ends[0], ends[1], torch.linspace(0, 1, args.steps)).reshape(-1, model.z_dim)
    labels = None
    if model.num_classes:
        row_labels = torch.full((args.rows,), args.digit) if args.digit is not None else \
            torch.arange(args.rows) % model.num_classes
        labels = row_labels.repeat_interleave(args.steps)
    images = generate(generator, z, labels)
    if out.suffix == ".png":
        save_grid(images, out, nrow=args.steps)
    else:
        from PIL import Image
        from torchvision.utils import make_grid

        frames = []
        for step in range(args.steps):
            grid = make_grid(images.view(args.rows, args.steps, *images.shape[1:])[:, step], nrow=args.rows)
            frames.append(Image.fromarray(to_uint8(grid)[0].numpy()))
        there_and_back = frames + frames[-2:0:-1]  # no repeated end frames (GIF would merge them)
        write_gif(there_and_back, out, [100] * len(there_and_back))
    print(f"wrote {args.rows} interpolations of {args.steps} steps to {out}")
    return 0
