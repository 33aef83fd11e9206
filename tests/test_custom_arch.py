"""User architectures (`model.arch=package.module:factory`): the docs' example file, its errors, trust.

The example is read out of docs/models.md into tmp_path/my_gan.py, so the docs cannot rot.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from ganscale.config import ModelConfig, load_config
from ganscale.errors import UserError
from ganscale.models import build_models
from ganscale.trained import build_generator
from tests.conftest import REPO
from tests.helpers import TINY, assert_ok, assert_same_latest_checkpoints, latest_checkpoint_dir, run_cli

B = 4


def docs_model_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "models.md").read_text(), re.S)
    assert len(blocks) == 1, "docs/models.md should hold exactly one python block: the example model"
    return blocks[0]


def write_module(directory, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """tmp_path on sys.path with the docs' my_gan.py in it; modules imported from there are forgotten."""
    (tmp_path / "my_gan.py").write_text(docs_model_source())
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


# --------------------------------------------------------------------------- the docs' example model
def test_docs_model_is_the_built_in_keras_dcgan(user_modules):
    """Same layers, same state-dict keys, and from the same seed the same weights and outputs."""
    torch.manual_seed(0)
    mine = build_models(ModelConfig(arch="my_gan:build"))
    torch.manual_seed(0)
    built_in = build_models(ModelConfig(arch="keras-dcgan"))
    z = torch.randn(B, 100)
    for ours, theirs in zip(mine, built_in, strict=True):
        a, b = ours.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
        ours.eval()
        theirs.eval()
    with torch.no_grad():
        images = mine[0](z)
        assert torch.equal(images, built_in[0](z))
        assert torch.equal(mine[1](images).flatten(), built_in[1](images))
    assert images.shape == (B, 1, 28, 28) and images.min() >= -1 and images.max() <= 1


def test_docs_model_declares_its_resolution(user_modules):
    with pytest.raises(UserError) as err:
        build_models(ModelConfig(arch="my_gan:build", image_size=64))
    assert str(err.value) == "model.image_size=64: arch my_gan:build needs 28"


def test_checking_a_config_never_imports_the_factory(user_modules):
    write_module(user_modules, "marker_gan", f"""
        open({str(user_modules / "imported")!r}, "w").close()
        def build(cfg):
            raise AssertionError("never called")
    """)
    cfg = load_config("mnist-dcgan-plain", overrides=["model.arch=marker_gan:build"])
    assert cfg.model.arch == "marker_gan:build" and not (user_modules / "imported").exists()


def test_saved_file_naming_a_factory_is_refused_without_trust(user_modules):
    """A checkpoint or export from someone else must not make ganscale import the code it names."""
    write_module(user_modules, "marker_gan", f"""
        open({str(user_modules / "imported")!r}, "w").close()
        from my_gan import build
    """)
    config = load_config("mnist-dcgan-keras", overrides=["model.arch=marker_gan:build"]).to_dict()
    with pytest.raises(UserError) as err:
        build_generator(config, {})
    message = str(err.value)
    assert "model.arch=marker_gan:build" in message and "--trust-arch" in message and "\n" not in message
    assert not (user_modules / "imported").exists()
    torch.manual_seed(0)
    weights = build_models(ModelConfig(arch="keras-dcgan"))[0].state_dict()
    generator, model_cfg = build_generator(config, weights, trust_arch=True)
    assert (user_modules / "imported").exists() and model_cfg.arch == "marker_gan:build"
    assert not generator.training
    assert torch.equal(generator.state_dict()["net.0.weight"], weights["net.0.weight"])


# --------------------------------------------------------------------------- the contract's minimum
PLAIN_GAN = """
    import torch
    from torch import nn


    class G(nn.Module):
        def __init__(self, z_dim):
            super().__init__()
            self.fc = nn.Linear(z_dim, 28 * 28)

        def forward(self, z, labels=None):
            return torch.tanh(self.fc(z)).view(-1, 1, 28, 28)


    class D(nn.Module):
        def __init__(self, column):
            super().__init__()
            self.fc, self.column = nn.Linear(28 * 28, 1), column

        def forward(self, images, labels=None):
            logits = self.fc(images.flatten(1))
            return (logits, {}) if self.column else logits.flatten()  # [B, 1] with no outputs, or [B]


    def flat(cfg):
        return G(cfg.z_dim), D(column=False)


    def column(cfg):
        return G(cfg.z_dim), D(column=True)
"""


