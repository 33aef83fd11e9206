"""HotPath: each trainer speed choice is an option, and switching one off undoes exactly that choice."""

import pytest
import torch
from accelerate import Accelerator
from torch import nn
from torch.nn.modules.conv import _ConvNd

from ganscale.config import load_config
from ganscale.hot_path import HotPath
from ganscale.models import common
from ganscale.trainer import Trainer

LAYOUT_KEEPING = {common.ReLU, common.LeakyReLU}


def _trainer(**options) -> Trainer:
    return Trainer(load_config("mnist-dcgan-plain"), Accelerator(cpu=True), hot_path=HotPath(**options))


def _models(trainer: Trainer) -> tuple[nn.Module, ...]:
    return trainer.G_plain, trainer.D_plain, trainer.ema.model


def _conv_weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, _ConvNd)]


@pytest.fixture(scope="module")
def default() -> Trainer:
    return _trainer()


def test_default_makes_conv_weights_channels_last_on_cpu(default):
    assert default.device.type == "cpu" and default.hot_path == HotPath()
    for model in _models(default):
        weights = _conv_weights(model)
        assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
        assert not all(w.is_contiguous() for w in weights)  # NHWC really differs from NCHW here


def test_channels_last_off_leaves_g_and_d_contiguous(default):
    plain = _trainer(channels_last=False)
    for model in _models(plain):
        assert _conv_weights(model) and all(p.is_contiguous() for p in model.parameters())
    for ours, theirs in zip(_models(default), _models(plain), strict=True):  # layout only, same numbers
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
            assert torch.equal(a, b), name


def test_grad_layout_off_leaves_no_layout_keeping_activations(default):
    kinds = {type(m) for model in _models(default) for m in model.modules()}
    assert kinds >= LAYOUT_KEEPING
    plain = _trainer(grad_layout=False)
    kinds = {type(m) for model in _models(plain) for m in model.modules()}
    assert not kinds & LAYOUT_KEEPING and {nn.ReLU, nn.LeakyReLU} <= kinds
    assert all(_conv_weights(model)[0].is_contiguous(memory_format=torch.channels_last)
               for model in _models(plain))  # the other choices stay on
