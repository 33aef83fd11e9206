"""data.xflip (issue 19): the dataset counts twice, the second copy mirrored, through the index stream, so
both prepared-data loaders, every world size and the textbook DataLoader path see the same images."""

from __future__ import annotations

import pytest
import torch

from ganscale.config import load_config
from ganscale.data import make_batches, to_model_pixels
from ganscale.data.mirror import MirroredDataset
from tests.helpers import write_prepared

N = 96


def batches(cfg, *, batch_size=8, rank=0, world=1, position=0):
    return make_batches(cfg.data, cfg.model, batch_size=batch_size, rank=rank, world=world, seed=0,
                        device=torch.device("cpu"), position=position)


def config(tmp_path, *overrides):
    return load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'd'}", *overrides])


@pytest.mark.parametrize("loader", ["tensor", "mmap"])
def test_an_epoch_holds_every_image_once_as_it_is_and_once_mirrored(tmp_path, loader):
    raw, labels = write_prepared(tmp_path / "d", count=N)
    pixels = to_model_pixels(torch.from_numpy(raw), 28)
    stream = batches(config(tmp_path, f"data.loader={loader}", "data.num_workers=0", "data.xflip=true"))
    plain, mirrored = [], []
    for _ in range(2 * N // 8):
        x, y = next(stream)
        for image, label in zip(x, y, strict=True):
            same = (pixels == image).flatten(1).all(dim=1).nonzero().flatten().tolist()
            flipped = (pixels.flip(-1) == image).flatten(1).all(dim=1).nonzero().flatten().tolist()
            assert len(same) + len(flipped) == 1, "a batch image is neither a dataset image nor its mirror"
            index = (same + flipped)[0]
            assert label == labels[index]
            (plain if same else mirrored).append(index)
    assert sorted(plain) == list(range(N)) and sorted(mirrored) == list(range(N))


def test_both_loaders_and_both_world_sizes_agree_with_xflip(tmp_path):
    write_prepared(tmp_path / "d", count=N)
    tensor = batches(config(tmp_path, "data.loader=tensor", "data.xflip=true"), batch_size=16, position=40)
    mapped = config(tmp_path, "data.loader=mmap", "data.num_workers=1", "data.xflip=true")
    ranks = [batches(mapped, batch_size=8, rank=r, world=2, position=40) for r in (0, 1)]
    for _ in range(16):  # across the doubled epoch's end at 192 images
        x, y = next(tensor)
        parts = [next(r) for r in ranks]
        assert torch.equal(x, torch.cat([p[0] for p in parts]))
        assert torch.equal(y, torch.cat([p[1] for p in parts]))


def test_the_stream_without_xflip_is_unchanged(tmp_path):
    raw, _ = write_prepared(tmp_path / "d", count=N)
    from ganscale.data import IndexStream

    order = IndexStream(N, seed=0).take(0, 2 * N)
    stream = batches(config(tmp_path, "data.loader=tensor"), batch_size=16)
    seen = torch.cat([next(stream)[0] for _ in range(2 * N // 16)])
    assert torch.equal(seen, to_model_pixels(torch.from_numpy(raw), 28)[order])


def test_the_dataloader_path_mirrors_the_second_copy():
    base = [(torch.arange(6.0).view(1, 2, 3), 7), (torch.ones(1, 2, 3), 8)]
    doubled = MirroredDataset(base)
    assert len(doubled) == 4
    assert torch.equal(doubled[0][0], base[0][0]) and doubled[0][1] == 7
    assert torch.equal(doubled[2][0], torch.tensor([[[2.0, 1, 0], [5, 4, 3]]])) and doubled[2][1] == 7
    assert doubled[3][1] == 8
