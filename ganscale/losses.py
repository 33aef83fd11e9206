"""GAN losses as pure functions of D's logits (never Sigmoid + BCELoss, which autocast refuses).

Each loss is a pair: what D minimises given real and fake logits, and what G minimises given fake
logits. The optimisation loop lives in the trainer; the maths lives here, as in StyleGAN's loss.py.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganscale.models.contract import split_d_output

LOSS_KINDS = ("nonsaturating", "minimax", "lsgan", "hinge", "wgan-gp", "rpgan")


def logits_for_stats(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor):
    """The logits D(x) / D(G(z)) and the accuracies are read from (stats.py).

    RpGAN scores only differences: a shift of every logit changes nothing, and raw logits drift far
    from 0 (sigmoid reads 0.00 for real and fake alike). Its statistics read the paired differences
    instead, so D(x) is the share of pairs in which D ranks the real image above its fake.
    """
    real, fake = real_logits.detach(), fake_logits.detach()
    return (real - fake, fake - real) if kind == "rpgan" else (real, fake)


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss: real should score high (label 1), fake low (label 0).

    `rpgan` is the relativistic pairing loss of R3GAN (Huang et al. 2024, "The GAN is dead; long live
    the GAN!"): softplus(-(D(x_i) - D(G(z_i)))), real i paired with fake i by position in the batch.
    The trainer draws a step's images and noise by their global position and each rank takes its
    contiguous slice (data/stream.py, noise.py), so pairing by position within a rank's batch is
    pairing by global position: the pairs, and the run, do not depend on the world size.
    """
    real, fake = real_logits.float(), fake_logits.float()
    if kind == "rpgan":
        return F.softplus(fake - real).mean()  # softplus(-(r - f))
    if kind in ("nonsaturating", "minimax"):
        # BCE with logits: -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f).
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown loss kind {kind!r}; allowed: {', '.join(LOSS_KINDS)}")


def g_loss(kind: str, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
    """G's loss on D's logits for generated images; `rpgan` also needs D's logits for the paired reals
    (the same pairing by position as in `d_loss`)."""
    fake = fake_logits.float()
    if kind == "rpgan":
        if real_logits is None:
            raise ValueError("g_loss('rpgan') needs the paired real logits")
        return F.softplus(real_logits.float() - fake).mean()  # softplus(-(f - r))
    if kind == "nonsaturating":
        return F.softplus(-fake).mean()  # -log D(G(z)): strong gradients when D wins
    if kind == "minimax":
        return -F.softplus(fake).mean()  # log(1 - D(G(z))): the original, saturating objective
    if kind == "lsgan":
        return 0.5 * ((fake - 1.0) ** 2).mean()
    if kind in ("hinge", "wgan-gp"):
        return -fake.mean()
    raise ValueError(f"unknown loss kind {kind!r}; allowed: {', '.join(LOSS_KINDS)}")


def info_loss(code_logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of D's Q head on the latent codes G was given (InfoGAN's bound on their mutual
    information with the image): low when each code draws something recognisably its own."""
    return F.cross_entropy(code_logits.float(), codes)


def mode_seeking_penalty(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """1 / (|G(z1) - G(z2)| / |z1 - z2|) over the pairs (0, 1), (2, 3), ... (Mao et al. 2019, MSGAN).

    Conditional G's learn to ignore z (mnist-cgan drew one image per class). Minimising this pushes
    images of different noise apart; the trainer gives each pair the same label.
    """
    image_gap = (fake[0::2].float() - fake[1::2].float()).abs().flatten(1).mean(dim=1)
    noise_gap = (z[0::2] - z[1::2]).abs().mean(dim=1)
    return 1.0 / ((image_gap / noise_gap).mean() + 1e-5)


def _input_gradient(logits: torch.Tensor, inputs: torch.Tensor, grad_scale: float) -> torch.Tensor:
    """d(sum logits)/d(inputs), kept in the graph so the penalty trains D.

    Under fp16 the outputs are multiplied by the loss scale before differentiating (so small
    gradients do not flush to zero) and the result is divided back before any norm is taken.
    """
    (grad,) = torch.autograd.grad(logits.float().sum() * grad_scale, inputs, create_graph=True)
    return grad.float() / grad_scale


def gradient_penalty(discriminator: Callable, real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor, labels=None, grad_scale: float = 1.0) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on real/fake mixes.

    `alpha` is drawn by the caller (one value per sample, shape [B, 1, 1, 1]) so that the penalty
    is reproducible from the trainer's step seed. `discriminator` may return any output the model
    contract allows; the penalty is on its logits alone.
    """
    mixed = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    logits, _ = split_d_output(discriminator(mixed, labels))
    grad = _input_gradient(logits, mixed, grad_scale)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, grad_scale: float = 1.0) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E[||grad_x D(x)||^2] on real images; `real` must require grad."""
    grad = _input_gradient(real_logits, real, grad_scale)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def r2_penalty(fake_logits: torch.Tensor, fake: torch.Tensor, grad_scale: float = 1.0) -> torch.Tensor:
    """R2: the same zero-centred penalty on generated images; `fake` (detached from G) must require grad.

    R3GAN regularises with both: its local-convergence proof for RpGAN is for R1 and R2 together
    (Huang et al. 2024). Same fp16 handling as `r1_penalty` (`grad_scale`).
    """
    return r1_penalty(fake_logits, fake, grad_scale)
