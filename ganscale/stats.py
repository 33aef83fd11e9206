"""Training statistics accumulated on the device and read back only at log intervals.

Reading a value on the host (`.item()`) waits for the GPU; doing it every step is the textbook
loop's hidden cost. Here every step adds into one small device tensor, and a log interval does a
single all-reduce and a single host copy for all of them.
"""

from __future__ import annotations

import math

import torch

FIELDS = ("loss_D", "D_x", "D_G_z", "acc_real", "acc_fake", "n_d", "loss_G", "n_g",
          "grad_norm_D", "grad_norm_G", "n_norm_D", "n_norm_G")
INDEX = {name: i for i, name in enumerate(FIELDS)}


class StepStats:
    def __init__(self, device: torch.device):
        self.sums = torch.zeros(len(FIELDS), dtype=torch.float64, device=device)
        self._one = torch.ones((), dtype=torch.float64, device=device)

    @torch.no_grad()
    def add_d(self, loss, real_logits, fake_logits) -> None:
        real, fake = real_logits.detach().float(), fake_logits.detach().float()
        values = torch.stack([loss.detach().float(), torch.sigmoid(real).mean(), torch.sigmoid(fake).mean(),
                              (real > 0).float().mean(), (fake < 0).float().mean()]).double()
        self.sums[:5] += values
        self.sums[INDEX["n_d"]] += self._one

    @torch.no_grad()
    def add_g(self, loss) -> None:
        self.sums[INDEX["loss_G"]] += loss.detach().double()
        self.sums[INDEX["n_g"]] += self._one

    @torch.no_grad()
    def add_grad_norm(self, name: str, norm) -> None:
        self.sums[INDEX[f"grad_norm_{name}"]] += norm.detach().double()
        self.sums[INDEX[f"n_norm_{name}"]] += self._one

    def reduce(self, accelerator, flags: list[float]) -> tuple[dict[str, float], list[float]]:
        """Averages over the interval and all ranks, plus `flags` summed over ranks; then reset.

        Collective: every rank calls it at the same step, which is also how ranks agree on
        stopping (a signal, the time budget, a non-finite loss) without extra communication.
        """
        packed = torch.cat([self.sums, torch.tensor(flags, dtype=torch.float64, device=self.sums.device)])
        total = accelerator.reduce(packed, reduction="sum").tolist()
        self.sums.zero_()
        sums, summed_flags = total[:len(FIELDS)], total[len(FIELDS):]
        v = dict(zip(FIELDS, sums, strict=True))
        out = {}
        for name in ("loss_D", "D_x", "D_G_z", "acc_real", "acc_fake"):
            out[name] = v[name] / max(v["n_d"], 1)
        out["loss_G"] = v["loss_G"] / max(v["n_g"], 1)
        for name in ("D", "G"):
            if v[f"n_norm_{name}"]:
                out[f"grad_norm_{name}"] = v[f"grad_norm_{name}"] / v[f"n_norm_{name}"]
        return out, summed_flags


def all_finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())
