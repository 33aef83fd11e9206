"""The options every command that loads a trained generator shares, and the loading itself.

One place, so that `sample`, `export`, `evaluate`, `interpolate` and `animate` accept the same
checkpoint paths and ask for the same consent before running code a checkpoint names.
"""

from __future__ import annotations

import argparse

TRUST_ARCH_HELP = "allow a checkpoint that names a user architecture (pkg.mod:factory) to import and run it"
ANY_GENERATOR = "checkpoint dir, run dir, exported .safetensors, Hub-style folder, or hf://OWNER/NAME[@REV]"


def add_generator_options(parser: argparse.ArgumentParser, checkpoint_help: str = ANY_GENERATOR) -> None:
    parser.add_argument("--checkpoint", required=True, help=checkpoint_help)
    add_trust_arch(parser)


def add_trust_arch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-arch", action="store_true", help=TRUST_ARCH_HELP)


def load_generator(args: argparse.Namespace):
    """(G in eval mode on the CPU, its ModelConfig) from `--checkpoint`, with `--trust-arch` passed on;
    the same resolver as the Python API's `load_generator`, so every command also reads hf:// ids."""
    from ganscale.api import generator_weights
    from ganscale.trained import build_generator

    return build_generator(*generator_weights(args.checkpoint), trust_arch=args.trust_arch)
