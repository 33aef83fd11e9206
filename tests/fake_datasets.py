"""Small datasets written in the datasets' own on-disk formats, for `ganscale prepare` tests: image
folders and zips, MNIST's IDX files, CIFAR's python batches, STL-10's binary files."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def random_images(count: int, height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """uint8 [N, H, W, C] (or [N, H, W] for one channel) with every channel different."""
    shape = (count, height, width) if channels == 1 else (count, height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def image_folder(root: Path, arrays: np.ndarray, suffix: str = ".png",
                 classes: list[str] | None = None) -> list[Path]:
    """One file per image; with `classes`, image i goes into sub-folder classes[i % len(classes)]."""
    paths = []
    for i, array in enumerate(arrays):
        folder = root / classes[i % len(classes)] if classes else root
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{i:03d}{suffix}"
        Image.fromarray(array).save(path, **({"quality": 95} if suffix == ".jpg" else {}))
        paths.append(path)
    return paths


def image_zip(path: Path, arrays: np.ndarray, labels: list[int] | None = None) -> list[str]:
    """StyleGAN's layout: 00000/img00000000.png ..., labels in dataset.json."""
    names = [f"{i // 1000:05d}/img{i:08d}.png" for i in range(len(arrays))]
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in zip(names, arrays, strict=True):
            with archive.open(name, "w") as handle:
                Image.fromarray(array).save(handle, format="png")
        if labels is not None:
            table = [[name, label] for name, label in zip(names, labels, strict=True)]
            archive.writestr("dataset.json", json.dumps({"labels": table}))
    return names


def idx_files(raw: Path, train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
              test_labels: np.ndarray) -> None:
    """MNIST's four uncompressed IDX files (big-endian header, then the bytes)."""
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (("train", train, train_labels), ("t10k", test, test_labels)):
        n, rows, cols = images.shape
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">4i", 0x803, n, rows, cols)
                                                          + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">2i", 0x801, n)
                                                          + labels.astype(np.uint8).tobytes())


def cifar10_batches(root: Path, per_batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py/ with five train batches, a test batch and batches.meta; returns the train
    images as NHWC and their labels, in batch order."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)
        batch_labels = [int(x) for x in rng.integers(0, 10, size=per_batch)]
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "data": data, "labels": batch_labels,
                         "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}, handle, protocol=2)
        if name != "test_batch":
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels += batch_labels
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch}, handle, protocol=2)
    return np.concatenate(images), np.array(labels)


def stl10_train(root: Path, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """stl10_binary/train_X.bin (column-major 3x96x96), train_y.bin (1..10), class_names.txt; returns
    NHWC images and 0-based labels."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    nhwc = random_images(count, 96, 96, seed=seed)
    (folder / "train_X.bin").write_bytes(nhwc.transpose(0, 3, 2, 1).tobytes())  # [N, C, W, H]
    labels = np.random.default_rng(seed).integers(0, 10, size=count)
    (folder / "train_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
    (folder / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    return nhwc, labels
