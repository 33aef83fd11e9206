"""Batches for training, all following the world-size-invariant index stream (stream.py).

A prepared dataset (prepared.py) is read one of two ways, chosen by size (`data.loader=auto`):
- TensorBatches: the whole uint8 array lives on the training device when it fits in
  `data.device_budget_mb`; a step is one gather there, with no host work at all.
- MemmapBatches: otherwise the array stays memory-mapped; DataLoader workers gather this rank's rows
  of the next batches ahead of time into pinned memory, and the step only copies uint8 to the device.
`data.loader=dataloader` is MNIST through torchvision's PIL transforms: the textbook path, kept so
`ganscale bench` can compare with it. `data.xflip` doubles the stream for all three (mirror.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ganscale.config import DataConfig, ModelConfig
from ganscale.data.mirror import MirroredDataset, mirror_rows, stream_length, take_rows
from ganscale.data.pixels import to_model_pixels
from ganscale.data.prepared import PreparedDataset
from ganscale.data.stream import IndexStream, StreamBatchSampler


class TensorBatches:
    """Fast path: the whole uint8 dataset lives on the training device; a step is one gather."""

    def __init__(self, images_u8, labels, stream: IndexStream, batch_size: int, rank: int,
                 world: int, image_size: int, device, position: int = 0, xflip: bool = False):
        self.images = images_u8.to(device)
        self.xflip = xflip
        self.labels = labels.to(device)
        self.stream, self.batch_size, self.rank, self.world = stream, batch_size, rank, world
        self.image_size, self.device, self.position = image_size, device, position

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        idx = self.stream.rank_slice(self.position, self.batch_size, self.rank).to(self.device)
        self.position += self.batch_size * self.world
        if self.xflip:
            images, idx = take_rows(self.images, idx, len(self.images))
        else:
            images = self.images[idx]
        return to_model_pixels(images, self.image_size), self.labels[idx]


class RowReader(torch.utils.data.Dataset):
    """Rows of a prepared dataset's memory map, a whole batch per call (`__getitems__`).

    The map is opened lazily in each DataLoader worker (a numpy memmap would be pickled whole).
    Rows are read in index order, then put back in batch order: sequential reads on a cold disk.
    With `to_pixels` (a model resolution) the workers also convert to [-1, 1]: right for a CPU run,
    where that work would otherwise wait in the training process; a GPU run gets uint8 (a quarter of
    the bytes to copy) and converts on the device.
    """

    def __init__(self, directory: Path, labels: torch.Tensor, xflip: bool = False,
                 to_pixels: int | None = None):
        self.directory, self.labels, self._images = Path(directory), labels, None
        self.xflip, self.to_pixels = xflip, to_pixels

    def __len__(self) -> int:
        return stream_length(len(self.labels), self.xflip)

    def __getitems__(self, indices: list[int]):
        if self._images is None:
            self._images = PreparedDataset(self.directory).images
        stream_idx = np.asarray(indices)
        idx = stream_idx % len(self.labels) if self.xflip else stream_idx
        order = np.argsort(idx, kind="stable")
        rows = np.empty((len(idx), *self._images.shape[1:]), dtype=np.uint8)
        rows[order] = self._images[idx[order]]
        if self.xflip:
            mirror_rows(rows, stream_idx, len(self.labels))
        images = torch.from_numpy(rows)
        if self.to_pixels is not None:
            images = to_model_pixels(images, self.to_pixels)
        return images, self.labels[torch.from_numpy(idx)]


def whole_batch(batch):
    return batch  # RowReader already returns the collated batch


class LoaderBatches:
    """A DataLoader over this rank's slices of the stream, moved to the device on arrival."""

    def __init__(self, dataset, stream, batch_size, rank, world, device, num_workers, position=0,
                 image_size: int | None = None, collate_fn=None):
        self.sampler = StreamBatchSampler(stream, batch_size, rank, world, position)
        pin = device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=num_workers, pin_memory=pin,
            persistent_workers=num_workers > 0, collate_fn=collate_fn,
            prefetch_factor=4 if num_workers > 0 else None)
        self.device, self.image_size, self._iter = device, image_size, None

    def __iter__(self):
        return self

    def __next__(self):
        if self._iter is None:
            self._iter = iter(self.loader)
        x, y = next(self._iter)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        return (x, y) if self.image_size is None else (to_model_pixels(x, self.image_size), y)


class MemmapBatches(LoaderBatches):
    """The memory-mapped path: uint8 rows prefetched by workers, converted to [-1, 1] on the device."""

    def __init__(self, directory, labels, stream, batch_size, rank, world, image_size, device, num_workers,
                 position=0, xflip: bool = False):
        in_workers = device.type == "cpu" and num_workers > 0  # see RowReader
        reader = RowReader(directory, labels, xflip, to_pixels=image_size if in_workers else None)
        super().__init__(reader, stream, batch_size, rank, world, device, num_workers, position,
                         image_size=None if in_workers else image_size, collate_fn=whole_batch)


def fits_on_device(dataset: PreparedDataset, data: DataConfig) -> bool:
    return dataset.info.image_bytes <= data.device_budget_mb * (1 << 20)


def make_batches(data: DataConfig, model: ModelConfig, *, batch_size: int, rank: int, world: int,
                 seed: int, device, position: int = 0, agree=None):
    """An endless iterator of (images in [-1, 1], labels) for this rank, starting at `position`.

    `agree` (collective, given when world > 1) replaces this rank's cluster labels with rank 0's, and
    only rank 0 clusters: k-means in float32 can flip a borderline image between clusters on another
    CPU or thread count, and eight ranks clustering at once on one node's CPUs would each be slow.
    """
    from ganscale.data.resolve import dataset_labels, training_dataset

    if data.loader == "dataloader":
        from ganscale.data.mnist import torchvision_mnist

        dataset = torchvision_mnist(data, model)
        dataset = MirroredDataset(dataset) if data.xflip else dataset
        stream = IndexStream(len(dataset), seed)
        return LoaderBatches(dataset, stream, batch_size, rank, world, device, data.num_workers, position)
    prepared = PreparedDataset(training_dataset(data, model))
    labels = dataset_labels(prepared, model, seed, rank, agree)
    stream = IndexStream(stream_length(len(prepared), data.xflip), seed)
    if data.loader == "tensor" or (data.loader == "auto" and fits_on_device(prepared, data)):
        images = torch.from_numpy(np.array(prepared.images))  # one read into memory, then to the device
        return TensorBatches(images, labels, stream, batch_size, rank, world, model.image_size, device,
                             position, data.xflip)
    return MemmapBatches(prepared.directory, labels, stream, batch_size, rank, world, model.image_size,
                         device, data.num_workers, position, data.xflip)
