"""`ganscale evaluate --checkpoint PATH [--num N] [--json]`: FID-MNIST, KID, precision/recall, ...; for a
model trained on a dataset prepared as stacked-mnist, the modes covered (of 1000) and KL to uniform."""

from __future__ import annotations

import json

from ganscale.commands.generator_args import add_generator_options
from ganscale.errors import UserError

NAME = "evaluate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="score a generator with the built-in MNIST evaluator")
    add_generator_options(p)
    p.add_argument("--num", type=int, default=None, help="number of generated samples (default 10000; "
                   "26000 for Stacked MNIST, the published protocol)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--data-root", default="", help="MNIST root for the test-set reference "
                   "(default $GANSCALE_DATA)")
    p.add_argument("--dataset", default=None, help="the prepared dataset the model was trained on "
                   "(default: the checkpoint's data.path); a stacked-mnist one is scored by mode coverage")


def _dataset_dir(args, config: dict) -> str:
    """--dataset, else the training run's prepared dataset (if it is on this machine), else none."""
    if args.dataset is not None:
        from ganscale.data.prepared import read_info

        read_info(args.dataset)  # a one-line error if it is not a prepared dataset
        return args.dataset
    data = config.get("data", {})
    return data.get("path", "") if data.get("name") == "prepared" else ""


def run(args) -> int:
    from ganscale.checkpoint import load_generator_weights
    from ganscale.eval import evaluate_generator, format_table
    from ganscale.eval.stacked_mnist import PROTOCOL_NUM, is_stacked_mnist
    from ganscale.models import build_generator

    config, weights = load_generator_weights(args.checkpoint)
    dataset_dir = _dataset_dir(args, config)
    num = args.num if args.num is not None else PROTOCOL_NUM if is_stacked_mnist(dataset_dir) else 10000
    if not 2 <= num <= 100_000:
        raise UserError(f"--num {num}: must be between 2 and 100000")
    from accelerate import Accelerator

    from ganscale.devices import force_cpu

    generator, model = build_generator(config, weights, trust_arch=args.trust_arch)
    # Under `accelerate launch` every process generates its share of the samples.
    accelerator = Accelerator(cpu=force_cpu())
    generator.to(accelerator.device)
    metrics = evaluate_generator(generator, model, num, args.seed, accelerator, args.data_root, dataset_dir)
    if metrics is None:
        return 0
    metrics = {"num": num, "processes": accelerator.num_processes, **metrics}
    print(json.dumps(metrics) if args.json else format_table(metrics))
    return 0
