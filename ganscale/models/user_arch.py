"""User architectures named `model.arch=package.module:factory`, imported from the user's environment.

Importing a module runs its code, so this happens only for a config the user gave (training,
resuming) or, for a saved one, with their explicit consent (`--trust-arch`, see `loading.py`).
Checking a config only looks at the name's shape and never imports.
"""

from __future__ import annotations

import importlib
import re

from torch import nn

from ganscale.errors import UserError
from ganscale.models.contract import adapt_pixel_range, check_pair
from ganscale.models.support import Support, check_support, declared_support

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
SPEC = re.compile(rf"{_NAME}(\.{_NAME})*:{_NAME}")


def is_user_arch(arch: str) -> bool:
    return ":" in arch


def check_spec(arch: str) -> None:
    if not SPEC.fullmatch(arch):
        raise UserError(f"model.arch={arch!r} is not a user architecture name; "
                        "write package.module:factory, e.g. model.arch=my_gan:build")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def load_factory(arch: str):
    """The factory callable, or a one-line error saying which step failed."""
    check_spec(arch)
    module_name, _, attr = arch.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module may raise anything while importing
        hint = "; is it on PYTHONPATH?" if isinstance(err, ModuleNotFoundError) else ""
        raise UserError(f"model.arch={arch}: cannot import {module_name} ({_first_line(err)}){hint}") from err
    factory = getattr(module, attr, None)
    if factory is None:
        raise UserError(f"model.arch={arch}: module {module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise UserError(f"model.arch={arch}: {module_name}.{attr} is not callable "
                        f"({type(factory).__name__}); name the factory function")
    return factory


def build_user_models(cfg, table: dict[str, Support]) -> tuple[nn.Module, nn.Module]:
    """(G, D) from the user's factory, checked against what they declare and adapted to [-1, 1].

    Their initialisation is kept: the DCGAN init of the built-ins is not forced on someone else's model.
    """
    factory = load_factory(cfg.arch)
    try:
        pair = factory(cfg)
    except UserError:
        raise
    except Exception as err:  # the user's code may raise anything
        raise UserError(f"model.arch={cfg.arch}: the factory raised {_first_line(err)}") from err
    generator, discriminator = check_pair(pair, cfg.arch)
    support = declared_support(generator, discriminator, cfg.arch)
    check_support(cfg.arch, support, cfg, table)
    adapt_pixel_range(generator, discriminator, support.pixel_range, cfg.arch)
    return generator, discriminator
