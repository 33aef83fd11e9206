"""`ganscale train [--preset P] [--config F] [--run-dir D] [section.key=value ...]`: train a GAN.

Overrides may stand anywhere among the flags. argparse fills a positional from one unbroken run of
tokens only, so the ones it leaves over are collected here (`take_overrides`); `ganscale submit`
parses its train arguments with the same `parse_train_args`.
"""

from __future__ import annotations

import argparse

from ganscale.commands import EXIT_PREEMPTED
from ganscale.errors import UserError

NAME = "train"
TRAIN_HELP = ("Train a GAN. Config overrides (section.key=value) may go anywhere among the options, "
              "e.g. train.max_kimg=2 train.batch_size=128 loss.kind=hinge.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ganscale.config import preset_names  # light: yaml, no torch

    parser.add_argument("--preset", default="mnist-dcgan",
                        help=f"one of {', '.join(preset_names())} (default %(default)s)")
    parser.add_argument("--config", help="YAML file with sections data/model/loss/optim/train/log/eval/aug")
    parser.add_argument("--run-dir", help="where the run writes everything (default runs/<preset>-<time>)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value")


def add_parser(subparsers) -> None:
    add_arguments(subparsers.add_parser(NAME, help="train a GAN", description=TRAIN_HELP))


def take_overrides(args: argparse.Namespace, extras: list[str]) -> list[str]:
    """Move the leftover non-flag tokens into `args.overrides` (in order); return the flags left.

    A token that is not `section.key=value` still goes in: load_config names it in a one-line error.
    """
    args.overrides = [*args.overrides, *(token for token in extras if not token.startswith("-"))]
    return [token for token in extras if token.startswith("-")]


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UserError(message)


def parse_train_args(argv: list[str]) -> argparse.Namespace:
    """`ganscale train`'s arguments as a namespace; a usage mistake is a UserError, not an exit."""
    parser = _RaisingParser(prog=f"ganscale {NAME}", add_help=False)
    add_arguments(parser)
    args, extras = parser.parse_known_args(argv)
    flags = take_overrides(args, extras)
    if flags:
        raise UserError(f"unrecognized arguments: {' '.join(flags)}")
    return args


def run(args) -> int:
    from ganscale.config import load_config

    cfg = load_config(args.preset, args.config, args.overrides)
    if args.dry_run:
        print(cfg.to_yaml(), end="")
        return 0
    from ganscale.run import run_training

    outcome = run_training(cfg, args.run_dir, hooks=getattr(args, "hooks", None))
    return EXIT_PREEMPTED if outcome == "preempted" else 0
