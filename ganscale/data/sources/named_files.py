"""Readers for the on-disk formats of the named datasets that torchvision cannot open without its md5
list (which only the official files match): CIFAR's python batches, STL-10's binary, SVHN's .mat, and
CelebA's image folder. Each returns uint8 NHWC arrays (or image paths) plus labels and class names.

CIFAR-10/100 ship only as pickled python batches; torchvision unpickles them too. Here they are read
with an unpickler that accepts nothing but builtin containers and numpy arrays, so a tampered batch
cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ganscale.data.sources.base import one_line
from ganscale.errors import UserError

CIFAR = {  # name: (folder, train files, test files, meta file, label key, names key)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "batches.meta", "labels", "label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_labels", "fine_label_names"),
}
NEEDS_SCIPY = "svhn is stored as MATLAB .mat files, read with scipy: pip install 'ganscale[scipy]'"
NUMPY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                 ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                 ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}  # bytes in protocol-2 pickles


class ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays, and refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: not part of a dataset batch")
        # numpy 2 moved numpy.core to numpy._core (the old name still works, with a warning)
        modern = module.replace("numpy.core.", "numpy._core.")
        try:
            return super().find_class(modern, name)
        except ImportError:
            return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            tree = ArraysOnly(handle, encoding="latin1").load()
    except FileNotFoundError:
        raise UserError(f"{path}: missing") from None
    except (pickle.UnpicklingError, OSError, EOFError, ValueError, AttributeError, ImportError) as err:
        raise UserError(f"{path}: not a readable CIFAR python batch ({one_line(err)})") from None
    if not isinstance(tree, dict):
        raise UserError(f"{path}: not a readable CIFAR python batch (holds a {type(tree).__name__})")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in tree.items()}


def read_cifar(name: str, root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    folder, train, test, meta, label_key, names_key = CIFAR[name]
    images, labels = [], []
    for file in train if split == "train" else test:
        batch = _unpickle(root / folder / file)
        try:
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
        except (KeyError, ValueError) as err:
            raise UserError(f"{root / folder / file}: not a CIFAR batch ({one_line(err)})") from None
    names = _unpickle(root / folder / meta).get(names_key, [])
    return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels), [str(n) for n in names]


def read_stl10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """`stl10_binary/{split}_X.bin`: uint8 [N, 3, 96, 96] stored column-major (hence the transpose)."""
    folder = root / "stl10_binary"
    parts = ["train", "unlabeled"] if split == "train+unlabeled" else [split]
    images = []
    for part in parts:
        path = folder / f"{part}_X.bin"
        raw = _read_bytes(path)
        if raw.size % (3 * 96 * 96):
            raise UserError(f"{path}: {raw.size} bytes, not a whole number of 3x96x96 images")
        images.append(raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1))
    labels = None
    if "unlabeled" not in parts:
        labels = _read_bytes(folder / f"{split}_y.bin").astype(np.int64) - 1  # stored 1..10
    names_file = folder / "class_names.txt"
    names = names_file.read_text().split() if names_file.is_file() else []
    return np.concatenate(images), labels, names


def read_svhn(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`{split}_32x32.mat`: X [32, 32, 3, N], y [N, 1] with 10 standing for the digit 0."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise UserError(NEEDS_SCIPY) from None
    path = root / f"{split}_32x32.mat"
    try:
        tree = loadmat(str(path))
        images = np.asarray(tree["X"], dtype=np.uint8).transpose(3, 0, 1, 2)
        labels = np.asarray(tree["y"], dtype=np.int64).reshape(-1) % 10
    except FileNotFoundError:
        raise UserError(f"{path}: missing") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a readable SVHN .mat file ({one_line(err)})") from None
    return images, labels, [str(d) for d in range(10)]


CELEBA_SPLITS = {"train": "0", "valid": "1", "test": "2"}


def celeba_files(root: Path, split: str) -> tuple[Path, list[str]]:
    """`celeba/img_align_celeba/*.jpg`, chosen by `list_eval_partition.txt` unless the split is all."""
    folder = root / "celeba" / "img_align_celeba"
    if not folder.is_dir():
        raise UserError(f"{folder}: missing (celeba needs the aligned images, img_align_celeba/)")
    if split == "all":
        return folder, sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".jpg")
    partition = root / "celeba" / "list_eval_partition.txt"
    try:
        rows = [line.split() for line in partition.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise UserError(f"{partition}: {err.strerror or err} (needed for the {split} split)") from None
    return folder, [row[0] for row in rows if len(row) == 2 and row[1] == CELEBA_SPLITS[split]]


def _read_bytes(path: Path) -> np.ndarray:
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise UserError(f"{path}: {err.strerror or err}") from None
