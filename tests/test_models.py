"""Shape/range/gradient contract of every architecture, checked on CPU with batch 4."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from ganscale.config import ModelConfig, load_config
from ganscale.errors import UserError
from ganscale.models import ARCHS, build_models

B = 4
PRESETS = ["mnist-mlp", "mnist-dcgan-plain", "mnist-dcgan64", "mnist-cgan", "mnist-dcgan-keras"]


def _choices(name: str) -> tuple[str, ...]:
    return next(f for f in dataclasses.fields(ModelConfig) if f.name == name).metadata["choices"]


G_NORMS, D_NORMS = _choices("g_norm"), _choices("d_norm")


def _labels(cfg: ModelConfig) -> torch.Tensor | None:
    return torch.arange(B) % cfg.num_classes if cfg.num_classes else None


def _run(cfg: ModelConfig):
    torch.manual_seed(0)
    g, d = build_models(cfg)
    y = _labels(cfg)
    x = g(torch.randn(B, cfg.z_dim), y)
    return g, d, x, d(x, y)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_shapes_and_range(preset):
    cfg = load_config(preset).model
    g, d, x, logits = _run(cfg)
    assert x.shape == (B, 1, cfg.image_size, cfg.image_size)
    assert cfg.image_size == (64 if preset == "mnist-dcgan64" else 28)
    assert x.min() >= -1 and x.max() <= 1
    assert logits.shape == (B,)
    for m in (g, d):
        assert (m.z_dim, m.num_classes, m.image_size, m.channels) == (
            cfg.z_dim, cfg.num_classes, cfg.image_size, cfg.channels)


@pytest.mark.parametrize("preset", PRESETS)
def test_gradient_reaches_every_g_param(preset):
    cfg = load_config(preset).model
    g, _, _, logits = _run(cfg)
    logits.mean().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("g_norm", G_NORMS)
@pytest.mark.parametrize("d_norm", D_NORMS)
def test_dcgan_every_norm(g_norm, d_norm):
    cfg = ModelConfig(arch="dcgan", g_width=8, d_width=8, g_norm=g_norm, d_norm=d_norm)
    _, _, x, logits = _run(cfg)
    assert x.shape == (B, 1, 28, 28) and logits.shape == (B,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("norm", ["none", "instance", "layer", "spectral"])
def test_dcgan64_other_norms(norm):
    cfg = ModelConfig(arch="dcgan64", image_size=64, g_width=4, d_width=4,
                      g_norm="layer" if norm == "spectral" else norm, d_norm=norm)
    _, _, x, logits = _run(cfg)
    assert x.shape == (B, 1, 64, 64) and logits.shape == (B,)


def test_dcgan64_matches_pytorch_examples_param_count():
    # pytorch/examples dcgan/main.py prints these totals for nc=3, nz=100, ngf=ndf=64.
    cfg = ModelConfig(arch="dcgan64", image_size=64, channels=3, d_norm="batch")
    g, d = build_models(cfg)
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568


def test_spectral_norm_is_one_after_init():
    torch.manual_seed(0)
    _, d = build_models(ModelConfig(arch="dcgan", d_norm="spectral", d_width=8))
    d.eval()
    for m in d.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item()
            assert sigma == pytest.approx(1.0, abs=0.05)


def test_dcgan_init():
    torch.manual_seed(0)
    g, _ = build_models(ModelConfig(arch="dcgan"))
    conv = next(m for m in g.modules() if isinstance(m, nn.ConvTranspose2d))
    bn = next(m for m in g.modules() if isinstance(m, nn.BatchNorm2d))
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert conv.bias.abs().max() == 0
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("d_norm", D_NORMS)
def test_mlp_norms(d_norm):
    g_norm = "batch" if d_norm == "spectral" else d_norm
    cfg = ModelConfig(arch="mlp", g_norm=g_norm, d_norm=d_norm)
    if d_norm == "instance":
        with pytest.raises(UserError, match="model.g_norm=instance is not supported by arch mlp"):
            build_models(cfg)
        return
    _, _, x, logits = _run(cfg)
    assert x.shape == (B, 1, 28, 28) and logits.shape == (B,)


def test_mlp_layer_widths():
    g, d = build_models(load_config("mnist-mlp").model)
    widths = [[(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]
              for net in (g, d)]
    assert widths[0] == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert widths[1] == [(784, 512), (512, 256), (256, 1)]


def test_cgan_logits_depend_on_label():
    cfg = load_config("mnist-cgan").model
    torch.manual_seed(0)
    _, d = build_models(cfg)
    x = torch.rand(B, 1, 28, 28) * 2 - 1
    zeros = torch.zeros(B, dtype=torch.long)
    assert not torch.allclose(d(x, zeros), d(x, zeros + 3))


def test_cgan_requires_labels():
    g, d = build_models(load_config("mnist-cgan").model)
    with pytest.raises(UserError, match="labels"):
        g(torch.randn(B, 100))
    with pytest.raises(UserError, match="labels"):
        d(torch.zeros(B, 1, 28, 28))


def test_unknown_arch():
    with pytest.raises(UserError, match="dcgan64"):
        build_models(ModelConfig(arch="resnet"))


def test_config_accepts_exactly_the_registered_archs():
    """model.arch has no hard-coded list: the registry's names are what validation accepts."""
    from ganscale.models.registry import SUPPORT

    for arch in ARCHS:
        size = SUPPORT[arch].resolutions[0]
        classes = 10 if SUPPORT[arch].conditional else 0
        cfg = load_config("mnist-dcgan-plain", overrides=[f"model.arch={arch}", f"model.image_size={size}",
                                                          f"model.num_classes={classes}"])
        assert cfg.model.arch == arch
    with pytest.raises(UserError) as err:
        load_config("mnist-dcgan-plain", overrides=["model.arch=resnet"])
    assert f"choose one of: {', '.join(sorted(ARCHS, key=list(SUPPORT).index))}" in str(err.value)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_layout_keeping_activations_change_no_number(layout):
    """models.common's ReLU/LeakyReLU only re-lay out the gradient: values and grads equal nn's bitwise."""
    from ganscale.models import common

    torch.manual_seed(0)
    x = torch.randn(4, 8, 6, 6).contiguous(memory_format=layout)
    grad = torch.randn(4, 8, 6, 6)  # NCHW: the mixed layout the Flatten/Unflatten boundary produces
    for ours, theirs in ((common.ReLU(), nn.ReLU()), (common.LeakyReLU(0.2), nn.LeakyReLU(0.2))):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_a, out_b = ours(a), theirs(b)
        out_a.backward(grad)
        out_b.backward(grad)
        assert torch.equal(out_a, out_b) and torch.equal(a.grad, b.grad)
        assert a.grad.is_contiguous(memory_format=layout)


