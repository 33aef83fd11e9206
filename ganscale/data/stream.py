"""The resumable, world-size-invariant sample order.

The sample order is one global stream of indices: epoch e is a permutation of the dataset seeded by
(seed, e), and the epochs follow each other. The global batch at image position p is stream[p : p+B*W];
rank r takes its own contiguous slice of it. So the order depends only on the seed and the number of
images already shown, never on the world size: a run resumed on a different number of processes, or
2 processes x batch b against 1 process x batch 2b, sees exactly the same images.
"""

from __future__ import annotations

import torch


class IndexStream:
    """The endless global sample order (see the module docstring)."""

    def __init__(self, num_samples: int, seed: int):
        self.num_samples = num_samples
        self.seed = seed
        self._cache: dict[int, torch.Tensor] = {}

    def epoch_order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache = {epoch: torch.randperm(self.num_samples, generator=gen)}
        return self._cache[epoch]

    def take(self, start: int, count: int) -> torch.Tensor:
        pieces, position, remaining = [], start, count
        while remaining > 0:
            epoch, offset = divmod(position, self.num_samples)
            piece = self.epoch_order(epoch)[offset:offset + remaining]
            pieces.append(piece)
            position += len(piece)
            remaining -= len(piece)
        return torch.cat(pieces)

    def rank_slice(self, position: int, batch_size: int, rank: int) -> torch.Tensor:
        return self.take(position + rank * batch_size, batch_size)


class StreamBatchSampler(torch.utils.data.Sampler):
    """The same order for a DataLoader: this rank's index slice, one global batch at a time."""

    def __init__(self, stream: IndexStream, batch_size: int, rank: int, world: int, position: int):
        self.stream, self.batch_size, self.rank, self.world = stream, batch_size, rank, world
        self.position = position

    def __iter__(self):
        position = self.position
        while True:
            yield self.stream.rank_slice(position, self.batch_size, self.rank).tolist()
            position += self.batch_size * self.world
