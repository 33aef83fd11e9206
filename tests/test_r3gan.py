"""R3GAN's G and D: shapes and parameter counts at every resolution, conditional or not; the fix-up
initialisation; the layout checks; and the R1/R2-friendly layers against torch's own."""

from __future__ import annotations

import math
from importlib import resources

import pytest
import torch
import torch.nn.functional as F
import yaml

from ganscale.config import ModelConfig, load_config
from ganscale.errors import UserError
from ganscale.models import build_models
from ganscale.models.r3gan import RESOLUTIONS, ResidualBlock
from ganscale.models.r3gan_ops import GridWeights, GroupedConv2d, lowpass_downsample

B = 2


def stage_count(image_size: int) -> int:
    return int(math.log2(image_size // (7 if image_size == 28 else 4))) + 1


def model_cfg(image_size, channels=3, num_classes=0, widths=None, blocks="1", cardinality="4", expansion=2):
    widths = widths or ",".join(["32"] + ["16"] * (stage_count(image_size) - 1))
    return ModelConfig(arch="r3gan", z_dim=8, image_size=image_size, channels=channels,
                       num_classes=num_classes, r3gan_widths=widths, r3gan_blocks=blocks,
                       r3gan_cardinality=cardinality, r3gan_expansion=expansion)


def expected_counts(cfg: ModelConfig) -> tuple[int, int]:
    """Parameters of G and D, counted from the architecture's description (not from the modules)."""
    base, n = 7 if cfg.image_size == 28 else 4, stage_count(cfg.image_size)
    widths = [int(w) for w in cfg.r3gan_widths.split(",")]
    widths = widths * n if len(widths) == 1 else widths
    e, g = cfg.r3gan_expansion, int(cfg.r3gan_cardinality)
    block = [c * c * e + (c * e) * (c * e // g) * 9 + c * e * c + 2 * c * e for c in widths]  # + 2 biases
    blocks = sum(block) * int(cfg.r3gan_blocks)
    transitions = sum(a * b for a, b in zip(widths, widths[1:], strict=False) if a != b)
    cond = cfg.num_classes > 0
    z_in = cfg.z_dim * (2 if cond else 1)
    g_count = (cfg.num_classes * cfg.z_dim + widths[0] * base * base + z_in * widths[0] + blocks + transitions
               + widths[-1] * cfg.channels)
    d_out = widths[0] if cond else 1
    d_count = (cfg.channels * widths[-1] + blocks + transitions + widths[0] * base * base + widths[0] * d_out
               + cfg.num_classes * widths[0])
    return g_count, d_count


@pytest.mark.parametrize("num_classes", [0, 10])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", RESOLUTIONS)
def test_shapes_and_parameter_counts_at_every_resolution(image_size, channels, num_classes):
    cfg = model_cfg(image_size, channels, num_classes)
    torch.manual_seed(0)
    g, d = build_models(cfg)
    labels = torch.arange(B) % num_classes if num_classes else None
    images = g(torch.randn(B, cfg.z_dim), labels)
    assert images.shape == (B, channels, image_size, image_size)
    logits = d(images, labels)
    assert logits.shape == (B,) and torch.isfinite(logits).all()
    counted = (sum(p.numel() for p in g.parameters()), sum(p.numel() for p in d.parameters()))
    assert counted == expected_counts(cfg)


def test_the_cifar10_preset_builds_the_official_configuration():
    """The official CIFAR-10 network (width 768, two blocks per stage, 96 groups, z 64, 10 classes): 20.8M
    parameters in G and 21.3M in D, counted from the description; the preset asks for exactly that."""
    cfg = model_cfg(32, 3, 10, widths="768", blocks="2", cardinality="96")
    cfg.z_dim = 64
    assert expected_counts(cfg) == (20_781_952, 21_280_512)
    g, d = build_models(cfg)
    assert (sum(p.numel() for p in g.parameters()), sum(p.numel() for p in d.parameters())) == (
        20_781_952, 21_280_512)
    text = resources.files("ganscale.presets").joinpath("cifar10-r3gan.yaml").read_text()
    model = yaml.safe_load(text)["model"]
    assert (model["r3gan_widths"], model["r3gan_blocks"], model["r3gan_cardinality"], model["z_dim"],
            model["num_classes"]) == ("768", "2", "96", 64, 10)


def test_conditional_logits_depend_on_the_label_and_need_it():
    torch.manual_seed(0)
    g, d = build_models(model_cfg(16, num_classes=5))
    z = torch.randn(B, 8)
    one, other = torch.zeros(B, dtype=torch.long), torch.ones(B, dtype=torch.long)
    assert not torch.allclose(g(z, one), g(z, other))
    x = torch.randn(B, 3, 16, 16)
    assert not torch.allclose(d(x, one), d(x, other))
    with pytest.raises(UserError, match="arch r3gan is conditional"):
        d(x)


def test_every_residual_branch_starts_at_zero():
    """Fix-up: the last conv of each branch is zero, so at init every block is the identity (and the
    ganscale DCGAN init, N(0, 0.02), was not applied over the MSR init)."""
    torch.manual_seed(0)
    g, d = build_models(model_cfg(32, blocks="2"))
    blocks = [m for net in (g, d) for m in net.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2 * 4 * 2
    x = torch.randn(2, 16, 8, 8)
    for block in blocks:
        assert block.project.weight.abs().sum() == 0
        if block.expand.in_channels != 16:
            continue
        assert torch.equal(block(x), x)
    first = g.stages[0][0].linear.weight  # MSR: std 1 / sqrt(fan_in)
    assert abs(first.std().item() - 1 / math.sqrt(8)) < 0.1


@pytest.mark.parametrize("overrides, message", [
    (["model.r3gan_widths=64,32"], "model.r3gan_widths='64,32': image_size 28 has 3 stages (7, 14, 28)"),
    (["model.r3gan_cardinality=5"], "model.r3gan_cardinality='5': at 7x7 the 5 groups must divide"),
    (["model.r3gan_blocks=two"], "model.r3gan_blocks='two': expected positive whole numbers"),
    (["model.image_size=48"], "model.image_size=48: arch r3gan needs 16 or 28 or 32"),
    (["model.d_mbstd=4"], "model.d_mbstd=4: minibatch stddev is built into arch"),
])
def test_layout_mistakes_are_one_line_before_anything_runs(overrides, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config("mnist-r3gan", overrides=overrides)


def test_grouped_conv_matches_torch_to_the_second_derivative():
    """R1/R2's double backward through GroupedConv2d equals nn.Conv2d's (same weights)."""
    torch.manual_seed(0)
    mine = GroupedConv2d(8, 8, 3, padding=1, groups=4, bias=False).double()
    ref = torch.nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False).double()
    ref.weight.data.copy_(mine.weight.data)
    x0 = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    results = []
    for conv in (mine, ref):
        conv.zero_grad()
        x = x0.clone().requires_grad_(True)
        y = conv(x)
        (grad,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
        (grad.pow(2).sum() + y.sum()).backward()
        results.append((y.detach(), grad.detach(), conv.weight.grad.clone()))
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_lowpass_and_grid_weights_are_the_convolutions_they_replace():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
    kernel = (torch.outer(taps, taps) / 64).expand(3, 1, 4, 4)
    assert torch.allclose(lowpass_downsample(x), F.conv2d(x, kernel, stride=2, padding=1, groups=3))
    grid = GridWeights(3, 8).double()
    depthwise = F.conv2d(x, grid.weight.unsqueeze(1), groups=3).flatten(1)
    assert torch.allclose(grid(x), depthwise)


def test_the_new_model_fields_leave_earlier_checkpoints_fingerprints_alone():
    """model.r3gan_* count in the fingerprint only when set (config.MODEL_FIELDS_ADDED_LATER): these are
    the values the presets had before the fields existed, so their checkpoints still resume."""
    before = {"mnist-dcgan": "923bad327d0c4443", "mnist-cgan": "c9b3f5cefa434bac",
              "mnist-mlp": "549346f9ef42e8e1", "mnist-dcgan64": "97597557bcd42688"}
    assert {name: load_config(name).fingerprint() for name in before} == before
    assert load_config("mnist-r3gan").fingerprint() != load_config(
        "mnist-r3gan", overrides=["model.r3gan_blocks=2"]).fingerprint()


def test_grouped_conv_under_bf16_autocast_matches_torch():
    """Autocast runs the forward in bf16 on float32 weights; the backward follows the gradient's dtype
    and hands float32 gradients back, as nn.Conv2d's does (train.mixed_precision=bf16)."""
    torch.manual_seed(0)
    mine = GroupedConv2d(8, 8, 3, padding=1, groups=4, bias=False)
    ref = torch.nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False)
    ref.weight.data.copy_(mine.weight.data)
    x0 = torch.randn(2, 8, 5, 5)
    grads = []
    for conv in (mine, ref):
        x = x0.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        assert y.dtype == torch.bfloat16
        y.float().pow(2).sum().backward()
        grads.append((x.grad, conv.weight.grad))
    for a, b in zip(*grads, strict=True):
        assert a.dtype == b.dtype == torch.float32
        assert torch.allclose(a, b, rtol=2e-2, atol=2e-2)


def test_mnist_r3gan_trains_and_evaluates_through_the_cli(cli_env, tmp_path):
    """The preset end to end, narrowed: its linear output overshoots [-1, 1] and is still scored
    (clamped, as pixels), and RpGAN's logged D(x) reads the pairs (the two shares sum to one)."""
    import json

    from tests.helpers import TINY, assert_ok, run_cli

    run_dir = tmp_path / "r3gan"
    assert_ok(run_cli(["train", "--preset", "mnist-r3gan", "--run-dir", str(run_dir), *TINY,
                       "model.r3gan_widths=16", "model.r3gan_cardinality=2", "train.max_kimg=0.064",
                       "eval.at_end=true", "eval.num=200"], cli_env))
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    (evaluation,) = [row for row in rows if "eval/fid" in row]
    assert evaluation["eval/fid"] > 0 and evaluation["kimg"] == 0.064
    for row in rows:
        if "D_x" in row:
            assert row["D_x"] + row["D_G_z"] == pytest.approx(1.0) and 0 < row["D_x"] < 1
