"""Which prepared dataset a run trains on, and the labels it trains with.

`data.name=prepared` reads `data.path`. `data.name=mnist` is the same thing made on first use: MNIST's
train split, prepared once at the model's resolution into the cache (`data.cache`, else
$GANSCALE_CACHE, else ~/.cache/ganscale), so there is one data path, not two.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
from pathlib import Path

import torch

from ganscale.config import DataConfig, ModelConfig
from ganscale.data.mnist import load_mnist, resolve_root
from ganscale.data.prepared import PreparedDataset, is_prepared


def cache_root(data: DataConfig) -> Path:
    return Path(data.cache or os.environ.get("GANSCALE_CACHE") or Path.home() / ".cache" / "ganscale")


def mnist_dir(data: DataConfig, resolution: int) -> Path:
    """Keyed by the resolution and the IDX folder, so two MNIST copies never share one cache entry."""
    root = str(resolve_root(data.root).resolve())
    key = hashlib.sha256(root.encode()).hexdigest()[:8]
    return cache_root(data) / "prepared" / f"mnist-{resolution}-{key}"


def training_dataset(data: DataConfig, model: ModelConfig) -> Path:
    """The prepared directory for this config, preparing MNIST first when it is not in the cache yet.

    Under several processes call it first on each node's main process (run.py does), so one prepares
    and the others find it done.
    """
    if data.name == "prepared":
        return Path(data.path)
    out = mnist_dir(data, model.image_size)
    if is_prepared(out):
        return out
    from ganscale.data.prepare import prepare
    from ganscale.files import ensure_dir

    with _exclusive(ensure_dir(out.parent) / f".{out.name}.lock"):
        if not is_prepared(out):  # another run (another node on a shared disk) may have made it meanwhile
            load_mnist(data.root, train=True, download=data.download)  # download, or the one-line error
            prepare("mnist", out, resolution=model.image_size, channels=1, root=str(resolve_root(data.root)),
                    progress=False, command="ganscale train (MNIST prepared on first use)")
    return out


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """One process at a time prepares a cache entry; the others wait, then find it made."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dataset_labels(prepared: PreparedDataset, model: ModelConfig, seed: int, rank: int,
                   agree) -> torch.Tensor:
    """The labels the run trains with: the dataset's, none (zeros), or k-means cluster ids of the images."""
    if model.conditioning == "clusters":
        compute = agree is None or rank == 0
        labels = cluster_ids(str(prepared.directory), prepared.info.quick_sha256, model.num_classes, seed,
                             compute)
        return agree(labels) if agree is not None else labels
    if prepared.labels is None:
        return torch.zeros(len(prepared), dtype=torch.long)
    return torch.from_numpy(prepared.labels.astype("int64"))


@functools.lru_cache(maxsize=1)
def cluster_ids(directory: str, checksum: str, clusters: int, seed: int,
                compute: bool = True) -> torch.Tensor:
    """k-means cluster ids of a grey dataset's images (model.conditioning=clusters).

    Cached (keyed by the dataset's checksum too): the trainer rebuilds its batch stream on resume and
    after each rollback, and clustering 60k images takes about 10 s. With `compute=False` the ids are
    a placeholder that the caller overwrites with rank 0's.
    """
    from ganscale.clusters import cluster_labels

    prepared = PreparedDataset(directory)
    if not compute:
        return torch.zeros(len(prepared), dtype=torch.long)
    images = torch.from_numpy(prepared.images[:, 0].copy())
    return cluster_labels(images, clusters, seed)
