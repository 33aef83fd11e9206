"""Drawing the N samples an evaluation scores, split across processes.

The noise for all N samples is drawn once from the seed, and rank r generates its contiguous share;
the shares are gathered in order, so 1 process and N processes score exactly the same images.
"""

from __future__ import annotations

import math

import torch

from ganscale.config import ModelConfig
from ganscale.sampling import draw_noise, generate


def _my_share(num: int, rank: int, world: int) -> slice:
    per_rank = math.ceil(num / world)
    return slice(min(rank * per_rank, num), min((rank + 1) * per_rank, num))


def generate_sharded(generator, model: ModelConfig, num: int, seed: int, accelerator=None,
                     batch_size: int = 500):
    """(images [num, 1, H, W] in [-1, 1], requested labels or None), identical on every world size.

    Conditional models are asked for every class in turn (balanced), so cond_accuracy covers all digits.
    """
    z, labels = draw_noise(model, num, seed)
    world = accelerator.num_processes if accelerator is not None else 1
    if world == 1:
        return generate(generator, z, labels, batch_size), labels
    from accelerate.utils import gather

    rank, per_rank = accelerator.process_index, math.ceil(num / world)
    share = _my_share(num, rank, world)
    mine = generate(generator, z[share], None if labels is None else labels[share], batch_size)
    padded = torch.zeros(per_rank, *mine.shape[1:])
    padded[:len(mine)] = mine
    everything = gather(padded.to(accelerator.device)).cpu()
    return everything[:num], labels