def test_minibatch_std_sees_variety_and_not_the_world_size():
    from ganscale.models.common import MinibatchStd

    layer = MinibatchStd(4)
    torch.manual_seed(0)
    x = torch.randn(8, 3, 2, 2)
    out = layer(x)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    expected = x.view(2, 4, 3, 2, 2).std(dim=1, unbiased=False).mean(dim=(1, 2, 3))
    assert torch.allclose(out[:4, 3], expected[0].expand(4, 2, 2), atol=1e-6)
    # Two ranks with 4 samples each build the same groups as one process with 8.
    assert torch.equal(torch.cat([layer(x[:4]), layer(x[4:])]), out)
    same = x[:1].expand(4, 3, 2, 2)  # a collapsed batch: no variety to see
    assert layer(same)[:, 3].max() < 1e-3 < out[:, 3].min()
    assert layer(torch.randn(6, 3, 2, 2)).shape == (6, 4, 2, 2)  # 6 % 4 != 0: one group


@pytest.mark.parametrize("preset", ["mnist-dcgan-plain", "mnist-cgan"])
def test_minibatch_std_in_d(preset):
    cfg = load_config(preset, overrides=["model.d_mbstd=4"])
    _, discriminator = build_models(cfg.model)
    labels = torch.arange(8) % 10 if cfg.model.num_classes else None
    assert discriminator(torch.randn(8, 1, 28, 28), labels).shape == (8,)


