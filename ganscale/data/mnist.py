"""MNIST from its four IDX files (through torchvision), as uint8 arrays or as the textbook PIL dataset."""

from __future__ import annotations

import os
from pathlib import Path

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
