"""Learning-rate decay over the run, as a function of the training position (kimg), never of time.

Tied to images seen, so a resumed run, a different world size or a slower machine get the same lr at
the same point of training; `train.max_minutes` cuts a run short but does not stretch its schedule.
"""

from __future__ import annotations

import math

KINDS = ("none", "linear", "cosine")


def lr_factor(kind: str, cur_nimg: int, max_kimg: float, final: float) -> float:
    """Multiplier of the configured lr: 1 at the start, `final` at max_kimg (and after it)."""
    if kind == "none":
        return 1.0
    progress = min(cur_nimg / (max_kimg * 1000), 1.0)
    shape = 1.0 - progress if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return final + (1.0 - final) * shape
