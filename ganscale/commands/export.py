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
    from ganscale import files
    from ganscale.checkpoint import export_generator, load_generator_weights
    from ganscale.models import build_generator

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: the export is a .safetensors file; use a name ending in .safetensors")
    config, weights = load_generator_weights(args.checkpoint)
    build_generator(config, weights, trust_arch=args.trust_arch)  # refuse to export weights that do not load

    def write(tmp: Path) -> None:
        # Created first: an unwritable folder then fails as an OSError (one line), where safetensors
        # would raise its own error type with a message about a path the user never named.
        tmp.touch()
        export_generator(config, weights, tmp)

    files.write_with(out, write)
    print(f"exported G_ema to {out}")
    return 0
