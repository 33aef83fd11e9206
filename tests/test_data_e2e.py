"""A colour dataset bigger than its memory budget, end to end: prepared array -> memory-mapped batches
-> D -> checkpoints (exact resume) -> samples and export, with the three channels kept apart."""

import numpy as np
import pytest
import torch

from ganscale.config import load_config
from ganscale.hooks import RunHooks
from ganscale.run import run_training
from tests.helpers import (
    TINY,
    assert_ok,
    assert_same_latest_checkpoints,
    checkpoint_tensors,
    latest_checkpoint_dir,
    run_cli,
    write_prepared,
)

pytestmark = pytest.mark.slow
RUN = [*TINY, "data.device_budget_mb=0.05", "data.num_workers=1", "train.max_kimg=0.32"]  # 20 steps of 16


def test_colour_dataset_over_budget_trains_resumes_samples_and_exports(tmp_path, cli_env):
    images, _ = write_prepared(tmp_path / "colour", count=200)  # 470 KB of pixels, 50 KB of budget
    data = f"data.path={tmp_path / 'colour'}"
    base = ["train", "--preset", "mnist-dcgan-plain", data, *RUN]
    assert_ok(run_cli([*base, "--run-dir", str(tmp_path / "straight")], cli_env))
    assert_ok(run_cli([*base, "--run-dir", str(tmp_path / "resumed"), "train.stop_after_steps=7"], cli_env))
    resumed = run_cli([*base, "--run-dir", str(tmp_path / "resumed"), "train.resume=auto"], cli_env)
    assert_ok(resumed)
    assert "resumed from" in resumed.stdout and "on 1 process(es)" in resumed.stdout
    assert_same_latest_checkpoints(tmp_path / "straight", tmp_path / "resumed")
    straight = checkpoint_tensors(latest_checkpoint_dir(tmp_path / "straight"))
    assert straight["generator"]["net.7.weight"].shape[1] == 3  # G's last layer makes 3 channels

    def sample(source, out, num=12):
        args = ["sample", "--checkpoint", str(source), "--num", str(num), "--out", str(out)]
        assert_ok(run_cli(args, cli_env))

    out = tmp_path / "s.npz"
    sample(tmp_path / "straight", out)
    samples = np.load(out)["images"]
    assert samples.shape == (12, 28, 28, 3) and samples.dtype == np.uint8
    assert not np.array_equal(samples[..., 0], samples[..., 1])  # not a grey copy in three channels
    exported = tmp_path / "g.safetensors"
    assert_ok(run_cli(["export", "--checkpoint", str(tmp_path / "straight"), "--out", str(exported)],
                      cli_env))
    sample(exported, tmp_path / "e.npz")
    assert np.array_equal(np.load(tmp_path / "e.npz")["images"], samples)
    sample(exported, tmp_path / "g.png", num=16)
    from PIL import Image

    assert Image.open(tmp_path / "g.png").mode == "RGB"


def test_d_sees_the_colour_of_the_dataset(tmp_path, mnist_root):
    images, _ = write_prepared(tmp_path / "colour", count=64)
    seen = {}
    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.path={tmp_path / 'colour'}", *RUN,
                                                      "data.loader=mmap", "train.stop_after_steps=2"])
    run_training(cfg, str(tmp_path / "run"), hooks=RunHooks(on_trainer=lambda t: seen.update(trainer=t)))
    trainer = seen["trainer"]
    assert type(trainer.batches).__name__ == "MemmapBatches"
    real, _ = next(trainer.batches)  # the next real batch D would see
    means = ((real + 1) * 127.5).mean(dim=(0, 2, 3))
    assert means[0] > means[1] + 60 > means[2] + 120
    assert trainer.G_plain(torch.randn(4, cfg.model.z_dim)).shape == (4, 3, 28, 28)


@pytest.mark.parametrize("preset", ["cifar10-dcgan", "fashion-mnist-dcgan"])
def test_dataset_presets_train_on_their_prepared_data(preset, tmp_path, cli_env):
    """From the dataset's own files on disk: `ganscale prepare NAME --root` then the preset trains."""
    from tests import fake_datasets as fake

    if preset == "cifar10-dcgan":
        fake.cifar10_batches(tmp_path, per_batch=8)
        source, shape = "cifar10", (3, 32)
    else:
        grey = fake.random_images(40, 28, 28, channels=1)
        fake.idx_files(tmp_path / "FashionMNIST" / "raw", grey, np.arange(40) % 10, grey[:8], np.zeros(8))
        source, shape = "fashion-mnist", (1, 28)
    data = tmp_path / "data"
    assert_ok(run_cli(["prepare", source, "--root", str(tmp_path), "--out", str(data), "--quiet"], cli_env))
    run = tmp_path / "run"
    assert_ok(run_cli(["train", "--preset", preset, "--run-dir", str(run), f"data.path={data}", *TINY,
                       "train.max_kimg=0.064"], cli_env))
    config = (run / "config.yaml").read_text()
    assert f"channels: {shape[0]}" in config and f"image_size: {shape[1]}" in config
    assert latest_checkpoint_dir(run).name == "kimg-000000.064"
