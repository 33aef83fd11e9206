"""Inception features of a prepared dataset, the reference the generated images are scored against.

Extracting them is the expensive half of an evaluation (50k images through Inception take minutes
on a GPU, hours on a CPU), so they are computed once and cached as safetensors beside the dataset
(or, when that folder is read-only, under $GANSCALE_CACHE / ~/.cache/ganscale). The cache records
the dataset's checksum (dataset.json's sha256) and the weights' SHA-256: a re-prepared dataset or
other weights recompute it, and say so. Never a pickle, unlike torch-fidelity's own cache.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ganscale import files
from ganscale.data.prepared import PreparedDataset
from ganscale.errors import UserError
from ganscale.eval.inception import RgbImages, SafeInceptionV3, features
from ganscale.eval.scores import cache_dir

FORMAT = "ganscale-inception-reference-v1"
SUBSET_SEED = 0
LAYER = "2048"  # the reference side of FID, KID and precision/recall (IS reads generated images only)
MIN_IMAGES = 10  # Inception Score's 10 splits; KID and precision/recall need a few more than 1 and k


@dataclass(frozen=True)
class InceptionReference:
    features: dict[str, torch.Tensor]  # torch-fidelity's feature dict of the reference images
    fid_stats: dict[str, np.ndarray]  # torch-fidelity's {"mu", "sigma"} of the 2048-d features
    dataset_sha256: str
    path: Path  # where it is cached


class PreparedImages(Dataset):
    """The chosen rows of a prepared dataset's memory map, read one at a time (it may not fit in RAM)."""

    def __init__(self, prepared: PreparedDataset, indices: np.ndarray):
        self.prepared, self.indices = prepared, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = torch.from_numpy(np.array(self.prepared.images[int(self.indices[index])]))
        return RgbImages(image[None])[0]


def subset(count: int, num: int) -> np.ndarray:
    """All images, or a seeded random `num` of them: prepared folders are often sorted by class."""
    if num >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(SUBSET_SEED).choice(count, num, replace=False))


def cache_files(directory: Path, weights_sha256: str, num: int) -> tuple[Path, Path]:
    """(beside the dataset, in the user cache): one name per dataset folder, weights and size, so a
    changed checksum is found (and reported) rather than silently missed."""
    name = f"inception-reference-{weights_sha256[:12]}-{num}.safetensors"
    folder_key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]
    return directory / name, cache_dir() / "inception-reference" / f"{folder_key}-{name}"


def _read(path: Path, weights_sha256: str, checksum: str) -> InceptionReference | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT or meta.get("weights_sha256") != weights_sha256:
                return None
            if meta.get("dataset_sha256") != checksum:
                _say(f"{path}: made for dataset checksum {meta.get('dataset_sha256', '?')[:12]}, the "
                     f"dataset now has {checksum[:12]}: recomputing the Inception reference")
                return None
            feats = {LAYER: f.get_tensor(f"features.{LAYER}")}
            stats = {key: f.get_tensor(f"fid.{key}").numpy() for key in ("mu", "sigma")}
    except (OSError, SafetensorError, KeyError):  # unreadable or truncated: recompute, don't fail
        return None
    return InceptionReference(feats, stats, checksum, path)


def _write(paths: tuple[Path, Path], ref: InceptionReference, weights_sha256: str, num: int) -> Path | None:
    from safetensors.torch import save_file

    tensors = {f"features.{k}": v.contiguous() for k, v in ref.features.items()}
    tensors.update({f"fid.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in ref.fid_stats.items()})
    meta = {"format": FORMAT, "dataset_sha256": ref.dataset_sha256, "weights_sha256": weights_sha256,
            "count": str(num)}
    for path in paths:
        try:
            return files.write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
        except UserError as err:  # a read-only dataset folder: try the user cache
            _say(f"cannot cache the Inception reference at {path} ({err})")
    return None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _compute(prepared: PreparedDataset, model: SafeInceptionV3, num: int):
    from torch_fidelity.metric_fid import fid_features_to_statistics

    feats = features(PreparedImages(prepared, subset(len(prepared), num)), model)
    return {LAYER: feats[LAYER]}, fid_features_to_statistics(feats[LAYER])


def inception_reference(directory: str | Path, model: SafeInceptionV3, num: int) -> InceptionReference:
    """The reference features of `directory` (all images, or `num` of them drawn with a fixed seed)."""
    directory = Path(directory)
    prepared = PreparedDataset(directory)
    checksum, num = prepared.info.sha256, min(num, len(prepared))
    if num < MIN_IMAGES:
        raise UserError(f"{directory}: {num} images; the Inception metrics need a reference of at least "
                        f"{MIN_IMAGES}")
    paths = cache_files(directory, model.weights_sha256, num)
    for path in paths:
        found = _read(path, model.weights_sha256, checksum) if path.is_file() else None
        if found is not None:
            return found
    feats, stats = _compute(prepared, model, num)
    written = _write(paths, InceptionReference(feats, stats, checksum, paths[0]), model.weights_sha256, num)
    return InceptionReference(feats, stats, checksum, written or paths[0])
