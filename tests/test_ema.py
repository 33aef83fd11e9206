"""G_ema: half-life in images, ramp-up, buffers copied."""

import pytest
import torch

from ganscale.ema import EMA


def make():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    return model, EMA(model, halflife_kimg=1.0, rampup=0.0)


def test_beta_is_a_half_life_in_images():
    _, ema = make()
    # After 1000 images in steps of 100, the old weights keep half their weight.
    assert ema.beta(10_000, 100) ** 10 == pytest.approx(0.5)


def test_rampup_shortens_the_half_life_early():
    model, _ = make()
    ema = EMA(model, halflife_kimg=10.0, rampup=0.05)
    assert ema.beta(1000, 100) == pytest.approx(0.5 ** (100 / 50))  # half-life 1000 * 0.05 = 50 images
    assert ema.beta(10**7, 100) == pytest.approx(0.5 ** (100 / 10_000))


def test_update_moves_toward_the_model_and_copies_buffers():
    model, ema = make()
    start = [p.clone() for p in ema.model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(3.0)
    beta = ema.beta(10_000, 1000)
    ema.update(model, 10_000, 1000)
    for before, after, target in zip(start, ema.model.parameters(), model.parameters(), strict=True):
        assert torch.allclose(after, beta * before + (1 - beta) * target)
    assert torch.equal(ema.model[1].running_mean, torch.full((2,), 3.0))


def test_zero_half_life_copies():
    model, _ = make()
    ema = EMA(model, halflife_kimg=0.0, rampup=0.0)
    with torch.no_grad():
        model[0].weight.fill_(7.0)
    ema.update(model, 100, 10)
    assert torch.equal(ema.model[0].weight, model[0].weight)
