"""Datasets by name (mnist, cifar10, ...): downloaded through torchvision, or read from `--root`.

Without `--root` the files are fetched by torchvision into the data folder ($GANSCALE_DATA, else
./data), which checks them against its md5 list; with `--root` the files already on disk are read
in the datasets' own formats (IDX, CIFAR python batches, STL-10 binary, SVHN .mat, CelebA folder).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ganscale.data.sources import named_files
from ganscale.data.sources.base import Source, decode, one_line
from ganscale.errors import UserError

# name: (torchvision class, splits: the first is the default)
NAMED: dict[str, tuple[str, tuple[str, ...]]] = {
    "mnist": ("MNIST", ("train", "test")),
    "fashion-mnist": ("FashionMNIST", ("train", "test")),
    "kmnist": ("KMNIST", ("train", "test")),
    "cifar10": ("CIFAR10", ("train", "test")),
    "cifar100": ("CIFAR100", ("train", "test")),
    "svhn": ("SVHN", ("train", "test", "extra")),
    "stl10": ("STL10", ("train", "test", "unlabeled", "train+unlabeled")),
    "celeba": ("CelebA", ("all", "train", "valid", "test")),
}
MNIST_LIKE = ("mnist", "fashion-mnist", "kmnist")
CHUNK = 8192


def split_name(text: str) -> tuple[str, str]:
    """`cifar10` or `cifar10:test` -> (name, split), the split checked against the dataset's own."""
    name, _, split = text.partition(":")
    splits = NAMED[name][1]
    split = split or splits[0]
    if split not in splits:
        raise UserError(f"{text}: {name} has no split {split!r} (splits: {', '.join(splits)})")
    return name, split


def _torchvision(name: str, root: Path, split: str, download: bool):
    from torchvision import datasets

    cls = getattr(datasets, NAMED[name][0])
    if name in MNIST_LIKE or name.startswith("cifar"):
        return cls(str(root), train=split == "train", download=download)
    if name == "svhn" and importlib.util.find_spec("scipy") is None:  # torchvision reads .mat with scipy too
        raise UserError(named_files.NEEDS_SCIPY)
    return cls(str(root), split=split, download=download)


def fetch(name: str, root: Path, split: str) -> None:
    """Download (or find, md5-checked) the official files under `root`; one line if that fails."""
    try:
        _torchvision(name, root, split, download=True)
    except (RuntimeError, OSError, ValueError) as err:
        raise UserError(f"{name}: could not download into {root} ({one_line(err)}); put the files there "
                        "yourself and pass --root") from None


def _mnist_like(name: str, root: Path, split: str):
    try:
        dataset = _torchvision(name, root, split, download=False)
    except (RuntimeError, OSError, ValueError, AssertionError) as err:
        folder = root / NAMED[name][0] / "raw"
        raise UserError(f"{name}: no readable IDX files in {folder} ({one_line(err)}); "
                        "drop --root to download them") from None
    return dataset.data.numpy(), dataset.targets.numpy().astype(np.int64), list(dataset.classes)


def _arrays(name: str, root: Path, split: str):
    if name in MNIST_LIKE:
        return _mnist_like(name, root, split)
    if name in named_files.CIFAR:
        return named_files.read_cifar(name, root, split)
    if name == "svhn":
        return named_files.read_svhn(root, split)
    return named_files.read_stl10(root, split)


def _chunks(images: np.ndarray, labels: np.ndarray | None) -> Callable:
    def chunks():
        for start in range(0, len(images), CHUNK):
            yield images[start:start + CHUNK], None if labels is None else labels[start:start + CHUNK]
    return chunks


def _celeba(root: Path, split: str) -> Source:
    folder, names = named_files.celeba_files(root, split)
    if not names:
        raise UserError(f"{folder}: no .jpg images for the {split} split")

    def items():
        for name in names:
            yield decode(name, folder / name, None)

    return Source(kind="named", location="celeba", labelled=False, size=len(names), items=items,
                  notes={"split": split, "root": str(root)})


def open_named(text: str, root: str | None, labels: str) -> Source:
    from ganscale.data.mnist import resolve_root

    name, split = split_name(text)
    if labels == "folders":
        raise UserError(f"--labels folders: {name} brings its own labels; use auto or none")
    where = Path(root) if root else resolve_root("")
    if root is None:
        fetch(name, where, split)
    elif not where.is_dir():
        raise UserError(f"--root {root}: no such folder")
    if name == "celeba":
        return _celeba(where, split)
    images, label_array, names = _arrays(name, where, split)
    if labels == "none" or label_array is None:
        label_array, names = None, []
    return Source(kind="named", location=name, labelled=label_array is not None, size=len(images),
                  label_names=names, num_classes=len(names), chunks=_chunks(images, label_array),
                  notes={"split": split, "root": str(where)})
