"""Differentiable augmentation of D's inputs: the DiffAugment ops (Zhao et al. 2020), each applied to an
image with probability p (as ADA applies its transforms), on images in [-1, 1].

- color: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5), then clamped to [-1, 1];
- translation: an integer shift of up to 1/8 of the size each way, zero padding;
- cutout: a zero square of half the size, centred anywhere on the image.

Each primitive (brightness, saturation, contrast, translation, cutout) tosses its own coin per image, so an
image keeps exactly its own pixels where no coin came up (a `torch.where`, not a multiply by 1). Every op is
differentiable in the image: G learns through the augmented fakes, and R1 differentiates D(augment(x))
with respect to the un-augmented x. The random parameters come from a caller's generator
(`draw_params`), so the trainer can draw them for the whole global batch and slice them per rank
(`UpdateAugment`): 2 processes x b then see the same augmented images as 1 process x 2b.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganscale.config_sections import AUG_OPS

PRIMITIVES = {"color": ("brightness", "saturation", "contrast"), "translation": ("translation",),
              "cutout": ("cutout",)}
Params = dict[str, tuple[torch.Tensor, torch.Tensor]]  # primitive -> (coin in [0, 1), its values)


def draw_params(ops: tuple[str, ...], n: int, size: tuple[int, int], generator: torch.Generator,
                device) -> Params:
    """The random parameters of `ops` for n images of `size` (H, W), in a fixed order: per primitive a
    coin, then its values. Values are drawn whether or not the coin comes up, so the draw does not
    depend on p (an adaptive p must not change which numbers the next update gets)."""
    dtype = torch.get_default_dtype()

    def uniform(*shape):
        return torch.rand(*shape, generator=generator, device=device, dtype=dtype)

    def integers(low, high, count):
        return torch.randint(low, high, (n, count), generator=generator, device=device)

    (h, w), params = size, {}
    for op in ops:
        for name in PRIMITIVES[op]:
            coin = uniform(n)
            if name == "brightness":
                params[name] = coin, uniform(n) - 0.5
            elif name == "saturation":
                params[name] = coin, uniform(n) * 2
            elif name == "contrast":
                params[name] = coin, uniform(n) + 0.5
            elif name == "translation":  # (dy, dx) in [-size // 8, size // 8]
                params[name] = coin, torch.cat([integers(-(h // 8), h // 8 + 1, 1),
                                                integers(-(w // 8), w // 8 + 1, 1)], dim=1)
            else:  # cutout: the square's centre (DiffAugment's range: any pixel, plus one for even sizes)
                params[name] = coin, torch.cat([integers(0, h + (1 - (h // 2) % 2), 1),
                                                integers(0, w + (1 - (w // 2) % 2), 1)], dim=1)
    return params


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """out[y, x] = in[y - dy, x - dx], zero outside: two gathers from the zero-padded image."""
    n, c, h, w = x.shape
    ph, pw = h // 8, w // 8
    padded = F.pad(x, (pw, pw, ph, ph))
    rows = torch.arange(h, device=x.device) + ph - shift[:, :1]  # [n, h] rows of the padded image
    cols = torch.arange(w, device=x.device) + pw - shift[:, 1:]  # [n, w]
    out = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * pw))
    return out.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def _cutout(x: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    size_h, size_w = h // 2, w // 2
    top, left = centre[:, :1] - size_h // 2, centre[:, 1:] - size_w // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys >= top) & (ys < top + size_h)  # [n, h]
    in_cols = (xs >= left) & (xs < left + size_w)  # [n, w]
    hole = in_rows.view(n, 1, h, 1) & in_cols.view(n, 1, 1, w)
    return x * (~hole).to(x.dtype)


def _primitive(name: str, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    if name == "brightness":
        return x + _per_image(values).to(x.dtype)
    if name == "saturation":
        mean = x.mean(dim=1, keepdim=True)
        return mean + (x - mean) * _per_image(values).to(x.dtype)
    if name == "contrast":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return mean + (x - mean) * _per_image(values).to(x.dtype)
    if name == "translation":
        return _translate(x, values)
    return _cutout(x, values)


def apply(x: torch.Tensor, ops: tuple[str, ...], params: Params, p) -> torch.Tensor:
    """`x` [B, C, H, W] in [-1, 1] with each primitive of `ops` applied where its coin < p.

    `p` is a number or a 0-dim tensor (the adaptive p stays on the device: no host sync). A number p = 0,
    or no ops, returns `x` itself; a tensor p = 0 returns a new tensor equal to `x` bit for bit.
    """
    if not ops or (not isinstance(p, torch.Tensor) and p == 0):
        return x
    for op in ops:
        touched = None
        for name in PRIMITIVES[op]:
            coin, values = params[name]
            chosen = coin < p
            x = torch.where(_per_image(chosen), _primitive(name, x, values), x)
            touched = chosen if touched is None else touched | chosen
        if op == "color":  # keep the range, on the images colour changed only
            x = torch.where(_per_image(touched), x.clamp(-1.0, 1.0), x)
    return x


def diff_augment(x: torch.Tensor, ops: tuple[str, ...], p, generator: torch.Generator) -> torch.Tensor:
    """`apply` with parameters drawn for x's own images (one process, or any caller outside the trainer)."""
    if not ops or (not isinstance(p, torch.Tensor) and p == 0):
        return x
    return apply(x, ops, draw_params(ops, len(x), tuple(x.shape[-2:]), generator, x.device), p)


class UpdateAugment:
    """This rank's augmentation parameters per micro-batch of an update, drawn as noise.UpdateNoise
    draws z: for the update's whole global batch from a generator seeded by the position of its first
    image and a salt, micro-batch m of rank r taking images [m*G + r*b, m*G + (r+1)*b)."""

    SEED_BASE = 1 << 62  # apart from UpdateNoise's seeds, which share the formula

    def __init__(self, ops: tuple[str, ...], image_size: int, seed: int, batch_size: int, world: int,
                 rank: int, grad_accum: int, device):
        unknown = [op for op in ops if op not in AUG_OPS]
        if unknown:
            raise ValueError(f"unknown augmentation ops {unknown}; allowed: {', '.join(AUG_OPS)}")
        self.ops, self.size, self.seed, self.device = ops, (image_size, image_size), seed, device
        self.batch_size, self.global_batch, self.rank = batch_size, batch_size * world, rank
        self.grad_accum = grad_accum
        self.generator = torch.Generator(device=device)

    def draw(self, position: int, salt: int) -> list[Params]:
        gb, b = self.global_batch, self.batch_size
        self.generator.manual_seed(self.SEED_BASE + (self.seed * 1_000_003 + position) * 4 + salt)
        every = draw_params(self.ops, gb * self.grad_accum, self.size, self.generator, self.device)
        parts = [slice(m * gb + self.rank * b, m * gb + (self.rank + 1) * b) for m in range(self.grad_accum)]
        return [{name: (coin[part], values[part]) for name, (coin, values) in every.items()}
                for part in parts]
