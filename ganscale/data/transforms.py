"""The pixel transforms a prepare applies once: channels, square crop, resize, to uint8 [C, R, R].

Order: convert to the target channels (grey -> RGB replicates; RGB -> grey is PIL's "L", ITU-R 601
luma), center-crop to the largest square, resize. Resizing uses PIL's Lanczos filter in both
directions, as StyleGAN's dataset_tool does: down-sampling is antialiased (the filter widens with the
scale), and up-sampling (stacked-mnist at 32, small images) interpolates with the same kernel, sharp
but with a little ringing at hard edges, clipped to 0..255.

uint8 arrays that already have the target size skip PIL entirely (a slice and maybe a channel copy),
so the 60k MNIST digits at 28 pixels prepare in well under a second.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganscale.data.sources.base import Pixels
from ganscale.errors import UserError

RESOLUTIONS = (8, 16, 28, 32, 64, 128, 256, 512, 1024)
CROPS = ("center", "none")
RESAMPLE = "lanczos"
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def check_options(resolution: int | None, channels: int | None, crop: str) -> None:
    if resolution is not None and resolution not in RESOLUTIONS:
        raise UserError(f"--resolution {resolution}: allowed are 28 and the powers of two from 8 to 1024 "
                        f"({', '.join(map(str, RESOLUTIONS))})")
    if channels not in (None, 1, 3):
        raise UserError(f"--channels {channels}: allowed are 1 (grey) and 3 (RGB)")
    if crop not in CROPS:
        raise UserError(f"--crop {crop}: allowed are {' and '.join(CROPS)}")


def channels_of(pixels: Pixels) -> int:
    if isinstance(pixels, np.ndarray):
        return 1 if pixels.ndim == 2 or pixels.shape[-1] == 1 else 3
    return 1 if pixels.mode in GREY_MODES else 3


def size_of(pixels: Pixels) -> tuple[int, int]:
    """(width, height)."""
    if isinstance(pixels, np.ndarray):
        return pixels.shape[1], pixels.shape[0]
    return pixels.size


def square_side(pixels: Pixels, crop: str, name: str) -> int:
    """The side of the square the crop leaves; --crop none accepts square images only."""
    width, height = size_of(pixels)
    if crop == "none" and width != height:
        raise UserError(f"{name}: {width}x{height} is not square, and --crop none keeps whole images; "
                        "use --crop center")
    return min(width, height)


def to_chw(pixels: Pixels, resolution: int, channels: int, crop: str) -> np.ndarray:
    """One image as uint8 [channels, resolution, resolution]."""
    if isinstance(pixels, np.ndarray):
        fast = _array_fast(pixels, resolution, channels)
        if fast is not None:
            return fast
        pixels = Image.fromarray(_hwc(pixels)[..., 0] if channels_of(pixels) == 1 else _hwc(pixels)[..., :3])
    image = pixels.convert("L" if channels == 1 else "RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    if image.size != (side, side):
        image = image.crop((left, top, left + side, top + side))
    if side != resolution:
        image = image.resize((resolution, resolution), Image.LANCZOS)
    array = np.asarray(image)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _hwc(array: np.ndarray) -> np.ndarray:
    return array[..., None] if array.ndim == 2 else array


def _array_fast(array: np.ndarray, resolution: int, channels: int) -> np.ndarray | None:
    chunk = chunk_to_nchw(array[None], resolution, channels)
    return None if chunk is None else chunk[0]


def chunk_to_nchw(images: np.ndarray, resolution: int, channels: int) -> np.ndarray | None:
    """uint8 [B, H, W(, C)] at the target size -> [B, channels, R, R] without PIL; None when the chunk
    needs a resize, a crop or a grey conversion (those go image by image through PIL)."""
    if images.ndim == 3:
        images = images[..., None]
    own = 1 if images.shape[-1] == 1 else 3
    if images.shape[1:3] != (resolution, resolution) or (own == 3 and channels == 1):
        return None
    nchw = images[..., :3].transpose(0, 3, 1, 2)
    if own == 1 and channels == 3:
        nchw = np.repeat(nchw, 3, axis=1)
    return np.ascontiguousarray(nchw, dtype=np.uint8)
