"""Training data: MNIST through torchvision, image folders, and a resumable per-rank index stream.

The sample order is one global stream of indices: epoch e is a permutation of the dataset seeded by
(seed, e), and the epochs follow each other. The global batch at image position p is stream[p : p+B*W];
rank r takes its own contiguous slice of it. So the order depends only on the seed and the number of
images already shown, never on the world size: a run resumed on a different number of processes, or
2 processes x batch b against 1 process x batch 2b, sees exactly the same images.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from ganscale.clusters import cluster_labels
from ganscale.config import DataConfig, ModelConfig
from ganscale.errors import UserError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def resolve_root(root: str = "") -> Path:
    return Path(root or os.environ.get("GANSCALE_DATA") or "data")


def load_mnist(root: str | Path = "", train: bool = True, download: bool = True):
    """MNIST as (uint8 images [N, 28, 28], int64 labels [N]) on the CPU."""
    from torchvision.datasets import MNIST

    root = resolve_root(str(root))
    try:
        dataset = MNIST(root=str(root), train=train, download=download)
    except (RuntimeError, OSError) as err:
        where = root.resolve() / "MNIST" / "raw"
        reason = " ".join(str(err).split())[:240]  # torchvision's download errors span several lines
        raise UserError(f"MNIST not found under {root} and could not be downloaded ({reason}); "
                        f"put the four IDX files ({', '.join(MNIST_FILES)}) in {where} "
                        "or set data.root / $GANSCALE_DATA") from None
    return dataset.data.contiguous(), dataset.targets.long()


def to_model_pixels(images_u8: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [B, H, W] or [B, C, H, W] -> [B, C, size, size] in [-1, 1], on the tensors' device.

    In torch's default float dtype, so a float64 run (`torch.set_default_dtype`) gets float64 pixels.
    """
    x = images_u8.unsqueeze(1) if images_u8.dim() == 3 else images_u8
    x = x.to(torch.get_default_dtype()).div_(127.5).sub_(1.0)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


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


def torchvision_mnist(cfg: DataConfig, model: ModelConfig):
    """torchvision's MNIST train set through PIL transforms (Resize to the model's size, ToTensor, Normalize).

    This is the slow, textbook way to feed MNIST: `data.loader=dataloader` uses it, and so does the
    textbook loop `ganscale bench` compares with, so both sides decode the same images the same way.
    """
    from torchvision import datasets, transforms

    load_mnist(cfg.root, train=True, download=cfg.download)  # same error message as the fast path
    steps = [transforms.Resize(model.image_size)] if model.image_size != 28 else []
    steps += [transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]
    return datasets.MNIST(str(resolve_root(cfg.root)), train=True, transform=transforms.Compose(steps))


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


@functools.lru_cache(maxsize=1)
def _clustered_mnist(root: str, download: bool, clusters: int, seed: int, compute: bool = True):
    """MNIST train images with k-means cluster ids as labels (model.conditioning=clusters).

    Cached: the trainer rebuilds its batch stream on resume and after each rollback, and clustering
    the 60k images takes about 10 s. The tensors are only read (gathered), never changed.
    With `compute=False` the labels are a placeholder that the caller overwrites with rank 0's.
    """
    images, _ = load_mnist(root, train=True, download=download)
    if not compute:
        return images, torch.zeros(len(images), dtype=torch.long)
    return images, cluster_labels(images, clusters, seed)


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
            images, labels = _clustered_mnist(root, data.download, model.num_classes, seed, compute)
            labels = agree(labels) if agree is not None else labels
        else:
            images, labels = load_mnist(data.root, train=True, download=data.download)
        stream = IndexStream(len(images), seed)
        return TensorBatches(images, labels, stream, batch_size, rank, world, model.image_size,
                             device, position)
    dataset = torchvision_mnist(data, model) if data.name == "mnist" else _folder_dataset(data, model)
    stream = IndexStream(len(dataset), seed)
    return LoaderBatches(dataset, stream, batch_size, rank, world, device, data.num_workers, position)
