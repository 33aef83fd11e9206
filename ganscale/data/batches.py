"""Batches for training: the device-resident fast path and the DataLoader path, both following the
world-size-invariant index stream (stream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from ganscale.config import DataConfig, ModelConfig
from ganscale.data.mnist import clustered_mnist, load_mnist, resolve_root, torchvision_mnist
from ganscale.data.pixels import to_model_pixels
from ganscale.data.stream import IndexStream, StreamBatchSampler
from ganscale.errors import UserError


class TensorBatches:
    """Fast path: the whole uint8 dataset lives on the training device; a step is one gather."""

    def __init__(self, images_u8, labels, stream: IndexStream, batch_size: int, rank: int,
                 world: int, image_size: int, device, position: int = 0):
        self.images = images_u8.to(device)
        self.labels = labels.to(device)
        self.stream, self.batch_size, self.rank, self.world = stream, batch_size, rank, world
        self.image_size, self.device, self.position = image_size, device, position

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        idx = self.stream.rank_slice(self.position, self.batch_size, self.rank).to(self.device)
        self.position += self.batch_size * self.world
        return to_model_pixels(self.images[idx], self.image_size), self.labels[idx]


def _folder_dataset(cfg: DataConfig, model: ModelConfig):
    from torchvision import datasets, transforms

    if not Path(cfg.path).is_dir():
        raise UserError(f"data.path={cfg.path!r}: not a directory of class sub-folders with images")
    steps = [transforms.Grayscale(model.channels)] if model.channels in (1, 3) else []
    steps += [transforms.Resize(model.image_size), transforms.CenterCrop(model.image_size),
              transforms.ToTensor(), transforms.Normalize([0.5] * model.channels, [0.5] * model.channels)]
    try:
        return datasets.ImageFolder(cfg.path, transform=transforms.Compose(steps))
    except (FileNotFoundError, RuntimeError) as err:
        raise UserError(f"data.path={cfg.path!r}: {err}") from None


class LoaderBatches:
    """Regular DataLoader path (folders of images, or MNIST through PIL transforms)."""

    def __init__(self, dataset, stream, batch_size, rank, world, device, num_workers, position=0):
        self.sampler = StreamBatchSampler(stream, batch_size, rank, world, position)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=num_workers,
            pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0)
        self.device, self._iter = device, None

    def __iter__(self):
        return self

    def __next__(self):
        if self._iter is None:
            self._iter = iter(self.loader)
        x, y = next(self._iter)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def make_batches(data: DataConfig, model: ModelConfig, *, batch_size: int, rank: int, world: int,
                 seed: int, device, position: int = 0, agree=None):
    """An endless iterator of (images in [-1, 1], labels) for this rank, starting at `position`.

    `agree` (collective, given when world > 1) replaces this rank's cluster labels with rank 0's, and
    only rank 0 clusters: k-means in float32 can flip a borderline image between clusters on another
    CPU or thread count, and eight ranks clustering at once on one node's CPUs would each be slow.
    """
    if data.name == "mnist" and data.loader == "tensor":
        if model.conditioning == "clusters":
            root = str(resolve_root(data.root))
            compute = agree is None or rank == 0
            images, labels = clustered_mnist(root, data.download, model.num_classes, seed, compute)
            labels = agree(labels) if agree is not None else labels
        else:
            images, labels = load_mnist(data.root, train=True, download=data.download)
        stream = IndexStream(len(images), seed)
        return TensorBatches(images, labels, stream, batch_size, rank, world, model.image_size,
                             device, position)
    dataset = torchvision_mnist(data, model) if data.name == "mnist" else _folder_dataset(data, model)
    stream = IndexStream(len(dataset), seed)
    return LoaderBatches(dataset, stream, batch_size, rank, world, device, data.num_workers, position)
