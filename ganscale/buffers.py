"""Keeping every rank's model buffers (BatchNorm running statistics) identical between steps."""

from __future__ import annotations

import torch
from torch import nn


def broadcast_buffers(models: list[nn.Module]) -> None:
    """Give every rank rank 0's buffers, one collective per dtype rather than one per buffer.

    DDP broadcasts them only at the start of the wrapped model's next forward: until then each rank
    holds statistics updated by its own last batch (and D's by the G phase, which runs D unwrapped),
    and G_ema copies G's. Broadcasting at the end of each step keeps G, D and G_ema identical on every
    rank between steps. Collective: every rank must call it.
    """
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for model in models:
        for buffer in model.buffers():
            by_dtype.setdefault(buffer.dtype, []).append(buffer)
    for buffers in by_dtype.values():
        flat = torch.cat([b.reshape(-1) for b in buffers])
        torch.distributed.broadcast(flat, src=0)
        for buffer, part in zip(buffers, flat.split([b.numel() for b in buffers]), strict=True):
            buffer.copy_(part.view_as(buffer))
