"""Every `ganscale` subcommand, one module each, and the exit statuses they end with.

Each module defines `NAME`, `add_parser(subparsers)` and `run(args) -> int`; listing it here is all
the CLI needs. Modules import heavy libraries inside `run`, so `ganscale --help` stays instant.
"""

from __future__ import annotations

import importlib

# 2: a mistake the user can fix; 3: training diverged; 75 (EX_TEMPFAIL): stopped by a signal after
# checkpointing, so a SLURM script knows to requeue the job.
EXIT_USER_ERROR, EXIT_DIVERGED, EXIT_PREEMPTED = 2, 3, 75

MODULES: tuple[str, ...] = ("train", "sample", "export", "evaluate", "interpolate", "animate", "bench",
                            "submit", "prepare", "push")


def _modules():
    return [importlib.import_module(f"ganscale.commands.{name}") for name in MODULES]


def add_parsers(subparsers) -> None:
    for module in _modules():
        module.add_parser(subparsers)


def handlers() -> dict:
    return {module.NAME: module.run for module in _modules()}
