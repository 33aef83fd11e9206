"""`ganscale export --checkpoint RUN --out g.safetensors`: G_ema alone, with its config, in one file."""

from __future__ import annotations

from pathlib import Path

from ganscale.commands.generator_args import add_trust_arch
from ganscale.errors import UserError

NAME = "export"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="write G_ema alone as one .safetensors file")
    p.add_argument("--checkpoint", required=True, help="checkpoint dir or run dir")
    p.add_argument("--out", required=True, help="output .safetensors file")
    add_trust_arch(p)


def run(args) -> int:
    from ganscale.checkpoint import export_generator, load_generator_weights
    from ganscale.trained import build_generator

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: the export is a .safetensors file; use a name ending in .safetensors")
    config, weights = load_generator_weights(args.checkpoint)
    build_generator(config, weights, trust_arch=args.trust_arch)  # refuse to export weights that do not load

    export_generator(config, weights, out)  # atomic, and an OS error is one line (ganscale.files)
    print(f"exported G_ema to {out}")
    return 0
