"""`ganscale export --checkpoint RUN --out g.safetensors|g.onnx [--format F]`: G_ema alone, with its
config, in one file: safetensors for ganscale and PyTorch, ONNX (onnx_export.py) for everything else."""

from __future__ import annotations

from pathlib import Path

from ganscale.commands.generator_args import ANY_GENERATOR, add_trust_arch
from ganscale.errors import UserError

NAME = "export"
FORMATS = {"safetensors": ".safetensors", "onnx": ".onnx"}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="write G_ema alone as one .safetensors or .onnx file")
    p.add_argument("--checkpoint", required=True, help=ANY_GENERATOR)
    p.add_argument("--out", required=True, help="output .safetensors or .onnx file")
    p.add_argument("--format", choices=tuple(FORMATS), help="default: from the suffix of --out")
    add_trust_arch(p)


def _format(out: Path, requested: str | None) -> str:
    """--format, else the suffix; a suffix that contradicts --format is refused, not silently kept."""
    by_suffix = next((name for name, suffix in FORMATS.items() if out.suffix == suffix), None)
    if requested is None and by_suffix is None:
        raise UserError(f"--out {out}: the export is a .safetensors or .onnx file; use a name ending in "
                        ".safetensors or .onnx")
    if requested is not None and out.suffix != FORMATS[requested]:
        raise UserError(f"--out {out}: --format {requested} writes a {FORMATS[requested]} file; use a name "
                        f"ending in {FORMATS[requested]}")
    return requested or by_suffix


def run(args) -> int:
    from ganscale.api import generator_weights
    from ganscale.checkpoint import export_generator
    from ganscale.trained import build_generator

    out = Path(args.out)
    kind = _format(out, args.format)
    if kind == "onnx":
        from ganscale.onnx_export import require_onnx

        require_onnx()  # before loading anything: a missing extra is known at once
    config, weights = generator_weights(args.checkpoint)
    generator, model = build_generator(config, weights, trust_arch=args.trust_arch)  # refuse what won't load
    if kind == "onnx":
        from ganscale.onnx_export import export_onnx

        difference = export_onnx(generator, model, config, out)
        print(f"exported G_ema to {out} (onnxruntime matches PyTorch within {difference:.1e})")
        return 0
    export_generator(config, weights, out)  # atomic, and an OS error is one line (ganscale.files)
    print(f"exported G_ema to {out}")
    return 0
