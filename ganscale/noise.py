"""The noise, fake labels and penalty mixes of each update, drawn so the run does not depend on the
world size: all of an update's images are drawn at once from a generator seeded by the position of its
first image, and each rank takes its slice."""

from __future__ import annotations

import torch

from ganscale.config import Config


class UpdateNoise:
    def __init__(self, cfg: Config, rank: int, world: int, device: torch.device):
        self.cfg, self.rank, self.device = cfg, rank, device
        self.global_batch = cfg.train.batch_size * world
        self.generator = torch.Generator(device=device)

    def draw(self, position: int, salt: int) -> list[tuple]:
        """[(z, fake labels, alpha)] for this rank, one per micro-batch of the update starting at `position`.

        Micro-batch m of rank r takes images [m*G + r*b, m*G + (r+1)*b) (G = global batch), the same
        positions the data stream gives it. So an image's noise depends only on its global position: not
        on the world size, nor on the split into micro-batches. `salt` separates the D and G phases.
        """
        cfg, gb, b = self.cfg, self.global_batch, self.cfg.train.batch_size
        n, gen, device = gb * cfg.train.grad_accum, self.generator, self.device
        gen.manual_seed((cfg.train.seed * 1_000_003 + position) * 4 + salt)
        z = torch.randn(n, cfg.model.z_dim, generator=gen, device=device)
        alpha = torch.rand(n, 1, 1, 1, generator=gen, device=device)
        labels = None
        if cfg.model.num_classes:
            labels = torch.randint(0, cfg.model.num_classes, (n,), generator=gen, device=device)
            if cfg.loss.mode_seeking:  # pairs (0, 1), (2, 3), ... share a label (losses.mode_seeking_penalty)
                labels[1::2] = labels[0::2]
        parts = [slice(m * gb + self.rank * b, m * gb + (self.rank + 1) * b)
                 for m in range(cfg.train.grad_accum)]
        return [(z[part], None if labels is None else labels[part], alpha[part]) for part in parts]
