"""`ganscale` command line: wires config, trainer, checkpoints and tracking together.

User mistakes (UserError) become one line on stderr and exit status 2; a diverged run exits 3;
a run stopped by SIGUSR1/SIGTERM (preemption) exits 75 after checkpointing, so a SLURM script
knows to requeue it. Heavy imports happen inside the commands, so `--help` and config errors
answer instantly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganscale import commands
from ganscale.errors import DivergenceError, UserError

EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_PREEMPTED = 2, 3, 75
TRUST_HELP = ("build a user architecture (model.arch=package.module:factory) that the file names: "
              "this imports and runs that code, so only for files you trust")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one stderr line (argparse prints the usage block first)."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USER_ERROR)


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GAN", description="Train a GAN. Options after the flags are "
                       "config overrides, e.g. train.max_kimg=2 train.batch_size=128 loss.kind=hinge.")
    p.add_argument("--preset", default="mnist-dcgan", help="mnist-dcgan (default), mnist-dcgan-plain, "
                   "mnist-dcgan64, mnist-cgan, mnist-mlp")
    p.add_argument("--config", help="YAML file with sections data/model/loss/optim/train/log/eval")
    p.add_argument("--run-dir", help="where the run writes everything (default runs/<preset>-<time>)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="section.key=value")


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained generator")
    p.add_argument("--checkpoint", required=True, help="checkpoint dir, run dir, or exported .safetensors")
    p.add_argument("--num", type=int, default=100)
    p.add_argument("--out", required=True, help="a .png grid or an .npz with uint8 `images` [N, H, W]")
    p.add_argument("--digit", type=int, help="conditional models: the class to draw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--trust-arch", action="store_true", help=TRUST_HELP)


def _export_parser(sub) -> None:
    p = sub.add_parser("export", help="write G_ema alone as one .safetensors file")
    p.add_argument("--checkpoint", required=True, help="checkpoint dir or run dir")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--trust-arch", action="store_true", help=TRUST_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ganscale", description="Train GANs at scale with Accelerate.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_train_parser, _sample_parser, _export_parser):
        add(sub)
    commands.add_parsers(sub)
    return parser


def cmd_train(args) -> int:
    from ganscale.config import load_config

    cfg = load_config(args.preset, args.config, args.overrides)
    if args.dry_run:
        print(cfg.to_yaml(), end="")
        return 0
    from ganscale.run import run_training

    outcome = run_training(cfg, args.run_dir)
    return EXIT_PREEMPTED if outcome == "preempted" else 0


def cmd_sample(args) -> int:
    from ganscale.generate import sample_to_file

    path = sample_to_file(args.checkpoint, args.out, num=args.num, digit=args.digit, seed=args.seed,
                          batch_size=args.batch_size, trust_arch=args.trust_arch)
    print(f"wrote {args.num} samples to {path}")
    return 0


def cmd_export(args) -> int:
    from ganscale.checkpoint import export_generator, load_generator_weights
    from ganscale.models import build_generator

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: the export is a .safetensors file; use a name ending in .safetensors")
    config, weights = load_generator_weights(args.checkpoint)
    build_generator(config, weights, trust_arch=args.trust_arch)  # refuse to export weights that do not load
    try:
        export_generator(config, weights, out)
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror}") from None
    print(f"exported G_ema to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "sample": cmd_sample, "export": cmd_export, **commands.handlers()}
    try:
        return handlers[args.command](args)
    # One write per message: ranks share stderr, and print() writes the newline separately.
    except UserError as err:
        sys.stderr.write(f"ganscale {args.command}: error: {err}\n")
        return EXIT_USER_ERROR
    except DivergenceError as err:
        sys.stderr.write(f"ganscale {args.command}: diverged: {err}\n")
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def leave_together() -> None:
    """Under `accelerate launch`, every rank waits for the others, then closes its process group.

    Ranks finish at different times (in `evaluate`, rank 0 scores alone). A rank whose process
    exits while another still holds the gloo group aborts in C++ ("terminate called without an
    active exception") in about one 2-process launch in four, and the launcher then fails the
    whole command. Done at process exit, not per run, so one process can still train many runs.
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return
    from accelerate import PartialState

    state = PartialState()
    state.wait_for_everyone()
    state.destroy_process_group()


def main_exit(argv: list[str] | None = None) -> None:
    """Process entry point (console script and `python -m ganscale`)."""
    status = main(argv)
    # Success, divergence and preemption are decided from statistics reduced across ranks, so every
    # rank ends with the same status. A user error may hit one rank only: it must not wait for the
    # others, who could be stuck in a collective it will never join.
    if status in (0, EXIT_DIVERGED, EXIT_PREEMPTED):
        leave_together()
    sys.exit(status)
