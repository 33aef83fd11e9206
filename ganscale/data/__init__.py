"""Training data: prepared datasets (prepared.py, prepare.py), the index stream, and the batches a
Trainer draws.

The names below load their module on first use (PEP 562), so `ganscale.data.prepared` can be read
by config validation without importing torch.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "LoaderBatches": "batches", "TensorBatches": "batches", "MemmapBatches": "batches",
    "make_batches": "batches",
    "MNIST_FILES": "mnist", "load_mnist": "mnist", "resolve_root": "mnist", "torchvision_mnist": "mnist",
    "to_model_pixels": "pixels", "IndexStream": "stream", "StreamBatchSampler": "stream",
    "training_dataset": "resolve",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'ganscale.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ganscale.data.{_HOMES[name]}"), name)
