"""`ganscale` command line: the parser shell, dispatch to ganscale/commands/, and exit statuses.

Each subcommand is one module under ganscale/commands/; this file only parses and dispatches.
User mistakes (UserError) become one line on stderr and exit status 2; a diverged run exits 3;
a run stopped by SIGUSR1/SIGTERM (preemption) exits 75 after checkpointing, so a SLURM script
knows to requeue it. Heavy imports happen inside the commands, so `--help` and config errors
answer instantly.
"""

from __future__ import annotations

import argparse
import sys

from ganscale import commands
from ganscale.commands import EXIT_DIVERGED, EXIT_PREEMPTED, EXIT_USER_ERROR
from ganscale.commands.train import take_overrides
from ganscale.errors import DivergenceError, UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one stderr line (argparse prints the usage block first)."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USER_ERROR)

    def parse_args(self, args=None, namespace=None):
        """`section.key=value` overrides may stand anywhere among the flags, not in one run only."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras and isinstance(getattr(parsed, "overrides", None), list):
            extras = take_overrides(parsed, extras)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="ganscale", description="Train GANs at scale with Accelerate.")
    commands.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None, hooks=None) -> int:
    """`hooks` (ganscale.hooks.RunHooks): observers and fault injection for `train`, for callers that run
    the real command line in-process (the multi-process test driver)."""
    args = build_parser().parse_args(argv)
    args.hooks = hooks
    handlers = commands.handlers()
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
