"""R3GAN's width, depth and cardinality per stage, read from `model.r3gan_*` and checked up front.

A stage is one resolution: 4, 8, ..., image_size (or 7, 14, 28 for MNIST's 28 pixels: the same network
on a 7x7 base, so MNIST needs no padding or resizing). The config gives each list lowest resolution
first, as comma-separated numbers or one number for every stage, so one preset line fits any
resolution. Kept apart from the modules so config validation can check a layout without building it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganscale.errors import UserError


@dataclass(frozen=True)
class Stage:
    resolution: int
    width: int
    blocks: int
    cardinality: int


def stage_resolutions(image_size: int) -> list[int]:
    """[base, 2 base, ..., image_size]; the arch's declared resolutions are those with a base here."""
    base = 7 if image_size % 7 == 0 else 4
    sizes = [base]
    while sizes[-1] < image_size:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != image_size:
        raise UserError(f"model.image_size={image_size}: arch r3gan needs 4 or 7 times a power of two")
    return sizes


def _per_stage(key: str, text: str, stages: list[int]) -> list[int]:
    try:
        values = [int(part) for part in str(text).split(",")]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise UserError(f"model.{key}={text!r}: expected positive whole numbers, comma-separated")
    if len(values) == 1:
        return values * len(stages)
    if len(values) != len(stages):
        shown = ", ".join(str(s) for s in stages)
        raise UserError(f"model.{key}={text!r}: image_size {stages[-1]} has {len(stages)} stages "
                        f"({shown}); give {len(stages)} comma-separated values or one")
    return values


def layout(model) -> list[Stage]:
    """The stages of G, lowest resolution first (D runs them in reverse), or a one-line error."""
    sizes = stage_resolutions(model.image_size)
    widths = _per_stage("r3gan_widths", model.r3gan_widths, sizes)
    blocks = _per_stage("r3gan_blocks", model.r3gan_blocks, sizes)
    groups = _per_stage("r3gan_cardinality", model.r3gan_cardinality, sizes)
    for size, width, cardinality in zip(sizes, widths, groups, strict=True):
        expanded = width * model.r3gan_expansion
        if expanded % cardinality:
            raise UserError(f"model.r3gan_cardinality={model.r3gan_cardinality!r}: at {size}x{size} the "
                            f"{cardinality} groups must divide width x expansion = {width} x "
                            f"{model.r3gan_expansion} = {expanded}")
    return [Stage(*row) for row in zip(sizes, widths, blocks, groups, strict=True)]


def check_layout(model) -> None:
    layout(model)
