"""Subcommands beyond train/sample/export, one module each.

Each module defines `add_parser(subparsers)` and `run(args) -> int`; listing it here is all the
CLI needs. Modules import heavy libraries inside `run`, so `ganscale --help` stays instant.
"""

from __future__ import annotations

import importlib

MODULES: tuple[str, ...] = ("animate", "interpolate", "evaluate", "bench", "submit")


def _modules():
    return [importlib.import_module(f"ganscale.commands.{name}") for name in MODULES]


def add_parsers(subparsers) -> None:
    for module in _modules():
        module.add_parser(subparsers)


def handlers() -> dict:
    return {module.NAME: module.run for module in _modules()}
