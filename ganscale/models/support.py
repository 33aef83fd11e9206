"""What an architecture declares it supports, and the one-line errors for configs it does not.

Built-in archs declare a `Support` when they register, so a config is checked before any model is
built. A user architecture declares by attributes on the modules its factory returns (`resolutions`,
`channels`, `pixel_range`), read after building; what it leaves out is trusted to follow the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from ganscale.errors import UserError
from ganscale.models.contract import check_pixel_range

# model.* settings that only some architectures implement, and how errors name them.
OPTIONS = {"d_mbstd": "minibatch stddev", "latent_codes": "latent codes"}


@dataclass(frozen=True)
class Support:
    """None means "not declared": any value passes and the data decides."""

    resolutions: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    conditional: bool | None = None  # True: needs labels; False: takes none
    options: tuple[str, ...] | None = None  # the OPTIONS it implements
    pixel_range: tuple[float, float] = (-1.0, 1.0)


def _either(values) -> str:
    return " or ".join(str(v) for v in values)


def _ints(value, what: str, arch: str) -> tuple[int, ...] | None:
    """An int or a sequence of ints as a tuple (GanModule's `channels` is the configured int)."""
    if value is None:
        return None
    items = (value,) if isinstance(value, int) else value
    try:
        out = tuple(items)
    except TypeError:
        out = ()
    if not out or not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        raise UserError(f"model.arch={arch}: {what}={value!r} should be an int or a tuple of ints")
    return out


def declared_support(generator: nn.Module, discriminator: nn.Module, arch: str) -> Support:
    """A user pair's declarations; G's attribute wins, D's is the fallback."""

    def attr(name: str):
        found = getattr(generator, name, None)
        return getattr(discriminator, name, None) if found is None else found

    pixel_range = attr("pixel_range")
    return Support(resolutions=_ints(attr("resolutions"), "resolutions", arch),
                   channels=_ints(attr("channels"), "channels", arch),
                   pixel_range=(-1.0, 1.0) if pixel_range is None else check_pixel_range(pixel_range, arch))


def _having(table: Mapping[str, Support], option: str) -> str:
    return " and ".join(name for name, s in table.items() if s.options and option in s.options)


def conditional_archs(table: Mapping[str, Support]) -> str:
    return " or ".join(name for name, s in table.items() if s.conditional)


def _check_shape(arch: str, support: Support, model) -> None:
    if support.resolutions is not None and model.image_size not in support.resolutions:
        needs = _either(support.resolutions)
        raise UserError(f"model.image_size={model.image_size}: arch {arch} needs {needs}")
    if support.channels is not None and model.channels not in support.channels:
        raise UserError(f"model.channels={model.channels}: arch {arch} needs {_either(support.channels)}")


def _check_classes(arch: str, support: Support, model, table: Mapping[str, Support]) -> None:
    if support.conditional and model.num_classes < 2:
        raise UserError(f"model.num_classes={model.num_classes}: arch {arch} needs >= 2 classes")
    if support.conditional is False and model.num_classes:
        raise UserError(f"model.num_classes={model.num_classes}: arch {arch} is unconditional (use 0); "
                        f"conditional: {conditional_archs(table)}")


def _check_options(arch: str, support: Support, model, table: Mapping[str, Support]) -> None:
    offered = support.options
    if model.d_mbstd and offered is not None and "d_mbstd" not in offered:
        raise UserError(f"model.d_mbstd={model.d_mbstd}: {OPTIONS['d_mbstd']} is built into arch "
                        f"{_having(table, 'd_mbstd')} only")
    codes = model.latent_codes
    if codes and ((offered is not None and "latent_codes" not in offered) or not 2 <= codes <= model.z_dim):
        raise UserError(f"model.latent_codes={codes}: needs arch {_having(table, 'latent_codes')} and "
                        f"2 <= codes <= z_dim ({model.z_dim}); arch is {arch}")


def check_support(arch: str, support: Support, model, table: Mapping[str, Support]) -> None:
    """Refuse a model config the arch cannot build; `table` (the built-ins) names the alternatives."""
    _check_classes(arch, support, model, table)
    _check_shape(arch, support, model)
    _check_options(arch, support, model, table)
