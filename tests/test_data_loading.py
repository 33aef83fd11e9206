"""Training on a prepared dataset: the device-resident and memory-mapped loaders give the same batches,
the dataset decides the model's shape, and colour survives from the array to D and to the samples."""

from __future__ import annotations

import pytest
import torch

from ganscale.config import load_config
from ganscale.data import make_batches
from ganscale.errors import UserError
from tests.helpers import write_prepared


def batches(cfg, *, batch_size=8, rank=0, world=1, position=0):
    return make_batches(cfg.data, cfg.model, batch_size=batch_size, rank=rank, world=world, seed=0,
                        device=torch.device("cpu"), position=position)


def test_device_and_memory_mapped_loaders_give_the_same_batches(tmp_path):
    write_prepared(tmp_path / "d")
    path = f"data.path={tmp_path / 'd'}"
    device = load_config("mnist-dcgan-plain", overrides=[path, "data.loader=tensor"])
    mapped = load_config("mnist-dcgan-plain", overrides=[path, "data.device_budget_mb=0.001",
                                                         "data.num_workers=1"])
    a, b = batches(device, position=40), batches(mapped, position=40)
    assert type(a).__name__ == "TensorBatches" and type(b).__name__ == "MemmapBatches"
    for _ in range(15):  # across the epoch boundary at 96 images
        (xa, ya), (xb, yb) = next(a), next(b)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert xa.shape == (8, 3, 28, 28) and xa.dtype == torch.float32


def test_each_rank_reads_its_slice_of_the_global_batch(tmp_path):
    write_prepared(tmp_path / "d")
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'd'}", "data.loader=mmap",
                                                      "data.num_workers=0"])
    whole = batches(cfg, batch_size=16)
    ranks = [batches(cfg, batch_size=8, rank=r, world=2) for r in (0, 1)]
    for _ in range(8):
        x, y = next(whole)
        parts = [next(r) for r in ranks]
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)


def test_batches_keep_the_colour_of_the_array(tmp_path):
    images, labels = write_prepared(tmp_path / "d")
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'd'}"])
    x, y = next(batches(cfg, batch_size=96))
    pixels = ((x + 1) * 127.5).round().to(torch.uint8)
    means = pixels.float().mean(dim=(0, 2, 3))
    assert means[0] > means[1] + 60 > means[2] + 120  # three different channels, in order
    # one epoch of 96: every stored image comes back byte for byte, with its label
    seen = sorted(zip(map(bytes, pixels.numpy()), y.tolist(), strict=True))
    assert seen == sorted(zip(map(bytes, images), labels.tolist(), strict=True))


def test_the_dataset_decides_the_model_shape(tmp_path):
    write_prepared(tmp_path / "d", resolution=32)
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'd'}"])
    assert (cfg.data.name, cfg.model.image_size, cfg.model.channels) == ("prepared", 32, 3)
    with pytest.raises(UserError, match=r"model.image_size=28 but data.path=.* holds 3x32x32 images") as err:
        load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'd'}", "model.image_size=28"])
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="arch dcgan64"):  # an arch that cannot take 32 pixels
        load_config("mnist-dcgan64", overrides=[f"data.path={tmp_path / 'd'}"])


def test_missing_or_truncated_arrays_are_one_line(tmp_path):
    write_prepared(tmp_path / "d")
    with pytest.raises(UserError, match="not a prepared dataset"):
        load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'nowhere'}"])
    images = tmp_path / "d" / "images.u8"
    images.write_bytes(images.read_bytes()[:-10])
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'd'}"])
    with pytest.raises(UserError, match="incomplete or truncated"):
        batches(cfg)
