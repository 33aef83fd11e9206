"""What every source hands the prepare driver: images one at a time (or whole uint8 chunks), labels,
label names and a description, so the driver knows nothing about folders, archives or libraries."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# A decoder raises any of these for a file that is not a readable image (PIL raises SyntaxError for
# some malformed headers, zipfile BadZipFile for a member whose CRC does not match).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile, Image.DecompressionBombError)

Pixels = Image.Image | np.ndarray  # PIL image, or uint8 [H, W] / [H, W, C]


@dataclass
class Item:
    pixels: Pixels
    label: int | None
    name: str


@dataclass
class Skipped:
    """An image that could not be read: counted and listed in the report instead of stopping the run."""

    name: str
    reason: str


@dataclass
class Source:
    """An opened source. Exactly one of `items` (decoded one by one) and `chunks` (uint8 arrays
    [B, H, W] or [B, H, W, C] with int labels or None, in dataset order) is set."""

    kind: str
    location: str
    labelled: bool
    size: int | None = None  # how many images it will yield, for the progress bar (None: unknown)
    label_names: list[str] = field(default_factory=list)
    num_classes: int = 0  # 0: the driver takes the largest label + 1
    items: Callable[[], Iterator[Item | Skipped]] | None = None
    chunks: Callable[[], Iterator[tuple[np.ndarray, np.ndarray | None]]] | None = None
    notes: dict = field(default_factory=dict)  # extra facts for dataset.json (the split, the file count)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def decode(name: str, opener: Path | Callable[[], object], label: int | None) -> Item | Skipped:
    """Open (a file, or what `opener` returns) and fully decode one image (PIL opens lazily: `load`
    makes a truncated file fail here, where it can be skipped, and not in the middle of a resize)."""
    try:
        with open(opener, "rb") if isinstance(opener, Path) else opener() as handle:
            image = Image.open(handle)
            image.load()
    except Image.UnidentifiedImageError:  # its message repeats the file object's repr
        return Skipped(name, "not an image PIL can identify")
    except DECODE_ERRORS as err:
        return Skipped(name, one_line(err))
    return Item(image, label, name)


def one_line(err: BaseException) -> str:
    """A library's multi-line message as one short line."""
    return " ".join(str(err).split())[:240] or type(err).__name__