def _trainer(mnist_root, arch: str, *overrides):
    from ganscale.run import build_accelerator
    from ganscale.trainer import Trainer

    cfg = load_config("mnist-dcgan-plain", overrides=[f"data.root={mnist_root}", "log.progress=false",
                                                      "train.batch_size=8", f"model.arch={arch}", *overrides])
    trainer = Trainer(cfg, build_accelerator(cfg))
    trainer.start_data()
    return trainer


@pytest.mark.parametrize(("arch", "overrides"), [
    ("plain_gan:flat", []),
    ("plain_gan:column", ["loss.kind=wgan-gp", "loss.r1_gamma=1", "loss.r1_every=1"]),
], ids=["logits-B", "logits-B1-tuple-penalties"])
def test_plain_modules_meet_the_contract(user_modules, mnist_root, arch, overrides):
    """A D returning a plain tensor (or [B, 1] with no outputs) and a G with forward(z, labels=None)
    train: both weights get finite, non-zero updates, and the penalties read the logits. (Biases are
    not compared: under WGAN D's bias cancels out of its loss.)"""
    write_module(user_modules, "plain_gan", PLAIN_GAN)
    trainer = _trainer(mnist_root, arch, *overrides)
    before = [trainer.G_plain.fc.weight.detach().clone(), trainer.D_plain.fc.weight.detach().clone()]
    trainer.train_step(measure=True)
    after = [trainer.G_plain.fc.weight, trainer.D_plain.fc.weight]
    assert all(torch.isfinite(p).all() and not torch.equal(p, q) for p, q in zip(after, before, strict=True))


def test_latent_codes_need_a_d_that_returns_them(user_modules, mnist_root):
    write_module(user_modules, "plain_gan", PLAIN_GAN)
    trainer = _trainer(mnist_root, "plain_gan:flat", "model.latent_codes=10")
    with pytest.raises(UserError) as err:
        trainer.train_step()
    assert str(err.value) == ("model.latent_codes=10 needs D to return (logits, {'codes': ...}); "
                              "its outputs: none")


# --------------------------------------------------------------------------- what a user may get wrong
BAD_FACTORIES = {
    "no_such_module_xyz:build": "model.arch=no_such_module_xyz:build: cannot import no_such_module_xyz "
                                "(ModuleNotFoundError: No module named 'no_such_module_xyz'); "
                                "is it on PYTHONPATH?",
    "broken_gan:build": "model.arch=broken_gan:build: cannot import broken_gan "
                        "(ZeroDivisionError: division by zero)",
    "my_gan:missing": "model.arch=my_gan:missing: module my_gan has no attribute 'missing'",
    "odd_gan:NOT_CALLABLE": "model.arch=odd_gan:NOT_CALLABLE: odd_gan.NOT_CALLABLE is not callable (int); "
                            "name the factory function",
    "odd_gan:raises": "model.arch=odd_gan:raises: the factory raised ValueError: no 3-channel support",
    "odd_gan:one_module": "model.arch=odd_gan:one_module: the factory returned a Linear, "
                          "not a (G, D) pair of torch.nn.Module",
    "odd_gan:not_modules": "model.arch=odd_gan:not_modules: the factory returned a tuple of 2 (Linear, str), "
                           "not a (G, D) pair of torch.nn.Module",
    "odd_gan:bad_declaration": "model.arch=odd_gan:bad_declaration: resolutions='28' should be an int or a "
                               "tuple of ints",
    "odd_gan:bad_range": "model.arch=odd_gan:bad_range: pixel_range=1 is not a (low, high) pair",
}