def test_latent_codes_are_part_of_z():
    """The code is argmax of z's first K entries: uniform, and G's output switches with it."""
    from ganscale.models.contract import latent_code, split_d_output

    cfg = load_config("mnist-dcgan-plain", overrides=["model.latent_codes=10"])
    generator, discriminator = build_models(cfg.model)
    torch.manual_seed(0)
    z = torch.randn(20000, 100)
    counts = torch.bincount(latent_code(z, 10), minlength=10)
    assert counts.min() > 1800 and counts.max() < 2200
    generator.eval()
    z = torch.randn(1, 100).repeat(2, 1)
    z[:, :10] = 0.0
    z[0, 3], z[1, 7] = 5.0, 5.0  # the same noise but for the code: 3 and 7
    with torch.no_grad():
        images = generator(z)
        logits, aux = split_d_output(discriminator(images))
        wired = generator.net(torch.cat([z, torch.eye(10)[[3, 7]], ], dim=1))
    assert torch.equal(images, wired)  # G sees z and one_hot(code)
    assert logits.shape == (2,) and aux["codes"].shape == (2, 10)
    assert load_config("mnist-dcgan-plain").model.latent_codes == 0 and build_models(
        load_config("mnist-dcgan-plain").model)[1].q_head is None


# --------------------------------------------------------------------------- the contract
def test_split_d_output_reads_every_allowed_form():
    from ganscale.models import split_d_output

    logits, codes = torch.randn(B), torch.randn(B, 10)
    assert split_d_output(logits) == (logits, {})
    out, aux = split_d_output((logits, {"codes": codes}))
    assert out is logits and aux["codes"] is codes
    column, _ = split_d_output(logits.view(B, 1))  # a Dense(1) head
    assert torch.equal(column, logits) and column.shape == (B,)
    for bad, said in (((logits, codes), "a tuple of 2 (Tensor, Tensor)"), ([logits], "a list of 1 (Tensor)"),
                      (torch.randn(B, 2), "logits of shape (4, 2)")):
        with pytest.raises(UserError, match=None) as err:
            split_d_output(bad)
        assert said in str(err.value) and "\n" not in str(err.value)


def test_keras_dcgan_pixels_are_mapped_into_the_trainer_range():
    """keras-dcgan declares pixels in [0, 1] (a sigmoid): outside the model G's images are in [-1, 1]
    and D sees them back in [0, 1], with no special case anywhere but the declaration."""
    cfg = load_config("mnist-dcgan-keras").model
    torch.manual_seed(0)
    g, d = build_models(cfg)
    g.eval()
    d.eval()
    z = torch.randn(64, cfg.z_dim)
    with torch.no_grad():
        own = g.net(z)  # the model's own output, before the mapping
        images = g(z)
        assert own.min() >= 0 and own.max() <= 1 and own.std() > 0
        assert torch.equal(images, own * 2.0 - 1.0)
        assert images.min() >= -1 and images.max() <= 1
        assert torch.equal(d(images), d.net((images + 1.0) * 0.5).flatten())
    assert (cfg.image_size, cfg.channels) == (28, 1)
    with pytest.raises(UserError, match="model.channels=3: arch keras-dcgan needs 1"):
        load_config("mnist-dcgan-keras", overrides=["model.channels=3"])


def test_keras_dcgan_layers_follow_the_tutorial():
    g, d = build_models(load_config("mnist-dcgan-keras").model)
    sizes = []
    x = torch.randn(2, 100)
    for layer in g.net:
        x = layer(x)
        if x.dim() == 4:
            sizes.append(x.shape[-1])
    assert sizes == [6, 14, 14, 30, 30, 28, 28]
    convs = [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in d.modules()
             if isinstance(m, nn.Conv2d)]
    assert convs == [(1, 64, (3, 3), (2, 2)), (64, 64, (3, 3), (2, 2))]
    assert [m.p for m in d.modules() if isinstance(m, nn.Dropout)] == [0.4, 0.4]
    assert [m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)] == [0.2, 0.2]
