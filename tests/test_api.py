"""The Python API (ganscale.load_generator / train / load_config): the same generators and the same
checks as the command line, a light `import ganscale`, and mistakes as one-line UserErrors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ganscale
from ganscale.checkpoint import export_generator, load_generator_weights
from ganscale.checkpoint.hub_folder import write_model_files
from ganscale.config import Config
from ganscale.models import build_models
from tests.helpers import assert_ok, latest_checkpoint_dir, run_cli

PUBLIC = ["Config", "Generator", "UserError", "__version__", "load_config", "load_generator", "train"]


def test_import_is_light_and_the_public_names_are_few():
    probe = ("import sys, ganscale; names = [n for n in ganscale.__all__ if n != '__version__'];"
             "print('torch' in sys.modules, sorted(ganscale.__all__) == sorted(names + ['__version__']))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "True"], result.stderr
    assert sorted(ganscale.__all__) == PUBLIC
    assert all(getattr(ganscale, name) is not None for name in PUBLIC)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ganscale.nope  # noqa: B018


def _unconditional_folder(tmp_path: Path) -> Path:
    """A Hub-style folder of an untrained MLP G: an unconditional generator without a training run."""
    cfg = Config(preset="mnist-mlp")
    cfg.model.arch = "mlp"
    generator, _ = build_models(cfg.model)
    folder = tmp_path / "mlp"
    folder.mkdir()
    write_model_files(cfg.to_dict(), generator.state_dict(), folder)
    return folder


@pytest.mark.slow
def test_every_source_gives_the_images_the_cli_samples(tiny_cgan_run, tmp_path, cli_env):
    export = export_generator(*load_generator_weights(tiny_cgan_run), tmp_path / "g.safetensors")
    folder = tmp_path / "hub"
    folder.mkdir()
    write_model_files(*load_generator_weights(tiny_cgan_run), folder)
    sources = [tiny_cgan_run, latest_checkpoint_dir(tiny_cgan_run), export, folder, str(folder)]
    images = [ganscale.load_generator(s, device="cpu").generate(20, seed=3, batch_size=7) for s in sources]
    assert all(torch.equal(images[0], other) for other in images[1:])
    assert images[0].dtype == torch.uint8 and images[0].shape == (20, 1, 28, 28)
    assert_ok(run_cli(["sample", "--checkpoint", str(tiny_cgan_run), "--num", "20", "--seed", "3",
                       "--out", str(tmp_path / "s.npz")], cli_env))
    assert np.array_equal(np.load(tmp_path / "s.npz")["images"], images[0][:, 0].numpy())


@pytest.mark.slow
def test_generator_properties_labels_and_pictures(tiny_cgan_run):
    g = ganscale.load_generator(tiny_cgan_run, device="cpu")
    assert (g.num_classes, g.resolution, g.channels, g.z_dim) == (10, 28, 1, 100)
    assert isinstance(g.config, Config) and g.config.preset == "mnist-cgan" and g.config.model.g_width == 8
    sevens = g.generate(4, labels=7, seed=1)
    assert torch.equal(sevens, g.generate(4, labels=[7, 7, 7, 7], seed=1))
    assert torch.equal(sevens, g.generate(4, labels=torch.full((4,), 7), seed=1))
    assert not torch.equal(sevens, g.generate(4, labels=3, seed=1))
    pictures = g.to_pil(sevens)
    assert len(pictures) == 4 and pictures[0].size == (28, 28)
    assert np.array_equal(np.asarray(pictures[2]), sevens[2, 0].numpy())
    grid = g.to_pil(g.generate(6, seed=0), nrow=3)
    assert grid.size == (2 + 3 * 30, 2 + 2 * 30)  # 2-pixel gaps, as `ganscale sample` lays out its PNGs


@pytest.mark.slow
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"labels": 10}, "labels: class ids must be between 0 and 9"),
    ({"labels": [1, 2]}, "labels: 2 given for n=3 images; pass one int or n of them"),
    ({"batch_size": 0}, "batch_size=0: must be >= 1"),
])
def test_bad_generate_arguments_are_one_line_errors(tiny_cgan_run, kwargs, message):
    g = ganscale.load_generator(tiny_cgan_run, device="cpu")
    with pytest.raises(ganscale.UserError) as err:
        g.generate(3, **kwargs)
    assert str(err.value) == message


def test_unconditional_generator_refuses_labels(tmp_path):
    g = ganscale.load_generator(_unconditional_folder(tmp_path), device="cpu")
    assert g.num_classes == 0 and g.generate(2, seed=0).shape == (2, 1, 28, 28)
    with pytest.raises(ganscale.UserError, match="this generator is unconditional; pass labels=None"):
        g.generate(2, labels=1)
    with pytest.raises(ganscale.UserError, match="n=0: the number of images must be an int >= 1"):
        g.generate(0)


def test_load_errors_are_user_errors(tmp_path):
    with pytest.raises(ganscale.UserError, match="expected a checkpoint directory"):
        ganscale.load_generator(tmp_path)
    with pytest.raises(ganscale.UserError, match="not a Hub model id"):
        ganscale.load_generator("hf://only-a-name")


def test_load_config_is_the_typed_config():
    cfg = ganscale.load_config("mnist-mlp", overrides=["train.batch_size=8"])
    assert isinstance(cfg, ganscale.Config) and cfg.model.arch == "mlp" and cfg.train.batch_size == 8


def test_train_checks_everything_before_it_starts(tmp_path):
    with pytest.raises(ganscale.UserError) as err:
        ganscale.train("mnist-mlp", run_dir=tmp_path / "r", loss={"kind": "bogus"})
    assert "loss.kind" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ganscale.UserError, match="unknown preset 'nope'"):
        ganscale.train("nope", run_dir=tmp_path / "r")
    with pytest.raises(ganscale.UserError, match="pass a section as a dict"):
        ganscale.train("mnist-mlp", run_dir=tmp_path / "r", train=5)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_train_runs_the_cli_loop_and_returns_its_run_dir(tmp_path, mnist_root, monkeypatch):
    monkeypatch.setenv("GANSCALE_DATA", str(mnist_root))
    monkeypatch.chdir(tmp_path)
    tiny = {"train": {"batch_size": 16, "max_kimg": 0.032, "checkpoint_every": 100},
            "log": {"progress": False, "sample_every": 100, "every": 1}}
    run_dir = ganscale.train("mnist-mlp", run_dir="named", **tiny)
    assert run_dir == Path("named") and latest_checkpoint_dir(run_dir).name == "kimg-000000.032"
    g = ganscale.load_generator(run_dir, device="cpu")
    assert g.config.train.max_kimg == 0.032 and g.generate(2, seed=0).shape == (2, 1, 28, 28)
    defaulted = ganscale.train(ganscale.load_config("mnist-mlp"), overrides=["train.max_kimg=0.016"], **tiny)
    assert defaulted.parent == Path("runs") and defaulted.name.startswith("mnist-mlp-")
    assert "max_kimg: 0.016" in (defaulted / "config.yaml").read_text()
