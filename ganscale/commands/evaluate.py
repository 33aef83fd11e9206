"""`ganscale evaluate --checkpoint PATH [--num 10000] [--json]`: FID-MNIST, KID, precision/recall, ..."""

from __future__ import annotations

import json

from ganscale.errors import UserError

TRUST_HELP = "build a user architecture the file names (imports and runs its code: only for files you trust)"
NAME = "evaluate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="score a generator with the built-in MNIST evaluator")
    p.add_argument("--checkpoint", required=True, help="checkpoint dir, run dir, or exported .safetensors")
    p.add_argument("--num", type=int, default=10000, help="number of generated samples (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--data-root", default="", help="MNIST root for the test-set reference "
                   "(default $GANSCALE_DATA)")
    p.add_argument("--trust-arch", action="store_true", help=TRUST_HELP)


def run(args) -> int:
    from ganscale.checkpoint import load_generator_weights
    from ganscale.evaluation import evaluate_generator, format_table
    from ganscale.models import build_generator

    if not 2 <= args.num <= 100_000:
        raise UserError(f"--num {args.num}: must be between 2 and 100000")
    import torch
    from accelerate import Accelerator

    generator, model = build_generator(*load_generator_weights(args.checkpoint), trust_arch=args.trust_arch)
    # Under `accelerate launch` every process generates its share of the samples.
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    generator.to(accelerator.device)
    metrics = evaluate_generator(generator, model, args.num, args.seed, accelerator, args.data_root)
    if metrics is None:
        return 0
    metrics = {"num": args.num, "processes": accelerator.num_processes, **metrics}
    print(json.dumps(metrics) if args.json else format_table(metrics))
    return 0
