"""Name -> builder table, kept apart from `__init__` so architecture modules can import it freely.

`build_models` is the one way to get a (G, D) pair: a built-in name from this table, or a user's
`package.module:factory` (see `user_arch.py`). `check_model` is what config validation asks.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ganscale.errors import UserError
from ganscale.models.common import init_weights
from ganscale.models.contract import adapt_pixel_range
from ganscale.models.support import Support, check_support, conditional_archs
from ganscale.models.user_arch import build_user_models, check_spec, is_user_arch

Builder = Callable[..., tuple[nn.Module, nn.Module]]
Init = Callable[[nn.Module], None]
BUILDERS: dict[str, Builder] = {}
SUPPORT: dict[str, Support] = {}
INITS: dict[str, Init] = {}
CHECKS: dict[str, Callable] = {}  # arch-specific config checks, run by check_model


def register(arch: str, *, resolutions: tuple[int, ...] | None = None,
             channels: tuple[int, ...] | None = None, conditional: bool | None = False,
             options: tuple[str, ...] = (), pixel_range: tuple[float, float] = (-1.0, 1.0),
             init: Init = init_weights, check: Callable | None = None) -> Callable[[Builder], Builder]:
    """Decorate `build(cfg) -> (G, D)` and declare what the arch supports (None: any value).

    `init` is applied to every module of G and D after building. `check(model_cfg)` raises a
    UserError for settings of the arch's own that it cannot build (called by config validation, so
    before anything runs). A duplicate name is a programming error, caught at import.
    """

    def deco(fn: Builder) -> Builder:
        if arch in BUILDERS:
            raise ValueError(f"arch {arch!r} registered twice")
        BUILDERS[arch] = fn
        SUPPORT[arch] = Support(resolutions, channels, conditional, options, pixel_range)
        INITS[arch] = init
        if check is not None:
            CHECKS[arch] = check
        return fn

    return deco


def _not_allowed(arch: str) -> UserError:
    return UserError(f"model.arch={arch!r} is not allowed; choose one of: {', '.join(BUILDERS)}, "
                     "or a user architecture package.module:factory")


def check_model(cfg) -> None:
    """Refuse a config its architecture cannot build; never imports a user architecture."""
    m = cfg.model
    if is_user_arch(m.arch):
        check_spec(m.arch)
        support = Support()
    elif m.arch in SUPPORT:
        support = SUPPORT[m.arch]
    else:
        raise _not_allowed(m.arch)
    check_support(m.arch, support, m, SUPPORT)
    if m.arch in CHECKS:
        CHECKS[m.arch](m)
    if m.conditioning == "clusters" and (support.conditional is False or cfg.data.loader == "dataloader"):
        raise UserError(f"model.conditioning=clusters needs arch {conditional_archs(SUPPORT)} and "
                        f"a prepared dataset, not data.loader=dataloader (got {m.arch}, {cfg.data.loader})")


def build_models(cfg) -> tuple[nn.Module, nn.Module]:
    """One entry point so the trainer, sampler and exporter all get identically initialised nets."""
    if is_user_arch(cfg.arch):
        return build_user_models(cfg, SUPPORT)
    if cfg.arch not in BUILDERS:
        raise _not_allowed(cfg.arch)
    g, d = BUILDERS[cfg.arch](cfg)
    g.apply(INITS[cfg.arch])
    d.apply(INITS[cfg.arch])
    adapt_pixel_range(g, d, SUPPORT[cfg.arch].pixel_range, cfg.arch)
    return g, d
