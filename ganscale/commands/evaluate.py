"""`ganscale evaluate --checkpoint PATH [--num 10000] [--json]`: FID-MNIST, KID, precision/recall, ..."""

from __future__ import annotations

import json

from ganscale.commands.generator_args import add_generator_options, load_generator
from ganscale.errors import UserError

NAME = "evaluate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="score a generator with the built-in MNIST evaluator")
    add_generator_options(p)
    p.add_argument("--num", type=int, default=10000, help="number of generated samples (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--data-root", default="", help="MNIST root for the test-set reference "
                   "(default $GANSCALE_DATA)")


def run(args) -> int:
    from ganscale.eval import evaluate_generator, format_table

    if not 2 <= args.num <= 100_000:
        raise UserError(f"--num {args.num}: must be between 2 and 100000")
    from accelerate import Accelerator

    from ganscale.devices import force_cpu

    generator, model = load_generator(args)
    # Under `accelerate launch` every process generates its share of the samples.
    accelerator = Accelerator(cpu=force_cpu())
    generator.to(accelerator.device)
    metrics = evaluate_generator(generator, model, args.num, args.seed, accelerator, args.data_root)
    if metrics is None:
        return 0
    metrics = {"num": args.num, "processes": accelerator.num_processes, **metrics}
    print(json.dumps(metrics) if args.json else format_table(metrics))
    return 0
