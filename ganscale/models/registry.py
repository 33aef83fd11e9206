"""Name -> builder table, kept apart from `__init__` so architecture modules can import it freely."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ganscale.errors import UserError
from ganscale.models.common import init_weights

Builder = Callable[..., tuple[nn.Module, nn.Module]]
BUILDERS: dict[str, Builder] = {}


def register(arch: str) -> Callable[[Builder], Builder]:
    """Decorate `build(cfg) -> (G, D)`; a duplicate name is a programming error, caught at import."""

    def deco(fn: Builder) -> Builder:
        if arch in BUILDERS:
            raise ValueError(f"arch {arch!r} registered twice")
        BUILDERS[arch] = fn
        return fn

    return deco


def build_models(cfg) -> tuple[nn.Module, nn.Module]:
    """One entry point so the trainer, sampler and exporter all get identically initialised nets."""
    if cfg.arch not in BUILDERS:
        raise UserError(f"model.arch={cfg.arch!r} is not allowed; choose one of: {', '.join(BUILDERS)}")
    g, d = BUILDERS[cfg.arch](cfg)
    g.apply(init_weights)
    d.apply(init_weights)
    return g, d
