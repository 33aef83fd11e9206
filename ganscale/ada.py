"""ADA's controller of the augmentation probability p (Karras et al. 2020), agreed across ranks.

The overfitting signal is r_t = E[sign(D(augmented real))]: near 0 while D generalises, towards 1 as it
memorises the training set. Every `aug.every` steps p moves by sign(r_t - target) x (real images D saw
in the interval) / (aug.speed x 1000), clamped to [0, 1]: with ADA's defaults p can go from 0 to 1 in
500 kimg. The step's (sign sum, count) is all-reduced every step (two numbers, no host sync: p and the
sums stay device tensors), so every rank holds the same sums and the same p, and both are sums over the
global batch: a run's p does not depend on the world size. The sums are float64 counts of signs, exact
(float32 on MPS, which has no float64: exact up to 16M images an interval).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ganscale.config_sections import AugConfig

Reduce = Callable[[torch.Tensor], torch.Tensor]  # a sum over ranks (accelerator.reduce); identity for one


class AdaptiveP:
    def __init__(self, cfg: AugConfig, device, reduce: Reduce):
        self.cfg, self.reduce = cfg, reduce
        self.adaptive = cfg.target > 0
        dtype = torch.float32 if torch.device(device).type == "mps" else torch.float64
        self.p = torch.tensor(cfg.p, dtype=dtype, device=device)
        self.step_sums = torch.zeros(2, dtype=dtype, device=device)  # this rank, this step
        # Over all ranks: (sign sum, count) since the last adjustment, then the same since the last log.
        self.sums = torch.zeros(4, dtype=dtype, device=device)

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor) -> None:
        """Count the signs of D's logits on this rank's augmented reals (every D pass of the step)."""
        self.step_sums[0] += real_logits.detach().float().sign().sum()
        self.step_sums[1] += real_logits.numel()

    @torch.no_grad()
    def end_step(self, step: int) -> None:
        """Collective: add the step's global sums; after every `aug.every`-th step, move p."""
        self.sums += self.reduce(self.step_sums).repeat(2)
        self.step_sums.zero_()
        if self.adaptive and step % self.cfg.every == 0:
            r_t = self.sums[0] / self.sums[1].clamp(min=1)
            change = torch.sign(r_t - self.cfg.target) * self.sums[1] / (self.cfg.speed * 1000)
            self.p = (self.p + change).clamp(0.0, 1.0)
            self.sums[:2] = 0

    def log_values(self) -> dict[str, float]:
        """p and r_t over the log interval (one host read, at a log step); restarts the interval."""
        signs, count = self.sums[2], self.sums[3].clamp(min=1)
        p, r_t = torch.stack([self.p, signs / count]).tolist()
        self.sums[2:] = 0
        return {"aug_p": p, "aug_rt": r_t}

    def state(self) -> dict:
        return {"aug_p": float(self.p), "aug_sums": self.sums.tolist()}

    def load_state(self, aug_p: float | None, aug_sums: list[float]) -> None:
        """An adaptive p continues from the checkpoint; a fixed one is the config's (the user may change
        it on resume). A checkpoint from before augmentation starts at the config's p with empty sums."""
        if self.adaptive and aug_p is not None:
            self.p.fill_(aug_p)
        self.sums.copy_(torch.tensor(aug_sums or [0.0] * 4))
