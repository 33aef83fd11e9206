"""What each loss is: hand-computed values on tiny logits."""

import math

import pytest
import torch

from ganscale.losses import (
    d_loss,
    g_loss,
    gradient_penalty,
    info_loss,
    logits_for_stats,
    mode_seeking_penalty,
    r1_penalty,
    r2_penalty,
)

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(x):
    return math.log1p(math.exp(x))


def mean(values):
    return sum(values) / len(values)


@pytest.mark.parametrize(("kind", "expected"), [
    # -log sigmoid(r) - log(1 - sigmoid(f)) = softplus(-r) + softplus(f)
    ("nonsaturating", mean([softplus(-2.0), softplus(1.0)]) + mean([softplus(0.5), softplus(-3.0)])),
    ("minimax", mean([softplus(-2.0), softplus(1.0)]) + mean([softplus(0.5), softplus(-3.0)])),
    ("lsgan", 0.5 * mean([(2 - 1) ** 2, (-1 - 1) ** 2]) + 0.5 * mean([0.5**2, 9.0])),
    ("hinge", mean([max(0, 1 - 2.0), max(0, 1 + 1.0)]) + mean([max(0, 1 + 0.5), max(0, 1 - 3.0)])),
    ("wgan-gp", mean([0.5, -3.0]) - mean([2.0, -1.0])),
])
def test_d_loss(kind, expected):
    assert d_loss(kind, REAL, FAKE).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("kind", "expected"), [
    ("nonsaturating", mean([softplus(-0.5), softplus(3.0)])),  # -log D(G(z))
    ("minimax", -mean([softplus(0.5), softplus(-3.0)])),  # log(1 - D(G(z)))
    ("lsgan", 0.5 * mean([(0.5 - 1) ** 2, (-3 - 1) ** 2])),
    ("hinge", -mean([0.5, -3.0])),
    ("wgan-gp", -mean([0.5, -3.0])),
])
def test_g_loss(kind, expected):
    assert g_loss(kind, FAKE).item() == pytest.approx(expected, rel=1e-6)


def test_nonsaturating_is_bce_with_logits():
    real, fake = torch.randn(16), torch.randn(16)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(16)) + bce(fake, torch.zeros(16))
    assert d_loss("nonsaturating", real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert g_loss("nonsaturating", fake).item() == pytest.approx(bce(fake, torch.ones(16)).item(), rel=1e-6)


def test_bf16_logits_give_fp32_losses():
    assert d_loss("nonsaturating", REAL.bfloat16(), FAKE.bfloat16()).dtype == torch.float32


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = w . x has input gradient w everywhere: penalty = (||w|| - 1)^2, here (5 - 1)^2 = 16.
    w = torch.tensor([3.0, 4.0])

    def critic(x, labels=None):
        return (x.flatten(1) * w).sum(1)

    real, fake = torch.randn(4, 1, 1, 2), torch.randn(4, 1, 1, 2)
    alpha = torch.rand(4, 1, 1, 1)
    assert gradient_penalty(critic, real, fake, alpha).item() == pytest.approx(16.0)
    # A loss scale applied before differentiating is divided back out.
    assert gradient_penalty(critic, real, fake, alpha, grad_scale=1024.0).item() == pytest.approx(16.0)


def test_gradient_penalty_trains_the_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    real, fake = torch.randn(4, 1, 1, 2), torch.randn(4, 1, 1, 2)
    penalty = gradient_penalty(lambda x, labels=None: (x.flatten(1) * w).sum(1), real, fake,
                               torch.rand(4, 1, 1, 1))
    penalty.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * w / 5
    assert torch.allclose(w.grad, 1.6 * torch.tensor([3.0, 4.0]))


def test_r1_penalty_is_squared_input_gradient_norm():
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    logits = 2.0 * x.flatten(1).sum(1)  # gradient 2 in each of 4 pixels: ||g||^2 = 16
    assert r1_penalty(logits, x).item() == pytest.approx(16.0)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown loss kind"):
        d_loss("nope", REAL, FAKE)


def test_mode_seeking_penalty():
    """1 / mean(|G(z1) - G(z2)| / |z1 - z2|): large when different noise gives the same image."""
    z = torch.tensor([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0], [0.0, 1.0]])
    fake = torch.tensor([[0.0, 4.0], [2.0, 0.0], [1.0, 1.0], [1.0, 1.0]]).view(4, 1, 1, 2)
    # pair (0, 1): image gap 3, noise gap 2 -> 1.5; pair (2, 3): image gap 0, noise gap 0.5 -> 0
    assert math.isclose(mode_seeking_penalty(fake, z).item(), 1 / (0.75 + 1e-5), rel_tol=1e-6)
    collapsed = torch.zeros(4, 1, 1, 2)
    assert mode_seeking_penalty(collapsed, z).item() > 1e4
    g = torch.randn(4, 1, 1, 2, requires_grad=True)
    mode_seeking_penalty(g, z).backward()
    assert g.grad.abs().sum() > 0