@pytest.mark.parametrize("arch", list(BAD_FACTORIES))
def test_bad_factories_are_one_line_errors(user_modules, arch):
    write_module(user_modules, "broken_gan", "1 / 0\n")
    write_module(user_modules, "odd_gan", """
        from torch import nn
        NOT_CALLABLE = 3
        def raises(cfg):
            raise ValueError("no 3-channel support\\nsecond line")
        def one_module(cfg):
            return nn.Linear(1, 1)
        def not_modules(cfg):
            return nn.Linear(1, 1), "D"
        def bad_declaration(cfg):
            g = nn.Linear(1, 1)
            g.resolutions = "28"
            return g, nn.Linear(1, 1)
        def bad_range(cfg):
            g = nn.Linear(1, 1)
            g.pixel_range = 1
            return g, nn.Linear(1, 1)
    """)
    with pytest.raises(UserError) as err:
        build_models(ModelConfig(arch=arch))
    assert str(err.value) == BAD_FACTORIES[arch]


@pytest.mark.parametrize("arch", ["my gan:build", "my_gan:1x", ":build", "my_gan:build:x", "my-gan:build"])
def test_malformed_factory_names_are_refused_by_the_config(arch):
    with pytest.raises(UserError) as err:
        load_config("mnist-dcgan-plain", overrides=[f"model.arch={arch}"])
    assert str(err.value) == (f"model.arch={arch!r} is not a user architecture name; "
                              "write package.module:factory, e.g. model.arch=my_gan:build")


# --------------------------------------------------------------------------- the real CLI, end to end
def _user_env(cli_env: dict, directory) -> dict:
    paths = [str(directory), cli_env.get("PYTHONPATH", "")]
    return {**cli_env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def _train(env, run_dir, *extra):
    return run_cli(["train", "--preset", "mnist-dcgan-keras", "--run-dir", str(run_dir), *TINY,
                    "model.arch=my_gan:build", "train.max_kimg=0.096", *extra], env)


@pytest.mark.slow
def test_user_arch_trains_resumes_samples_and_exports_through_the_cli(tmp_path, cli_env):
    (tmp_path / "my_gan.py").write_text(docs_model_source())
    env = _user_env(cli_env, tmp_path)
    assert_ok(_train(env, tmp_path / "straight"))
    assert_ok(_train(env, tmp_path / "resumed", "train.stop_after_steps=3"))
    assert latest_checkpoint_dir(tmp_path / "resumed").name == "kimg-000000.048"
    assert_ok(_train(env, tmp_path / "resumed", "train.resume=auto"))
    assert_same_latest_checkpoints(tmp_path / "straight", tmp_path / "resumed")

    run = tmp_path / "straight"
    refused = run_cli(["sample", "--checkpoint", str(run), "--num", "16", "--out", str(tmp_path / "x.png")],
                      env)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "model.arch=my_gan:build" in refused.stderr and "--trust-arch" in refused.stderr
    assert not (tmp_path / "x.png").exists()

    trusted = ["--trust-arch"]
    assert_ok(run_cli(["sample", "--checkpoint", str(run), "--num", "16", "--out", str(tmp_path / "grid.png"),
                       *trusted], env))
    assert Image.open(tmp_path / "grid.png").size == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)
    assert_ok(run_cli(["sample", "--checkpoint", str(run), "--num", "16", "--out", str(tmp_path / "a.npz"),
                       *trusted], env))

    export = tmp_path / "my_gan.safetensors"
    refused = run_cli(["export", "--checkpoint", str(run), "--out", str(export)], env)
    assert refused.returncode == 2 and "--trust-arch" in refused.stderr and not export.exists()
    assert_ok(run_cli(["export", "--checkpoint", str(run), "--out", str(export), *trusted], env))
    assert_ok(run_cli(["sample", "--checkpoint", str(export), "--num", "16", "--out", str(tmp_path / "b.npz"),
                       *trusted], env))
    a, b = np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "b.npz")["images"]
    assert a.shape == (16, 28, 28) and np.array_equal(a, b) and a.std() > 0
