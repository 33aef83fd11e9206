"""uint8 images to the model's input: float in [-1, 1], NCHW, on the images' device."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_model_pixels(images_u8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [B, H, W] or [B, C, H, W] -> [B, C, size, size] in [-1, 1], on the tensors' device.

    In torch's default float dtype, so a float64 run (`torch.set_default_dtype`) gets float64 pixels.
    """
    x = images_u8.unsqueeze(1) if images_u8.dim() == 3 else images_u8
    x = x.to(torch.get_default_dtype()).div_(127.5).sub_(1.0)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x