def test_info_loss_is_cross_entropy_on_the_codes():
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    expected = math.log(1 + math.exp(-4))
    assert math.isclose(info_loss(logits, torch.tensor([0, 1])).item(), expected, rel_tol=1e-5)
    assert info_loss(logits, torch.tensor([1, 0])).item() > 4


def test_rpgan_pairs_real_and_fake_by_position():
    """D: softplus(-(r_i - f_i)); G: softplus(-(f_i - r_i)), averaged over the pairs i (R3GAN's RpGAN)."""
    assert d_loss("rpgan", REAL, FAKE).item() == pytest.approx(
        mean([softplus(-(2.0 - 0.5)), softplus(-(-1.0 + 3.0))]), rel=1e-6)
    assert g_loss("rpgan", FAKE, REAL).item() == pytest.approx(
        mean([softplus(-(0.5 - 2.0)), softplus(-(-3.0 + 1.0))]), rel=1e-6)
    # Pairing, not a mean over all combinations: swapping the fakes changes the value.
    assert d_loss("rpgan", REAL, FAKE.flip(0)).item() != pytest.approx(d_loss("rpgan", REAL, FAKE).item())
    with pytest.raises(ValueError, match="paired real logits"):
        g_loss("rpgan", FAKE)


def _per_sample_squared_gradient(critic, x):
    """sum_i ||d D(x_i) / d x_i||^2 / N, one autograd call per sample (no batching shortcut)."""
    total = 0.0
    for i in range(len(x)):
        xi = x[i:i + 1].detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(xi).sum(), xi)
        total += grad.pow(2).sum().item()
    return total / len(x)


@pytest.mark.parametrize("which", ["r1", "r2"])
def test_r1_and_r2_match_autograd_on_a_small_d(which):
    """A linear D (input gradient w: penalty ||w||^2, gradient 2w) and a non-linear one (against one
    autograd call per sample)."""
    penalty = r1_penalty if which == "r1" else r2_penalty
    w = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)

    def linear(x):
        return (x.flatten(1) * w.flatten()).sum(1) + 3.0

    x = torch.randn(5, 1, 2, 2, requires_grad=True)
    value = penalty(linear(x), x)
    assert value.item() == pytest.approx(w.detach().pow(2).sum().item(), rel=1e-6)
    value.backward()
    assert torch.allclose(w.grad, 2 * w.detach())

    v = torch.randn(4)

    def nonlinear(x):
        return torch.tanh(x.flatten(1) @ v) + (x.flatten(1) ** 2).sum(1)

    x = torch.randn(6, 1, 2, 2, requires_grad=True)
    expected = _per_sample_squared_gradient(nonlinear, x)
    assert penalty(nonlinear(x), x).item() == pytest.approx(expected, rel=1e-5)


def test_fp16_penalty_is_scaled_before_differentiating_and_unscaled_after():
    """In float16 a gradient of 1e-8 flushes to zero; the loss scale (as the fp16 GradScaler's) keeps it
    representable through the backward and is divided out in float32, so the penalty is right."""
    x = torch.ones(4, 1, 1, 2, dtype=torch.float16, requires_grad=True)
    tiny = torch.tensor(1e-4, dtype=torch.float16)

    def logits():  # d logits / d x = 1e-4 * 1e-4 = 1e-8 per pixel, computed in float16
        return ((x * tiny) * tiny).flatten(1).sum(1)

    assert r1_penalty(logits(), x).item() == 0.0  # underflow without a scale
    expected = 2 * (1e-4 * 1e-4) ** 2  # two pixels
    assert r1_penalty(logits(), x, grad_scale=2.0**14).item() == pytest.approx(expected, rel=2e-3)
    assert r2_penalty(logits(), x, grad_scale=2.0**14).item() == pytest.approx(expected, rel=2e-3)


def test_rpgan_statistics_read_the_paired_differences():
    """A shift of every logit leaves RpGAN unchanged, so must its D(x) / accuracies; other losses
    read the raw logits."""
    from ganscale.stats import StepStats

    real, fake = torch.tensor([-50.0, -49.0, -52.0]), torch.tensor([-51.0, -51.0, -51.0])
    r, f = logits_for_stats("rpgan", real, fake)
    assert torch.equal(r, real - fake) and torch.equal(f, fake - real)
    stats = StepStats(torch.device("cpu"))
    stats.add_d(d_loss("rpgan", real, fake), r, f)
    sums = dict(zip(("loss_D", "D_x", "D_G_z", "acc_real", "acc_fake"), stats.sums[:5].tolist(), strict=True))
    assert sums["D_x"] == pytest.approx(torch.sigmoid(torch.tensor([1.0, 2.0, -1.0])).mean().item())
    assert sums["D_x"] + sums["D_G_z"] == pytest.approx(1.0)
    assert sums["acc_real"] == sums["acc_fake"] == pytest.approx(2 / 3)  # two of three pairs ranked right
    raw = logits_for_stats("nonsaturating", real, fake)
    assert torch.equal(raw[0], real) and torch.equal(raw[1], fake)
