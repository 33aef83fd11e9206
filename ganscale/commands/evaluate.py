"""`ganscale evaluate --checkpoint PATH [--num 10000] [--metrics fid,kid,isc,prc] [--json]`: score G_ema.

The metrics default to the run's own `eval.metrics` (auto: the MNIST evaluator on MNIST, mode coverage
on Stacked MNIST, Inception FID and KID elsewhere); the Inception reference defaults to the data the
run trained on.
"""

from __future__ import annotations

import json

from ganscale.commands.generator_args import add_generator_options
from ganscale.errors import UserError

NAME = "evaluate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help="score a generator (MNIST evaluator, Inception FID/KID/IS/PR)")
    add_generator_options(p)
    p.add_argument("--num", type=int, default=None, help="number of generated samples (default 10000; "
                   "26000 for Stacked MNIST, the published protocol)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--metrics", default="", help="comma-separated: mnist, fid, kid, isc, prc, or auto "
                   "(default: the run's eval.metrics)")
    p.add_argument("--reference", default="", help="prepared dataset for the Inception metrics "
                   "(default: the run's eval.reference, else its training data)")
    p.add_argument("--inception-weights", default="", help="torch-fidelity's Inception weights file "
                   "(default: eval.inception_weights, $GANSCALE_INCEPTION_WEIGHTS, torch hub's cache)")
    p.add_argument("--data-root", default="", help="MNIST root for the test-set reference "
                   "(default $GANSCALE_DATA)")
    p.add_argument("--dataset", default=None, help="the prepared dataset the model was trained on "
                   "(default: the checkpoint's data.path); a stacked-mnist one is scored by mode coverage")


def evaluation_config(saved: dict, args):
    """The run's config with this command's choices in place, checked like a training config."""
    from ganscale.config import config_from_dict
    from ganscale.eval.choice import check

    cfg = config_from_dict(saved)
    if args.dataset is not None:  # the data the model was trained on, here (a one-line error if not one)
        from ganscale.data.prepared import read_info

        read_info(args.dataset)
        cfg.data.name, cfg.data.path = "prepared", args.dataset
    if args.num is None:
        from ganscale.eval.choice import selected
        from ganscale.eval.stacked_mnist import PROTOCOL_NUM

        args.num = PROTOCOL_NUM if "stacked-mnist" in selected(cfg) else 10_000
    cfg.eval.num, cfg.eval.best = args.num, "auto"  # no checkpoint is kept here
    for field, value in (("metrics", args.metrics), ("reference", args.reference),
                         ("inception_weights", args.inception_weights)):
        if value:
            setattr(cfg.eval, field, value)
    cfg.data.root = args.data_root  # this machine's MNIST (empty: $GANSCALE_DATA), not the run's
    check(cfg)
    return cfg


def run(args) -> int:
    if args.num is not None and not 2 <= args.num <= 100_000:
        raise UserError(f"--num {args.num}: must be between 2 and 100000")
    from accelerate import Accelerator

    from ganscale.checkpoint import load_generator_weights
    from ganscale.devices import force_cpu
    from ganscale.eval import evaluate_generator, format_table, prepare_evaluation
    from ganscale.trained import build_generator

    saved, weights = load_generator_weights(args.checkpoint)
    cfg = evaluation_config(saved, args)
    generator, model = build_generator(saved, weights, trust_arch=args.trust_arch)
    # Under `accelerate launch` every process generates its share of the samples; rank 0 scores.
    accelerator = Accelerator(cpu=force_cpu())
    prepare_evaluation(cfg, accelerator)  # weights and reference first: a missing file costs no sampling
    generator.to(accelerator.device)
    metrics = evaluate_generator(generator, model, args.num, args.seed, accelerator, cfg.data.root, cfg=cfg)
    if metrics is None:
        return 0
    metrics = {"num": args.num, "processes": accelerator.num_processes, **metrics}
    print(json.dumps(metrics) if args.json else format_table(metrics))
    return 0
